#!/usr/bin/env python3
"""End-to-end benchmark of ``egresslint check`` against the C-parser floor.

Generates corpora with ``../shared/bench/gen_corpus.py`` (beside the repository; ``--gen`` to
point elsewhere) into ``bench/corpora/`` (git-ignored), then for each size measures, in the
same run and as whole processes:

- the floor: PyYAML ``CSafeLoader`` ``compose_all`` over the same files (C parser, nodes with
  line/column marks, nothing else);
- ``egresslint check --quiet --format sarif --output FILE`` cold (``--no-cache``) and with a warm
  parse cache (a private cache folder, filled by a first run);
- peak memory of the cold run (``ru_maxrss`` of the child processes).

The four runs are taken in rounds (floor, cold, first run, cached run), ``--runs`` rounds after
an untimed one; times are medians over the rounds and each ratio the median of the ratios
within a round, so a slow spell of a shared machine does not land on one column only. The
package is byte-compiled first (as an installation is). Prints a markdown table.

    python bench/bench.py                      # 1k, 10k and 100k resources
    python bench/bench.py --sizes 1000,10000 --runs 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_GEN = ROOT.parent / "shared" / "bench" / "gen_corpus.py"

FLOOR = """
import os, sys, yaml
count = 0
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(folder, name), "rb") as handle:
                text = handle.read().decode("utf-8")
            count += sum(1 for _ in yaml.compose_all(text, Loader=yaml.CSafeLoader))
print(count)
"""


def compile_bytecode() -> None:
    """Byte-compile egresslint as an installation would (pip compiles on install, and an
    editable checkout on its first import). Where ``PYTHONDONTWRITEBYTECODE`` is set, every
    run would otherwise compile the whole package again: about 0.2 s that no installed copy
    pays. ``compileall`` writes the files regardless of that setting."""
    import compileall

    for folder in ("egresslint", "rules"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)


def egresslint_cmd() -> list[str]:
    return [sys.executable, "-m", "egresslint"]


def corpus(gen: Path, size: int, out: Path) -> Path:
    target = out / f"corpus-{size}"
    if not (target / ".done").exists():
        if target.exists():
            shutil.rmtree(target)
        subprocess.run(
            [sys.executable, str(gen), str(target), "--resources", str(size)],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        (target / ".done").write_text("")
    return target


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run (exit 0 or 1 expected: findings are not a failure)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(
            f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}"
        )
    return wall


def measure(folder: Path, runs: int, work: Path) -> dict[str, float]:
    """Rounds of (floor, cold, first run on an empty cache, cached run), after one untimed
    round: each round measures all four within seconds of each other, so a slow spell of a
    shared machine weighs on the floor and on egresslint alike. Ratios are the medians of the
    per-round ratios; times the medians of the rounds."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    cache_dir = work / "cache"
    env["XDG_CACHE_HOME"] = str(cache_dir)
    sarif = str(work / "out.sarif")
    args = ["--quiet", "--format", "sarif", "--output", sarif, str(folder)]
    commands = {
        "floor": [sys.executable, "-c", FLOOR, str(folder)],
        "cold": [*egresslint_cmd(), "check", "--no-cache", *args],
        "first": [*egresslint_cmd(), "check", *args],  # the default run, on an empty cache
        "warm": [*egresslint_cmd(), "check", *args],  # the same, the cache now full
    }
    rounds: list[dict[str, float]] = []
    for n in range(runs + 1):  # the first round warms the file cache and is not kept
        times = {}
        for name, cmd in commands.items():
            if name == "first":
                shutil.rmtree(cache_dir, ignore_errors=True)
            times[name] = timed(cmd, env)
        if n:
            rounds.append(times)
    out = {name: statistics.median(r[name] for r in rounds) for name in commands}
    for name in ("cold", "first"):
        out[f"{name}_ratio"] = statistics.median(r[name] / r["floor"] for r in rounds)
    out["warm_ratio"] = statistics.median(r["warm"] / r["first"] for r in rounds)
    out["peak_mib"] = _peak(commands["cold"], env) / 1024  # alone: its own maximum
    return out


def _peak(cmd: list[str], env: dict[str, str]) -> float:
    """Peak RSS (KiB) of one run, measured in a fresh process so the maximum is its own."""
    probe = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd], env=env, capture_output=True, text=True
    )
    return float(out.stdout.strip() or 0)


def table(results: dict[int, dict[str, float]]) -> str:
    rows = [
        "| resources | C-parser floor | egresslint cold (`--no-cache`) | ratio | first run (fills cache) | ratio | cached run | cached / first | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, r in results.items():
        rows.append(
            f"| {size:,} | {r['floor']:.2f} s | {r['cold']:.2f} s | {r['cold_ratio']:.2f} × "
            f"| {r['first']:.2f} s | {r['first_ratio']:.2f} × | {r['warm']:.2f} s "
            f"| {r['warm_ratio']:.2f} | {r['peak_mib']:.0f} MiB |"
        )
    sizes = sorted(results)
    for small, big in zip(sizes, sizes[1:], strict=False):
        factor = big / small
        ratio = results[big]["cold"] / results[small]["cold"]
        rows.append(
            f"\nScaling {big:,} / {small:,} resources ({factor:.0f} × the input): {ratio:.1f} × the time (cold)."
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="comma-separated resource counts"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measurement (median)")
    parser.add_argument("--gen", type=Path, default=DEFAULT_GEN, help="path of gen_corpus.py")
    parser.add_argument(
        "--corpora", type=Path, default=HERE / "corpora", help="where corpora are kept"
    )
    args = parser.parse_args()
    if not args.gen.is_file():
        raise SystemExit(f"corpus generator not found: {args.gen} (use --gen)")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results: dict[int, dict[str, float]] = {}
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="egresslint-bench-") as tmp:
        for size in sizes:
            folder = corpus(args.gen, size, args.corpora)
            print(f"measuring {size:,} resources ...", file=sys.stderr, flush=True)
            results[size] = measure(folder, args.runs, Path(tmp))
    print(
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, median of {args.runs} rounds "
        "after a warm-up round\n"
    )
    print(table(results))


if __name__ == "__main__":
    main()
