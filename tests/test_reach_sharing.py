"""The reachability model's sharing (egresslint/mesh/reachpairs.py): a row of pairs computed
together gives the pairs each computes alone, clients that no step tells apart share their
steps, and the structured fields the drawing reads (``Source.kind``, ``Step.refused_by``)
say what the role texts say."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from egresslint.lint import engine
from egresslint.mesh.reachability import Pair, Reachability, Step, compute
from egresslint.report.draw.topology import REFUSED, from_pairs

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
REPOS = sorted(
    p for group in ("repos", "examples") for p in (FIXTURES / group).iterdir() if p.is_dir()
)


def _models(path: Path) -> list[Reachability]:
    result = engine.run(engine.Options(paths=[str(path)], base_dir=str(path), cache=False))
    return [compute(g) for g in result.graphs.values()]


def _alone(model: Reachability) -> Reachability:
    """The same model computing every pair on its own (no row, nothing kept)."""
    return type(model)(model.clients, model.destinations, model.evidence, model.make)


def _same(a: Pair, b: Pair) -> bool:
    return (a.key, a.verdict, a.reason, a.path_text(), a.proxy_ref, a.steps) == (
        b.key,
        b.verdict,
        b.reason,
        b.path_text(),
        b.proxy_ref,
        b.steps,
    )


@pytest.mark.parametrize("path", REPOS, ids=lambda p: p.name)
def test_a_row_gives_the_pairs_each_computes_alone(path: Path) -> None:
    for model in _models(path):
        together = list(model.stream())
        alone = list(_alone(model).stream())
        assert len(together) == len(alone)
        differ = [a.key for a, b in zip(together, alone, strict=True) if not _same(a, b)]
        assert not differ


def test_clients_alike_share_their_steps() -> None:
    """Two ambient clients of one namespace: the steps that cannot tell them apart are one
    object (registration, proxy, TLS, network); authorization too where no policy at the
    proxy reads who the client is, and not where one names a client's account."""
    model = _models(FIXTURES / "repos" / "clean-eval-l4-good")[0]
    payments = [c for c in model.clients if c.namespace == "payments"]
    assert len(payments) == 2
    shared_authorization = {}
    for dest in model.destinations:
        first, second = (model.pair(c, dest) for c in payments)
        assert first is not None and second is not None
        assert first.steps[0] is not second.steps[0]
        assert all(first.steps[i] is second.steps[i] for i in (1, 2, 3, 5))
        shared_authorization[dest.label] = first.steps[4] is second.steps[4]
    assert shared_authorization["s3.eu-west-1.amazonaws.com:443"]
    assert not shared_authorization["api.stripe.com:443"]


def test_the_proxy_egress_kind_marks_the_policy_that_cuts_the_waypoint_off() -> None:
    model = _models(FIXTURES / "examples" / "broken")[0]
    sources = [s for p in model.pairs for st in p.steps for s in st.sources]
    cut = {s.ref for s in sources if s.kind == "proxy-egress"}
    assert cut == {"NetworkPolicy istio-egress/deny-direct-egress"}
    assert all((s.kind == "proxy-egress") == (s.role == "cuts the waypoint off") for s in sources)


def test_refused_by_names_the_waypoint_that_refuses_the_binding() -> None:
    model = _models(FIXTURES / "repos" / "broken-shared-waypoint-refused")[0]
    refused = {
        (p.destination.label, st.refused_by.ref)
        for p in model.pairs
        for st in p.steps
        if st.refused_by is not None
    }
    assert refused == {("acme.my.salesforce.com:443", "Gateway platform-egress/egress")}
    for p in model.pairs:
        step = p.step("proxy")
        assert step is not None
        if step.refused_by is not None:
            assert step.outcome == "bypass" and not p.proxy_ref
            assert step.refused_by in step.resources


def _renamed(pair: Pair) -> Pair:
    """The pair with every role text replaced: what the drawing must not depend on."""

    def step(st: Step) -> Step:
        sources = tuple(dataclasses.replace(s, role="renamed") for s in st.sources)
        return dataclasses.replace(st, sources=sources)

    return dataclasses.replace(pair, steps=tuple(step(s) for s in pair.steps))


def _placed(pairs: list[Pair]) -> set[tuple[str, str, str, str, tuple[str, ...]]]:
    topo = from_pairs(pairs)
    return {
        (e.source, e.target, e.verdict, e.segment, tuple(topo.cited[i].ref for i in e.cited))
        for e in topo.edges.values()
    }


@pytest.mark.parametrize(
    "name",
    [
        "examples/broken",
        "repos/broken-shared-waypoint-refused",
        "repos/broken-eval-wp-netpol-copied",
    ],
)
def test_the_drawing_reads_structured_fields_not_role_texts(name: str) -> None:
    model = _models(FIXTURES / name)[0]
    pairs = list(model.pairs)
    placed = _placed(pairs)
    assert placed == _placed([_renamed(p) for p in pairs])
    if name.endswith("refused"):
        assert any(segment == REFUSED for _, _, _, segment, _ in placed)
