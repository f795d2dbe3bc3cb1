"""One defect, one finding: no two rules report the same field of the same resource in the
same view, unless one declares that it follows from the other (``Rule.follows``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from fixtures_support import read_case, repo_cases, run_case

from egresslint.lint.registry import all_rules
from egresslint.model import Finding, PosDict, Resource, SourceFile, Span

FOLLOWS = {r.id: frozenset(r.follows) for r in all_rules()}


def clashes(findings: Iterable[Finding], follows: Mapping[str, frozenset[str]]) -> list[str]:
    at: dict[tuple[object, ...], list[str]] = defaultdict(list)
    for f in findings:
        if f.resource is None:
            continue
        for view in f.views or ("",):
            key = (view, f.file.path, f.span.line, f.resource.source_ref, f.path)
            at[key].append(f.rule_id)
    out = []
    for (view, file, line, ref, _), found in sorted(at.items(), key=str):
        rules = set(found)
        causes = {r for r in rules if not (follows.get(r, frozenset()) & rules)}
        if len(causes) > 1 or len(found) > len(rules):  # two rules, or one rule twice
            out.append(f"{file}:{line} {ref} [{view}]: {', '.join(sorted(found))}")
    return out


@pytest.mark.parametrize("path", repo_cases(), ids=lambda p: p.name)
def test_no_two_rules_report_one_field(path: Path) -> None:
    assert clashes(run_case(read_case(path)).findings, FOLLOWS) == []


def test_a_shared_cause_is_caught_unless_declared() -> None:
    source = SourceFile("x.yaml", "a: 1\n")
    res = Resource("v1", "ServiceEntry", "s", "ns", PosDict(), source, 0)
    path = ("metadata", "labels", "istio.io/use-waypoint")
    two = [Finding(rule, "m", source, Span(1, 1, 1, 2), res, path) for rule in ("EGL1", "EGL2")]
    assert clashes(two, {}) == ["x.yaml:1 ServiceEntry ns/s []: EGL1, EGL2"]
    assert clashes(two, {"EGL2": frozenset({"EGL1"})}) == []
    elsewhere = [two[0], Finding("EGL2", "m", source, Span(1, 1, 1, 2), res, ("spec",))]
    assert clashes(elsewhere, {}) == []
    twice = [two[0], Finding("EGL1", "other", source, Span(1, 1, 1, 2), res, path)]
    assert clashes(twice, {}) == ["x.yaml:1 ServiceEntry ns/s []: EGL1, EGL1"]
