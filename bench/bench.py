#!/usr/bin/env python3
"""End-to-end benchmark of ``egresslint check`` against the C-parser floor.

Generates corpora with ``../shared/bench/gen_corpus.py`` (beside the repository; ``--gen`` to
point elsewhere) into ``bench/corpora/`` (git-ignored), then for each size measures, in the
same run and as whole processes:

- the floor: PyYAML ``CSafeLoader`` ``compose_all`` over the same files (C parser, nodes with
  line/column marks, nothing else);
- ``egresslint check --format sarif --output FILE`` cold (``--no-cache``) and with a warm
  parse cache (a private cache folder, filled by a first run);
- peak memory of the cold run (``ru_maxrss`` of the child processes).

Each timing is the median of ``--runs`` runs after one warm-up. Prints a markdown table.

    python bench/bench.py                      # 1k, 10k and 100k resources
    python bench/bench.py --sizes 1000,10000 --runs 5
"""

from __future__ import annotations

import argparse
import os
import resource
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


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB of this child) for one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(
            f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}"
        )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak if peak > before else 0


def median(
    cmd: list[str], env: dict[str, str], runs: int, before: list[str] | None = None
) -> tuple[float, int]:
    """Median wall time after a warm-up; ``before`` runs (untimed) ahead of every run."""
    if before:
        subprocess.run(before, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    timed(cmd, env)  # warm-up: file cache, imports, compiled bytecode
    walls, peaks = [], []
    for _ in range(runs):
        if before:
            subprocess.run(before, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall, peak = timed(cmd, env)
        walls.append(wall)
        peaks.append(peak)
    return statistics.median(walls), max(peaks)


def measure(folder: Path, runs: int, work: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env["XDG_CACHE_HOME"] = str(work / "cache")
    sarif = str(work / "out.sarif")
    args = ["--format", "sarif", "--output", sarif, str(folder)]
    check = [*egresslint_cmd(), "check", *args]
    cold_cmd = [*egresslint_cmd(), "check", "--no-cache", *args]
    floor, _ = median([sys.executable, "-c", FLOOR, str(folder)], env, runs)
    cold, _ = median(cold_cmd, env, runs)
    peak = _peak(cold_cmd, env)  # alone, so that earlier and bigger children do not mask it
    clear = [sys.executable, "-c", f"import shutil; shutil.rmtree({str(work / 'cache')!r}, True)"]
    first, _ = median(check, env, runs, before=clear)  # the default run on an empty cache
    warm, _ = median(check, env, runs)  # the cache is now full
    return {"floor": floor, "cold": cold, "first": first, "warm": warm, "peak_mib": peak / 1024}


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
            f"| {size:,} | {r['floor']:.2f} s | {r['cold']:.2f} s | {r['cold'] / r['floor']:.2f} × "
            f"| {r['first']:.2f} s | {r['first'] / r['floor']:.2f} × | {r['warm']:.2f} s "
            f"| {r['warm'] / r['first']:.2f} | {r['peak_mib']:.0f} MiB |"
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
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, median of {args.runs} runs after a warm-up\n"
    )
    print(table(results))


if __name__ == "__main__":
    main()
