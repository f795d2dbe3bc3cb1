#!/usr/bin/env python3
"""Seconds per rule (and per pipeline stage) over one or more corpora, in this process.

Finds the rules whose time grows faster than the input or that dominate a run:

    python bench/rule_times.py bench/corpora/corpus-10000 bench/corpora/corpus-100000
    python bench/rule_times.py --top 15 --timeout 60 DIR...

Per corpus it prints the stage times (load, graph, every rule, reporting) and, with two or
more corpora, each rule's growth factor against the growth of the input. A rule that runs
longer than ``--timeout`` seconds is reported as such (it keeps running: Python cannot stop
it, so the script exits after printing what it has).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from egresslint import runtime  # noqa: E402
from egresslint.lint import engine  # noqa: E402
from egresslint.lint.rule import Context  # noqa: E402
from egresslint.mesh.graph import MeshGraph  # noqa: E402


def stage_times(folder: str) -> tuple[int, dict[str, float]]:
    options = engine.Options(paths=[folder], cache=False)
    times: dict[str, float] = {}
    start = time.perf_counter()
    parsed, _ = engine.load(options)
    times["load"] = time.perf_counter() - start
    resources = [r for p in parsed for r in p.resources]
    with runtime.gc_paused():  # as engine.run does
        _graph_and_rules(options, parsed, resources, times)
    return len(resources), times


def _graph_and_rules(
    options: engine.Options, parsed: list, resources: list, times: dict[str, float]
) -> None:
    start = time.perf_counter()
    graph = MeshGraph(resources, None, [v for p in parsed for v in p.values])
    times["graph"] = time.perf_counter() - start
    ctx = Context(graph, engine.parse_version(options.istio_version))
    for rule in engine.enabled_rules(options):
        if rule.check is None:
            continue
        ctx.params = dict(rule.params)
        start = time.perf_counter()
        try:
            for _ in rule.check(ctx):
                pass
        except Exception as exc:  # report, do not stop the measurement
            print(f"  {rule.id} raised {type(exc).__name__}: {exc}", file=sys.stderr)
        times[rule.id] = time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--top", type=int, default=12, help="rules to print per corpus")
    args = ap.parse_args()
    runs = [(folder, *stage_times(folder)) for folder in args.folders]
    for folder, count, times in runs:
        rules = sum(t for k, t in times.items() if k.startswith("EGL"))
        print(
            f"\n{folder}: {count:,} resources; load {times['load']:.2f} s, "
            f"graph {times['graph']:.2f} s, rules {rules:.2f} s"
        )
        ranked = sorted((k for k in times if k.startswith("EGL")), key=lambda k: -times[k])
        for rule_id in ranked[: args.top]:
            print(f"  {rule_id}  {times[rule_id]:7.3f} s")
    for (f1, n1, t1), (f2, n2, t2) in zip(runs, runs[1:], strict=False):
        growth = n2 / max(n1, 1)
        print(f"\ngrowth {Path(f1).name} -> {Path(f2).name} (input × {growth:.1f}):")
        worst = sorted(t2, key=lambda k: -(t2[k] / max(t1.get(k, 0), 1e-4)))
        for k in worst[: args.top]:
            ratio = t2[k] / max(t1.get(k, 0), 1e-4)
            flag = "  <-- faster than linear" if ratio > 1.5 * growth and t2[k] > 0.05 else ""
            print(f"  {k:6}  {t1.get(k, 0):7.3f} s -> {t2[k]:7.3f} s  × {ratio:6.1f}{flag}")


if __name__ == "__main__":
    main()
