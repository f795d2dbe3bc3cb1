"""The reachability model (egresslint/mesh/reachability.py): its verdicts and paths on the
examples, the ``# expect-reach:`` lines of every fixture repository, and its agreement with
the findings of the bypass and unreachable rules, both ways (tests/reach_support.py says
which rules count, why the others do not, and what "corresponds" means)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from fixtures_support import FIXTURES, ROOT, Case, read_case, run_case
from reach_support import (
    ALSO_UNREACHABLE,
    BYPASS_RULES,
    CLIENT_RULES,
    LEFT_OUT,
    UNREACHABLE_RULES,
    Concern,
    concern,
)

from egresslint.lint.engine import RunResult, parse_version
from egresslint.lint.registry import all_rules
from egresslint.mesh.graph import MeshGraph
from egresslint.mesh.reachability import UNREGISTERED, Pair, Reachability, compute
from egresslint.model import Finding

REPOS = sorted(
    [p for p in (FIXTURES / "repos").iterdir() if p.is_dir()]
    + [p for p in (FIXTURES / "examples").iterdir() if p.is_dir()]
)
EXPECT = re.compile(
    r"#\s*expect-reach:\s*(?P<client>.+?)\s+->\s+(?P<dest>.+?)\s+"
    r"(?P<verdict>controlled|denied|bypass|unreachable)(?:\s+in\s+(?P<view>.+?))?\s*$"
)
UNREACHABLE = {**UNREACHABLE_RULES, **ALSO_UNREACHABLE}


@cache
def _run(path: Path) -> tuple[Case, RunResult]:
    case = read_case(path)
    return case, run_case(case)


def _version(case: Case) -> tuple[int, int, int]:
    args = case.argv
    given = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--istio-version"]
    return parse_version(given[0] if given else "1.30")


def _views(path: Path) -> list[tuple[str, MeshGraph, Reachability, list[Finding]]]:
    case, result = _run(path)
    out = []
    for name, graph in result.graphs.items():
        found = [
            f for f in result.findings if f.suppressed is None and (not f.views or name in f.views)
        ]
        out.append((name, graph, compute(graph, _version(case)), found))
    return out


def _example(name: str) -> Reachability:
    return _views(FIXTURES / "examples" / name)[0][2]


def _pair(model: Reachability, client: str, dest: str) -> Pair:
    found = model.get(client, dest)
    assert found is not None, f"no pair {client} -> {dest}: {[p.key for p in model]}"
    return found


# ---- the examples ----------------------------------------------------------------------------
def test_walkthrough_reaches_the_host_through_the_waypoint_with_tls_originated_there() -> None:
    pair = _pair(_example("walkthrough-tls-origination"), "default/sleep", "aliyun.com:80")
    assert pair.verdict == "controlled"
    assert pair.proxy_ref == "Gateway istio-egress/waypoint"
    assert pair.proxy is not None and pair.proxy.kind == "Gateway"
    tls = pair.step("tls")
    assert tls is not None and tls.summary.startswith("originated at the waypoint")
    assert [s.ref for s in tls.sources] == ["DestinationRule istio-egress/aliyun-com"]
    assert tls.sources[0].location.endswith("destinationrule.yaml:13")  # tls.mode
    assert [s.kind for s in pair.steps] == [
        "capture",
        "registration",
        "proxy",
        "tls",
        "authorization",
        "network",
    ]
    assert all(step.sources for step in pair.steps), "every step rests on a file:line"


def test_walkthrough_https_port_is_passthrough() -> None:
    pair = _pair(_example("walkthrough-tls-origination"), "default/sleep", "aliyun.com:443")
    assert pair.verdict == "controlled"
    tls = pair.step("tls")
    assert tls is not None and tls.summary.startswith("passthrough")


def test_locked_down_client_cannot_leave_directly() -> None:
    pair = _pair(
        _example("walkthrough-tls-origination"),
        "default/sleep",
        "any unregistered external address",
    )
    assert pair.verdict == "denied"
    net = pair.step("network")
    assert net is not None and net.outcome == "deny"
    assert [s.ref for s in net.sources] == ["NetworkPolicy default/deny-direct-egress"]


def test_broken_example_paths() -> None:
    model = _example("broken")
    http = _pair(model, "default/sleep", "aliyun.com:80")
    assert http.verdict == "unreachable"
    breaks = {s.kind for s in http.steps if s.outcome == "break"}
    assert breaks == {"tls", "network"}  # EGL201 and EGL301
    https = _pair(model, "default/sleep", "aliyun.com:443")
    assert https.verdict == "unreachable"
    net = https.step("network")
    assert net is not None and net.sources[0].ref == "NetworkPolicy istio-egress/deny-direct-egress"
    pypi = _pair(model, "default/sleep", "packages.example.org:443")
    # EGL101: the host goes around the waypoint; the client's lock-down stops it
    assert pypi.bypasses and pypi.verdict == "denied"
    proxy = pypi.step("proxy")
    assert proxy is not None and proxy.outcome == "bypass"
    assert "bound to no waypoint" in proxy.summary


def test_model_is_computed_once_per_graph() -> None:
    _, graph, model, _ = _views(FIXTURES / "examples" / "broken")[0]
    assert compute(graph) is compute(graph)
    assert compute(graph, (1, 24, 0)) is not compute(graph)


def test_stream_gives_the_pairs_without_keeping_them() -> None:
    model = _views(FIXTURES / "repos" / "clean-eval-l4-good")[0][2]
    fresh = type(model)(model.clients, model.destinations, model.evidence, model.make)
    streamed = list(fresh.stream())
    assert [p.key for p in streamed] == [p.key for p in model.pairs]
    assert [p.verdict for p in streamed] == [p.verdict for p in model.pairs]
    assert fresh.extent() == len(model.clients) * len(model.destinations) == len(streamed)
    assert fresh.extent(from_=["payments"]) == 2 * len(model.destinations)


def test_filters() -> None:
    model = _example("broken")
    assert {p.destination.label for p in model.select(to=["aliyun.com"])} == {
        "aliyun.com:80",
        "aliyun.com:443",
    }
    assert [p.destination.label for p in model.select(to=["aliyun.com:443"])] == ["aliyun.com:443"]
    assert [p.destination.host for p in model.select(to=["unregistered"])] == [UNREGISTERED]
    assert model.select(from_=["default/sleep"]) == list(model.pairs)
    assert model.select(from_=["other"]) == []
    assert {p.verdict for p in model.select(verdicts=["unreachable"])} == {"unreachable"}


def test_uncaptured_and_sidecar_clients() -> None:
    model = _views(FIXTURES / "repos" / "broken-uncaptured-clients")[0][2]
    shipper = _pair(
        model,
        "observability/log-shipper (no capture)",
        "http-intake.logs.datadoghq.eu:443",
    )
    assert shipper.verdict == "bypass"
    capture = shipper.step("capture")
    assert capture is not None and capture.outcome == "bypass" and "hostNetwork" in capture.summary
    legacy = _views(FIXTURES / "repos" / "broken-explicit-gateway-api-istio")[0][2]
    pair = _pair(legacy, "legacy/default (sidecar)", "api.example.com:443")
    assert pair.verdict == "bypass" and "sidecars do not send to waypoints" in pair.reason


def test_authorization_names_the_policy_rule() -> None:
    model = _views(FIXTURES / "repos" / "clean-eval-l4-good")[0][2]
    allowed = _pair(model, "payments/checkout", "api.stripe.com:443")
    authz = allowed.step("authorization")
    assert allowed.verdict == "controlled"
    assert (
        authz is not None
        and "AuthorizationPolicy payments/stripe-api-allow rule 0" in authz.summary
    )
    denied = _pair(model, "analytics/exporter", "api.stripe.com:443")
    assert denied.verdict == "denied" and "default deny" in denied.reason


# ---- the expect-reach lines ------------------------------------------------------------------
def _expected(path: Path) -> list[tuple[str, str, str, str | None, int]]:
    reach = path / "REACH"
    assert reach.is_file(), f"{path.relative_to(ROOT)} has no REACH file of expect-reach lines"
    out = []
    for number, line in enumerate(reach.read_text(encoding="utf-8").splitlines(), 1):
        found = EXPECT.match(line)
        if found:
            view = found.group("view")
            out.append(
                (found.group("client"), found.group("dest"), found.group("verdict"), view, number)
            )
        elif "expect-reach" in line:
            pytest.fail(f"{reach.relative_to(ROOT)}:{number}: cannot read {line!r}")
    return out


def _in_view(name: str, wanted: str | None) -> bool:
    return wanted is None or name == wanted or name.endswith("/" + wanted)


@pytest.mark.parametrize("path", REPOS, ids=lambda p: p.name)
def test_expect_reach_lines(path: Path) -> None:
    views = _views(path)
    expected = _expected(path)
    pairs = [(name, p) for name, _, model, _ in views for p in model]
    if not expected:
        assert not pairs, "REACH lists no pair, but the model has some"
    for client, dest, verdict, view, number in expected:
        found = [p for name, p in pairs if _in_view(name, view) and p.key == (client, dest)]
        assert found, f"REACH:{number}: no pair {client} -> {dest}" + (
            f" in {view}" if view else ""
        )
        for p in found:
            assert p.verdict == verdict, (
                f"REACH:{number}: {client} -> {dest} is {p.verdict}: {p.reason}"
            )


# ---- findings and verdicts agree -------------------------------------------------------------
def _matches(c: Concern, p: Pair) -> bool:
    return p.destination.host in c.hosts and (
        c.namespaces is None or p.client.namespace in c.namespaces
    )


def _counted(
    graph: MeshGraph, findings: list[Finding], rules: dict[str, str]
) -> list[tuple[Finding, Concern]]:
    out = []
    for f in findings:
        if f.rule_id in rules:
            c = concern(graph, f)
            if c is not None:
                out.append((f, c))
    return out


def _judged(pair: Pair, bypasses: list[tuple[Finding, Concern]]) -> bool:
    """Whether rules speak of this pair: clients ztunnel captures; clients outside ztunnel
    capture (sidecars, host network, opted out) only where a rule judges their paths
    (``CLIENT_RULES``: hosts an explicit egress gateway carries, an ambient namespace that is
    sidecar-injected). A pod outside the data plane is no defect by itself: rules report it
    only where a policy or gateway relies on capturing it (EGL108, EGL115) or the namespace
    says it should be captured (EGL121)."""
    if pair.client.capture == "ztunnel":
        return True
    return any(f.rule_id in CLIENT_RULES and _matches(c, pair) for f, c in bypasses)


@pytest.mark.parametrize("path", REPOS, ids=lambda p: p.name)
def test_bypass_findings_and_verdicts_agree(path: Path) -> None:
    for name, graph, model, findings in _views(path):
        bypasses = _counted(graph, findings, BYPASS_RULES)
        for f, c in bypasses:
            assert any(_matches(c, p) and p.bypasses for p in model), (
                f"[{name}] {f.rule_id} at {f.file.path}:{f.span.line} has no pair whose path "
                f"goes around the egress proxy ({c}): {f.message}"
            )
        for p in model.with_verdict("bypass"):
            if _judged(p, bypasses):
                assert any(_matches(c, p) for _, c in bypasses), (
                    f"[{name}] {p.client.label} -> {p.destination.label} is bypass, but no "
                    f"bypass finding says so: {p.reason}"
                )


@pytest.mark.parametrize("path", REPOS, ids=lambda p: p.name)
def test_unreachable_findings_and_verdicts_agree(path: Path) -> None:
    for name, graph, model, findings in _views(path):
        broken = _counted(graph, findings, UNREACHABLE)
        for f, c in broken:
            assert any(_matches(c, p) and p.verdict == "unreachable" for p in model), (
                f"[{name}] {f.rule_id} at {f.file.path}:{f.span.line} has no unreachable pair "
                f"({c}): {f.message}"
            )
        for p in model.with_verdict("unreachable"):
            assert any(_matches(c, p) for _, c in broken), (
                f"[{name}] {p.client.label} -> {p.destination.label} is unreachable, but no "
                f"finding says so: {p.reason}"
            )


@pytest.mark.parametrize("path", REPOS, ids=lambda p: p.name)
def test_default_allow_matches_egl111(path: Path) -> None:
    """EGL111 (a waypoint-bound host with no policy at its waypoint) holds exactly where the
    model's authorization step is an unqualified default allow at the proxy."""
    for name, graph, model, findings in _views(path):
        hosts = {
            h
            for f in findings
            if f.rule_id == "EGL111" and f.resource
            for h in graph.se_hosts(f.resource)
        }
        for p in model:
            authz = p.step("authorization")
            assert authz is not None
            default = authz.summary.startswith("default allow") and "unless" not in authz.summary
            if p.proxy is not None and p.destination.host in hosts:
                assert default, f"[{name}] EGL111 for {p.destination.host}, but {authz.summary}"
            if default:
                assert p.destination.host in hosts, (
                    f"[{name}] {p.key}: {authz.summary} without EGL111"
                )


