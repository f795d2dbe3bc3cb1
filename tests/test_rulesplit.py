"""Rules shared between this process and a forked helper: the same findings, in the same
order, as one process finds them; a helper that fails costs time, never findings."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from egresslint import runtime
from egresslint.lint import engine, rulesplit
from egresslint.lint.rule import Context
from egresslint.model import Finding

REPOS = Path(__file__).resolve().parent.parent / "fixtures" / "repos"


def _summary(result: engine.RunResult) -> list[tuple[Any, ...]]:
    return [
        (
            f.rule_id,
            f.file.path,
            f.span,
            f.message,
            f.level,
            f.resource.key if f.resource else None,
            f.path,
            tuple((r.resource.key, r.path, r.message) for r in f.related),
        )
        for f in result.findings
    ]


def _run(monkeypatch: pytest.MonkeyPatch, split: bool) -> engine.RunResult:
    monkeypatch.setattr(rulesplit, "SPLIT_MIN_RESOURCES", 0 if split else 10**9)
    monkeypatch.setattr(runtime, "cpu_count", lambda: 2)
    return engine.run(engine.Options(paths=[str(REPOS)], cache=False))


def test_split_run_finds_what_one_process_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_helper = rulesplit._helper

    def counting_helper(*args: Any) -> None:
        calls.append(os.getpid())
        real_helper(*args)

    monkeypatch.setattr(rulesplit, "_helper", counting_helper)
    alone = _run(monkeypatch, split=False)
    assert not calls
    shared = _run(monkeypatch, split=True)
    assert _summary(shared) == _summary(alone) and len(alone.findings) > 40
    graphs = shared.graphs.values()
    by_id = {id(r) for g in graphs for r in (*g.resources, *(d for _, d in g.duplicates))}
    assert all(f.resource is None or id(f.resource) in by_id for f in shared.findings)
    placed = [f for f in shared.findings if f.resource is not None and f.resource.origin is None]
    assert all(f.file is f.resource.file for f in placed if f.resource is not None)


def test_split_keeps_the_order_of_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ties in the report's sort keep the order rules found them in: it must not depend on
    which process ran which rule."""
    graph = _run(monkeypatch, split=False).graph
    assert graph is not None
    rules = engine.enabled_rules(engine.Options())
    one, _ = engine.run_rules(rules, Context(graph), {})
    monkeypatch.setattr(rulesplit, "SPLIT_MIN_RESOURCES", 0)
    two, _ = rulesplit.run_split(rules, Context(graph), {}, engine.run_rules)
    assert [(f.rule_id, f.message, f.span) for f in two] == [
        (f.rule_id, f.message, f.span) for f in one
    ]


def test_a_helper_that_dies_costs_no_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    alone = _run(monkeypatch, split=False)

    def dying_helper(work: Any, fd: int, *rest: Any) -> None:
        assert len(os.read(fd, 3)) == 3  # takes three rules and dies before reporting them
        os._exit(1)

    monkeypatch.setattr(rulesplit, "_helper", dying_helper)
    assert _summary(_run(monkeypatch, split=True)) == _summary(alone)


def test_rule_errors_in_the_helper_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: Context) -> Iterator[Finding]:
        raise ValueError("boom")
        yield  # pragma: no cover

    rules = [dataclasses.replace(r, check=broken) for r in engine.enabled_rules(engine.Options())]
    monkeypatch.setattr(runtime, "cpu_count", lambda: 2)
    monkeypatch.setattr(rulesplit, "SPLIT_MIN_RESOURCES", 0)
    ctx = Context(engine.MeshGraph([]))
    found, errors = rulesplit.run_split(rules, ctx, {}, engine.run_rules)
    assert not found and len(errors) == len(rules)
    assert errors[0].startswith(f"rule {rules[0].id} ") and "ValueError: boom" in errors[0]


def test_small_runs_do_not_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork(*args: Any) -> Any:
        raise AssertionError("forked for a small run")

    monkeypatch.setattr(rulesplit, "_start", no_fork)
    result = engine.run(engine.Options(paths=[str(REPOS / "clean-m-istio-waypoint")], cache=False))
    assert result.files and not result.internal_errors
