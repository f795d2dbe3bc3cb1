"""What the catalogue registers for the reworked bypass, unreachable and invalid rules (tags and
levels that say what Istio really does), the evidence of egress control the mesh package answers
once for every rule, and the per-finding facts fixtures cannot mark (levels, advice, counts)."""

from __future__ import annotations

import pytest
from fixtures_support import FIXTURES, read_case, run_case

from egresslint.lint.registry import all_rules, find
from egresslint.lint.rule import Context
from egresslint.mesh import bypass
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, SourceFile
from egresslint.parse import loader

# ---- what the catalogue registers ---------------------------------------------------------


def test_every_rule_registers_valid_metadata() -> None:
    rules = all_rules()
    assert rules and all(not r.problems() for r in rules)
    assert len({r.id for r in rules}) == len(rules)


@pytest.mark.parametrize(
    ("rule_id", "tag", "level"),
    [
        ("EGL101", "bypass", "warning"),
        ("EGL109", "bypass", "note"),
        ("EGL110", "bypass", "warning"),
        ("EGL113", "bypass", "warning"),
        ("EGL204", "invalid", "error"),  # Istio's validation rejects it; nothing is unreachable
        ("EGL207", "invalid", "warning"),  # Istio's validation warns; traffic passes
        ("EGL405", "unsupported-feature", "warning"),
        ("EGL501", "invalid", "error"),
    ],
)
def test_tags_and_levels(rule_id: str, tag: str, level: str) -> None:
    rule = find(rule_id)
    assert rule is not None and rule.check is not None
    assert (rule.tag, rule.level) == (tag, level)
    assert "Source" in rule.help  # every Istio claim cites where it was verified


# ---- evidence of egress control -----------------------------------------------------------


def _graph(text: str, mode: str | None = None) -> MeshGraph:
    return MeshGraph(loader.parse_text(text, SourceFile("t.yaml")).resources, mode=mode)


APP_WAYPOINT = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: shop}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  template: {metadata: {labels: {app: cart}}, spec: {containers: [{name: c, image: c}]}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pypi, namespace: ci}
spec: {hosts: [pypi.org], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS}
"""

LOCKDOWN = """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lockdown, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {}}]}]}
"""

BOUND = """\
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: github, namespace: shop, labels: {istio.io/use-waypoint: wp}}
spec: {hosts: [api.github.com], ports: [{number: 443, name: tls, protocol: TLS}]}
"""

REGISTRY_ONLY = """\
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data: {mesh: "outboundTrafficPolicy: {mode: REGISTRY_ONLY}"}
"""

ZTUNNEL_DENY = """\
ztunnel:
  egressPolicies:
  - {matchCidrs: [0.0.0.0/0], policy: Deny}
