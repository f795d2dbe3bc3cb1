"""Vendor-only facts stay with the vendor: EGL120 (the vendor ztunnel chart's egressPolicies),
EGL404/EGL408/EGL409 (which API each agentgateway class reads), EGL406 and EGL411's 1.24.3 gate
(the vendor's documented requirements, reported as notes)."""

from __future__ import annotations

from fixtures_support import FIXTURES, read_case, run_case

from egresslint.lint.registry import all_rules
from egresslint.lint.rule import Context
from egresslint.mesh import modes, ztunnel_values
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, SourceFile
from egresslint.parse import loader


def _findings(case: str, rule_id: str) -> list[Finding]:
    result = run_case(read_case(FIXTURES / case))
    assert not result.internal_errors
    return [f for f in result.findings if f.rule_id == rule_id]


def _check(text: str, rule_id: str, mode: str | None = None) -> list[Finding]:
    parsed = loader.parse_text(text, SourceFile("t.yaml"))
    graph = MeshGraph(parsed.resources, mode, parsed.values)
    rule = next(r for r in all_rules() if r.id == rule_id)
    assert rule.check is not None
    return list(rule.check(Context(graph, (1, 30, 0))))


# ---- EGL120 and the ztunnel values modes ---------------------------------------------------
def test_egress_policy_modes() -> None:
    catch_all_gateway = [{"matchCidrs": ["0.0.0.0/0"], "policy": "Gateway"}]
    assert ztunnel_values.permissive(catch_all_gateway) is None
    assert ztunnel_values.permissive([{"policy": "gateway"}]) is None
    assert ztunnel_values.permissive([{"policy": "Passthrough"}, *catch_all_gateway]) == (
        "its first catch-all entry is Passthrough"
    )
    only_passthrough = [{"matchCidrs": ["10.0.0.0/8"], "policy": "Passthrough"}]
    assert ztunnel_values.permissive(only_passthrough) == "every entry is Passthrough"
    # a mode it does not understand (or none): say nothing rather than guess
    assert ztunnel_values.permissive([{"matchCidrs": ["0.0.0.0/0"], "policy": "Audit"}]) is None
    assert ztunnel_values.permissive([{"matchCidrs": ["0.0.0.0/0"]}]) is None
    assert ztunnel_values.permissive([]) is not None


UPSTREAM_VALUES = """\
resourceName: ztunnel
caAddress: istiod.istio-system.svc:15012
egressPolicies: []
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: egress}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
"""


def test_egl120_silent_without_the_vendor_egress_mode() -> None:
    # upstream ztunnel ignores egressPolicies: neither a missing nor an empty value is reported
    assert _check(UPSTREAM_VALUES, "EGL120") == []
    assert _findings("EGL120/good-upstream-waypoint", "EGL120") == []
    # the same values with the vendor's ztunnel egress mode
    found = _check(UPSTREAM_VALUES, "EGL120", "solo-ztunnel-egress")
    assert len(found) == 1
    assert "policy: Gateway" in found[0].message and "policy: Deny" in found[0].message


def test_egl120_gateway_mode_is_a_backstop() -> None:
    assert _findings("EGL120/good-gateway-mode", "EGL120") == []
    (found,) = _findings("EGL120/bad-passthrough-before-gateway", "EGL120")
    assert "first catch-all entry is Passthrough" in found.message


# ---- EGL404: the API that applies, per agentgateway class --------------------------------------
def test_egl404_upstream_class_names_gateway_api_resources() -> None:
    found = _findings("EGL404/bad-upstream-agentgateway.yaml", "EGL404")
    assert len(found) == 3
    text = " ".join(f.message for f in found)
    assert "BackendTLSPolicy" in text and "not to ServiceEntries" in text
    assert "HTTPRoute ExternalAuth filter" in text
    for vendor_api in ("EnterpriseAgentgatewayPolicy", "AgentgatewayBackend", "vendor"):
        assert vendor_api not in text
    tls = next(f for f in found if "originates TLS" in f.message)
    assert tls.path[-1] == "tls"


def test_egl404_enterprise_class_names_the_vendor_policy() -> None:
    found = _findings("EGL404/bad-istio-apis.yaml", "EGL404")
    authz = [f for f in found if f.resource and f.resource.kind == "AuthorizationPolicy"]
    assert authz and all("EnterpriseAgentgatewayPolicy" in f.message for f in authz)
    tls = next(f for f in found if "originates TLS" in f.message)
    assert "vendor's documentation" in tls.message and "BackendTLSPolicy" not in tls.message


# ---- EGL408/EGL409: silent where the class never reads the policy kind -----------------------
def test_istiod_agentgateway_classes_never_read_agentgateway_policies() -> None:
    assert not modes.reads_agw_policies("istio-agentgateway-waypoint")
    assert not modes.reads_agw_policies("istio-agentgateway")
    assert modes.reads_agw_policies("enterprise-agentgateway-waypoint")
    assert _findings("EGL408/good-istiod-class.yaml", "EGL408") == []
    assert _findings("EGL409/good-istiod-class.yaml", "EGL409") == []


def test_egl408_speaks_when_some_target_reads_the_policy() -> None:
    (found,) = _findings("EGL408/bad-enterprise-deny.yaml", "EGL408")
    assert found.message.startswith("EnterpriseAgentgatewayPolicy egress/no-writes")
    # a target that is not in the repository: unknown class, so it still speaks
    assert len(_findings("EGL408/bad-deny.yaml", "EGL408")) == 1


# ---- EGL406 and EGL411: the vendor's requirements, as notes ----------------------------------
def test_egl406_is_a_vendor_note_and_reads_the_gateway_class() -> None:
    (found,) = _findings("EGL406/bad-class-default-service", "EGL406")
    assert found.level == "note"
    assert "vendor's documentation" in found.message and "GatewayClass" in found.message
    assert [r.resource.kind for r in found.related] == ["GatewayClass"]
    assert _findings("EGL406/good-class-default-all.yaml", "EGL406") == []
    assert _findings("EGL406/good-upstream-and-workload.yaml", "EGL406") == []


def test_egl411_vendor_minimum_is_a_note() -> None:
    (found,) = _findings("EGL411/bad-vendor-minimum.yaml", "EGL411")
    assert found.level == "note"
    assert "1.24.3" in found.message and "vendor" in found.message
    # the upstream gates keep their level
    gates = _findings("EGL411/bad-istio-1-22.yaml", "EGL411")
    assert {f.level for f in gates if "vendor" not in f.message} == {"warning"}
    assert {f.level for f in gates if "vendor" in f.message} == {"note"}


def test_restricts_counts_only_understood_modes() -> None:
    assert ztunnel_values.restricts([{"matchCidrs": ["0.0.0.0/0"], "policy": "Gateway"}])
    assert ztunnel_values.restricts([{"namespaces": ["x"], "policy": "Audit"}, {"policy": "Deny"}])
    assert not ztunnel_values.restricts([{"policy": "Audit"}, {"policy": "Deny"}])
    assert not ztunnel_values.restricts([{"policy": "Passthrough"}, {"policy": "Deny"}])
    assert not ztunnel_values.restricts([])
