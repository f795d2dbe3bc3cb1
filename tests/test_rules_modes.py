"""Mode detection (GatewayClass, --mode override, the run note) and version gates."""

from __future__ import annotations

from pathlib import Path

from egresslint.lint import engine
from egresslint.lint.registry import all_rules
from egresslint.lint.rule import Context
from egresslint.mesh import modes, ztunnel_values
from egresslint.mesh.graph import MeshGraph
from egresslint.model import SourceFile
from egresslint.parse import loader

BOUND_SE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: httpbin
  namespace: apps
  labels: {istio.io/use-waypoint: egress, istio.io/use-waypoint-namespace: istio-system}
spec:
  hosts: [httpbin.org]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: apps}
spec:
  host: httpbin.org
  trafficPolicy: {tls: {mode: SIMPLE}}
"""

GATEWAY = """\
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: egress, namespace: istio-system}
spec:
  gatewayClassName: {cls}
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
"""


def _graph(text: str, mode: str | None = None) -> MeshGraph:
    parsed = loader.parse_text(text, SourceFile("t.yaml"))
    return MeshGraph(parsed.resources, mode, parsed.values)


def _run(tmp_path: Path, text: str, mode: str | None = None, version: str = "1.30"):  # type: ignore[no-untyped-def]
    (tmp_path / "repo.yaml").write_text(text)
    opts = engine.Options(paths=[str(tmp_path)], base_dir=str(tmp_path), mode=mode)
    opts.istio_version = version
    return engine.run(opts)


def test_mode_comes_from_the_gateway_class() -> None:
    graph = _graph(BOUND_SE + GATEWAY.replace("{cls}", "solo-ztunnel-egress"))
    se = graph.of_kind("ServiceEntry")[0]
    assert graph.mode_of(se) == "solo-ztunnel-egress"
    # the class wins over --mode when the Gateway is in the repository
    graph = _graph(BOUND_SE + GATEWAY.replace("{cls}", "istio-waypoint"), "solo-ztunnel-egress")
    assert graph.mode_of(graph.of_kind("ServiceEntry")[0]) == "istio-waypoint"


def test_override_applies_without_gateways_and_rules_follow_it(tmp_path: Path) -> None:
    silent = _run(tmp_path, BOUND_SE)
    assert not [f for f in silent.findings if f.rule_id == "EGL402"]
    assert len([n for n in silent.notifications if "--mode" in n]) == 1
    forced = _run(tmp_path, BOUND_SE, mode="solo-ztunnel-egress")
    assert [f.rule_id for f in forced.findings if f.rule_id == "EGL402"] == ["EGL402"]
    assert not [n for n in forced.notifications if "--mode" in n]


def test_note_only_when_the_mode_matters(tmp_path: Path) -> None:
    unbound = BOUND_SE.replace(
        "labels: {istio.io/use-waypoint: egress, istio.io/use-waypoint-namespace: istio-system}",
        "labels: {}",
    )
    assert not [n for n in _run(tmp_path, unbound).notifications if "--mode" in n]
    with_gateway = BOUND_SE + GATEWAY.replace("{cls}", "istio-waypoint")
    assert not [n for n in _run(tmp_path, with_gateway).notifications if "--mode" in n]


def test_mode_unknown_helper() -> None:
    assert modes.mode_unknown(_graph(BOUND_SE))
    assert not modes.mode_unknown(_graph(BOUND_SE, "istio-waypoint"))


def _rule_ids(graph: MeshGraph, version: tuple[int, int, int], rule_id: str) -> list[str]:
    rule = next(r for r in all_rules() if r.id == rule_id)
    assert rule.check is not None
    return [f.message for f in rule.check(Context(graph, version))]


def test_version_gate_for_istio_waypoint_egress() -> None:
    graph = _graph(BOUND_SE + GATEWAY.replace("{cls}", "istio-waypoint"))
    assert any("1.24.3" in m for m in _rule_ids(graph, (1, 24, 2), "EGL411"))
    assert not any("1.24.3" in m for m in _rule_ids(graph, (1, 24, 3), "EGL411"))
    # use-waypoint-namespace needs 1.23
    assert any("use-waypoint-namespace" in m for m in _rule_ids(graph, (1, 22, 9), "EGL411"))
    assert not any("use-waypoint-namespace" in m for m in _rule_ids(graph, (1, 23, 0), "EGL411"))


def test_version_gate_dynamic_dns_and_solo_classes() -> None:
    text = BOUND_SE.replace("resolution: DNS", "resolution: DYNAMIC_DNS") + GATEWAY.replace(
        "{cls}", "solo-ztunnel-egress"
    )
    graph = _graph(text)
    found = _rule_ids(graph, (1, 27, 0), "EGL411")
    assert any("DYNAMIC_DNS" in m for m in found)
    assert any("solo-ztunnel-egress" in m for m in found)
    assert _rule_ids(graph, (1, 30, 0), "EGL411") == []


def test_ztunnel_values_recognised_by_content() -> None:
    text = "caAddress: istiod:15012\nxdsAddress: istiod:15012\negressPolicies: []\n"
    parsed = loader.parse_text(text, SourceFile("anything.yaml"))
    found = list(ztunnel_values.sections(parsed.values))
    assert len(found) == 1 and found[0].base == ()
    assert ztunnel_values.permissive(found[0].get("egressPolicies")) is not None
    assert ztunnel_values.permissive([{"policy": "deny"}]) is None
    assert ztunnel_values.permissive({"policies": [{"policy": "Passthrough"}]}) is not None
    other = loader.parse_text("meshConfig: {accessLogFile: /dev/stdout}\n", SourceFile("v.yaml"))
    assert list(ztunnel_values.sections(other.values)) == []


def test_odd_shapes_never_raise() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: odd, namespace: x, labels: {istio.io/use-waypoint: w}}
spec: {hosts: 5, ports: {a: 1}, endpoints: "x", resolution: [1], addresses: {}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: odd, namespace: x}
spec: {targetRefs: [1, {kind: 3}], rules: "x", selector: 1}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: odd, namespace: x}
spec: {targetRefs: 1, traffic: {authorization: {policy: {matchExpressions: [1, null]}}}}
"""
    graph = _graph(text, "enterprise-agentgateway-waypoint")
    for rule in all_rules():
        if rule.check is not None and (rule.id[3] in "45" or rule.id == "EGL120"):
            list(rule.check(Context(graph, (1, 20, 0))))