"""


def test_an_application_waypoint_is_no_evidence() -> None:
    graph = _graph(APP_WAYPOINT)
    assert not bypass.egress_controlled(graph)
    assert bypass.egress_gateways(graph) == ()


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (LOCKDOWN, "egress lock-down NetworkPolicy"),
        (BOUND, "MESH_EXTERNAL ServiceEntry bound to a waypoint"),
        (REGISTRY_ONLY, "REGISTRY_ONLY mesh config"),
    ],
)
def test_evidence_of_egress_control(extra: str, reason: str) -> None:
    graph = _graph(APP_WAYPOINT + extra)
    assert reason in bypass.egress_evidence(graph).reasons
    gateways = [g.name for g in bypass.egress_gateways(graph)]
    assert gateways == (["wp"] if extra is BOUND else [])


def test_mode_and_ztunnel_egress_policies_are_evidence() -> None:
    assert "--mode" in bypass.egress_evidence(_graph(APP_WAYPOINT, "istio-waypoint")).reasons
    parsed = loader.parse_text(ZTUNNEL_DENY, SourceFile("values.yaml"))
    graph = MeshGraph([], values=parsed.values)
    assert bypass.egress_evidence(graph).reasons == ("ztunnel egressPolicies",)


def test_evidence_is_answered_once_per_run() -> None:
    graph = _graph(APP_WAYPOINT + LOCKDOWN)
    assert bypass.egress_evidence(graph) is bypass.egress_evidence(graph)


def test_registry_only_without_ambient_is_no_evidence() -> None:
    graph = _graph(REGISTRY_ONLY.lstrip("-\n") + LOCKDOWN)
    assert not bypass.egress_controlled(graph)


# ---- capture defaults by version and install values ---------------------------------------


@pytest.mark.parametrize(
    ("version", "values", "on"),
    [
        ((1, 24, 3), "", False),
        ((1, 25, 0), "", True),
        ((1, 24, 3), "pilot:\n  env:\n    PILOT_ENABLE_IP_AUTOALLOCATE: 'true'\n", True),
        ((1, 30, 0), "env: {PILOT_ENABLE_IP_AUTOALLOCATE: 'false'}\n", False),
        ((1, 30, 0), "compatibilityVersion: 1.24\n", False),
        ((1, 30, 0), "env: {PILOT_ENABLE_IP_AUTOALLOCATE: maybe}\n", True),  # not a boolean
    ],
)
def test_autoallocation_follows_version_and_values(
    version: tuple[int, int, int], values: str, on: bool
) -> None:
    docs = loader.parse_text(values or "{}\n", SourceFile("values.yaml")).values
    graph = MeshGraph([], values=docs)
    assert bypass.autoallocation(graph, version).on is on


def test_dynamic_dns_acceptance_follows_the_version() -> None:
    graph = _graph(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a, namespace: b}\n"
        "spec: {hosts: ['*.a.example'], ports: [{number: 443, name: t, protocol: TLS}]}\n"
    )
    (se,) = graph.of_kind("ServiceEntry")
    hosts = graph.se_hosts(se)
    assert not bypass.dynamic_dns_accepted(se, (1, 27, 0), hosts)  # no DYNAMIC_DNS yet
    assert not bypass.dynamic_dns_accepted(se, (1, 28, 0), hosts)  # HTTP only
    assert bypass.dynamic_dns_accepted(se, (1, 29, 0), hosts)  # HTTP and TLS
    assert not bypass.dynamic_dns_accepted(se, (1, 30, 0), ["api.a.example"])


# ---- per-finding facts --------------------------------------------------------------------


def _findings(case: str, *rule_ids: str) -> list[Finding]:
    result = run_case(read_case(FIXTURES / case))
    assert not result.internal_errors
    return [f for f in result.findings if f.rule_id in rule_ids]


def test_egl101_never_proposes_an_application_waypoint() -> None:
    found = _findings("EGL101/bad-lockdown-with-application-waypoint", "EGL101")
    assert len(found) == 2
    for f in found:
        assert "shop-waypoint" not in f.message
        assert "istio.io/use-waypoint: <egress waypoint>" in f.message


def test_wildcard_dns_is_reported_once_per_resource_and_field() -> None:
    """Four wildcard hosts with DNS used to give eight errors (EGL204 and EGL501 per host)."""
    found = _findings("EGL204/bad-all-wildcards.yaml", "EGL204", "EGL501")
    assert [(f.rule_id, f.path[-1]) for f in found] == [("EGL204", "resolution")]
    assert "Set resolution: DYNAMIC_DNS" in found[0].message
    assert not _findings("EGL501/good-dynamic-dns-by-version.yaml", "EGL501")


def test_egl405_never_asks_for_dns_on_a_wildcard() -> None:
    found = _findings("EGL405/bad-wildcard-host.yaml", "EGL405")
    assert len(found) == 2
    for f in found:
        assert "Set resolution: DNS." not in f.message
    assert "Set resolution: DYNAMIC_DNS" in found[0].message
    assert "Replace it with the concrete host names" in found[1].message
    shapes = _findings("EGL405/good-wildcard-shapes.yaml", "EGL204", "EGL405", "EGL501")
    assert [f.rule_id for f in shapes] == ["EGL204"]  # only the rejected DNS wildcard


def test_egl113_is_a_note_where_ambient_namespaces_are_locked_down() -> None:
    locked = _findings("EGL113/bad-locked-down-note", "EGL113")
    assert len(locked) == 2 and {f.level for f in locked} == {"note"}
    mixed = _findings("EGL113/bad-one-namespace-open", "EGL113")
    assert sorted(f.level for f in mixed) == ["note", "warning"]


def test_egl207_level_follows_what_sidecars_do() -> None:
    assert {f.level for f in _findings("EGL207/bad-none-tcp.yaml", "EGL207")} == {"note"}
    assert {f.level for f in _findings("EGL207/bad-opt-out.yaml", "EGL207")} == {"warning"}
    for f in _findings("EGL207/bad-old-istio", "EGL207"):
        assert "unreachable" not in f.message and "0.0.0.0:587" in f.message


def test_mesh_internal_dynamic_dns_is_not_a_wildcard_note() -> None:
    found = _findings("EGL501/bad-mesh-internal-namespace-binding.yaml", "EGL109", "EGL501")
    assert [f.rule_id for f in found] == ["EGL501"]
    assert "no filter chain" in found[0].message


def test_egl110_before_1_25_never_proposes_dns_alone() -> None:
    found = _findings("EGL110/bad-before-1-25", "EGL110")
    assert len(found) == 2
    for f in found:
        assert "PILOT_ENABLE_IP_AUTOALLOCATE" in f.message and "dnsCapture" in f.message


def test_context_default_version_is_the_newest_release() -> None:
    assert Context(MeshGraph([])).istio_version >= (1, 30, 0)