def test_every_bypass_and_unreachable_rule_is_classified() -> None:
    """A new bypass or unreachable rule must say how it relates to the model."""
    tagged = {r.id for r in all_rules() if r.tag in ("bypass", "unreachable")}
    classified = set(BYPASS_RULES) | set(UNREACHABLE_RULES) | set(LEFT_OUT)
    assert tagged - classified == set(), "add them to tests/reach_support.py with a reason"
    assert not (set(BYPASS_RULES) | set(UNREACHABLE_RULES)) & set(LEFT_OUT)
    known = {r.id for r in all_rules()}
    assert classified | set(ALSO_UNREACHABLE) <= known


def test_the_consistency_checks_can_fail() -> None:
    """The comparison is not vacuous: the broken example's bypass and unreachable findings are
    counted, and a finding about a host no pair has matches nothing."""
    _, graph, model, findings = _views(FIXTURES / "examples" / "broken")[0]
    assert {f.rule_id for f, _ in _counted(graph, findings, BYPASS_RULES)} == {"EGL101"}
    assert {f.rule_id for f, _ in _counted(graph, findings, UNREACHABLE)} == {"EGL201", "EGL301"}
    elsewhere = Concern(frozenset({"nowhere.example"}))
    assert not any(_matches(elsewhere, p) for p in model)
    other_ns = Concern(frozenset({"aliyun.com"}), frozenset({"payments"}))
    assert not any(_matches(other_ns, p) for p in model)
