"""Explicit egress gateways (``egresslint/mesh/gateways.py``): which gateways count, which hosts
each carries, which mesh routes reach them, the evidence of egress control they give, and the
per-finding facts of EGL115 that fixtures cannot mark (levels, messages, one finding per
namespace)."""

from __future__ import annotations

import pytest
from fixtures_support import FIXTURES, read_case, run_case

from egresslint.lint.registry import find
from egresslint.lint.rule import Context
from egresslint.mesh import bypass, gateways
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, SourceFile
from egresslint.parse import loader


def _graph(text: str, mode: str | None = None) -> MeshGraph:
    return MeshGraph(loader.parse_text(text, SourceFile("t.yaml")).resources, mode=mode)


def _gateway(cls: str = "istio", name: str = "egress-gw", annotations: str = "") -> str:
    return f"""\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: egress{annotations}}}
spec:
  gatewayClassName: {cls}
  listeners: [{{name: tls, port: 443, protocol: TLS}}]
---
"""


SE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: egress}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
"""


def _route(backend: str, namespace: str = "egress", parent: str = "{name: egress-gw}") -> str:
    return f"""\
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {{name: api, namespace: {namespace}}}
spec:
  parentRefs: [{parent}]
  rules:
  - backendRefs: [{backend}]
---
"""


HOSTNAME = "{kind: Hostname, group: networking.istio.io, name: api.example.com, port: 443}"
HOSTNAME_NO_GROUP = "{kind: Hostname, name: api.example.com, port: 443}"
SE_KIND = "{kind: ServiceEntry, group: networking.istio.io, name: api, port: 443}"

AMBIENT_CLIENT = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: curl, namespace: shop}
spec:
  selector: {matchLabels: {app: curl}}
  template: {metadata: {labels: {app: curl}}, spec: {containers: [{name: c, image: c}]}}
---
"""


def _carried(graph: MeshGraph) -> list[tuple[str, str, str]]:
    return [
        (eg.gateway.name, c.host, c.service_entry.name)
        for eg in gateways.explicit_gateways(graph)
        for c in eg.carried
    ]


# ---- which gateways count, and what they carry ---------------------------------------------
@pytest.mark.parametrize(
    ("cls", "backend", "carried"),
    [
        ("istio", HOSTNAME, True),
        ("istio", HOSTNAME_NO_GROUP, False),  # 1.26+ normalise an omitted group to core
        ("istio", SE_KIND, False),  # "referencing unsupported backendRef"
        ("istio-agentgateway", HOSTNAME_NO_GROUP, True),  # the agentgateway switch reads the kind
        ("kgateway", SE_KIND, True),
        ("kgateway", HOSTNAME, True),
        ("kgateway", HOSTNAME_NO_GROUP, False),  # kgateway checks the group first
        ("some-vendor", HOSTNAME, False),  # unknown: not read
    ],
)
def test_backend_kinds_follow_the_class(cls: str, backend: str, carried: bool) -> None:
    graph = _graph(_gateway(cls) + SE + _route(backend))
    assert bool(_carried(graph)) is carried


def test_a_class_is_known_by_its_controller_too() -> None:
    cls = (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: corp}\n"
        "spec: {controllerName: istio.io/gateway-controller}\n---\n"
    )
    graph = _graph(cls + _gateway("corp") + SE + _route(HOSTNAME))
    assert _carried(graph) == [("egress-gw", "api.example.com", "api")]
    (eg,) = gateways.explicit_gateways(graph)
    assert "egress-gw-corp.egress.svc.cluster.local" in eg.service_hosts


def test_a_waypoint_is_no_explicit_gateway() -> None:
    bound = SE.replace(
        "namespace: egress}", "namespace: egress, labels: {istio.io/use-waypoint: egress-gw}}"
    )
    graph = _graph(_gateway() + bound + _route(HOSTNAME))
    assert gateways.explicit_gateways(graph) == ()


def test_an_internal_service_entry_is_not_carried() -> None:
    internal = SE.replace("resolution: DNS", "resolution: DNS\n  location: MESH_INTERNAL")
    assert _carried(_graph(_gateway() + internal + _route(HOSTNAME))) == []


@pytest.mark.parametrize(
    ("allowed", "carried"),
    [
        ("", False),  # Same: the route lives in shop
        ("allowedRoutes: {namespaces: {from: All}}", True),
        (
            "allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: shop}}}}",
            True,
        ),
        (
            "allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: ops}}}}",
            False,
        ),
    ],
)
def test_listeners_admit_routes_by_namespace(allowed: str, carried: bool) -> None:
    gw = _gateway().replace(
        "protocol: TLS}", f"protocol: TLS, {allowed}}}" if allowed else "protocol: TLS}"
    )
    ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: shop}}\n---\n"
    route = _route(HOSTNAME, "shop", "{name: egress-gw, namespace: egress}")
    assert bool(_carried(_graph(ns + gw + SE + route))) is carried


# ---- egress intent -------------------------------------------------------------------------
def test_an_ingress_gateway_fronting_an_external_backend_is_no_egress_gateway() -> None:
    text = _gateway(name="public").replace("namespace: egress", "namespace: edge")
    text += SE.replace("namespace: egress", "namespace: edge")
    text += _route(HOSTNAME, "edge", "{name: public}")
    assert gateways.explicit_gateways(_graph(text)) == ()


@pytest.mark.parametrize(
    ("annotations", "intent"),
    [
        (", annotations: {networking.istio.io/service-type: ClusterIP}", "cluster-internal"),
        ("", "named for egress"),  # namespace 'egress'
    ],
)
def test_intent_signs(annotations: str, intent: str) -> None:
    text = _gateway(name="gw", annotations=annotations) + SE + _route(HOSTNAME, parent="{name: gw}")
    if annotations:
        text = text.replace("namespace: egress", "namespace: platform")
    (eg,) = gateways.explicit_gateways(_graph(text))
    assert intent in eg.intent


def test_a_mesh_route_to_the_gateway_is_intent() -> None:
    text = _gateway(name="gw").replace("namespace: egress", "namespace: platform")
    text += SE.replace("namespace: egress", "namespace: platform")
    text += _route(HOSTNAME, "platform", "{name: gw}")
    mesh = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: to-gw, namespace: platform}
spec:
  parentRefs: [{group: networking.istio.io, kind: ServiceEntry, name: api}]
  rules: [{backendRefs: [{name: gw-istio, port: 443}]}]
"""
    graph = _graph(text + mesh)
    (eg,) = gateways.explicit_gateways(graph)
    assert eg.intent == "HTTPRoute platform/to-gw sends api.example.com to it"


# ---- classic gateways ----------------------------------------------------------------------
CLASSIC = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egw, namespace: egress}
spec:
  selector: {istio: egressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["edition.cnn.com"]}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cnn, namespace: egress}
spec:
  hosts: [edition.cnn.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
"""


def _vs(namespace: str, gateways_: str, http: str) -> str:
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: cnn, namespace: {namespace}}}
spec:
  hosts: [edition.cnn.com]
  gateways: {gateways_}
  http: {http}
"""


TO_CNN = "[{route: [{destination: {host: edition.cnn.com}}]}]"


@pytest.mark.parametrize(
    ("namespace", "ref", "carried"),
    [
        ("egress", "egw", True),
        ("apps", "egress/egw", True),
        ("egress", "./egw", True),
        ("apps", "egw.egress.svc.cluster.local", True),  # the legacy FQDN form
        ("apps", "egw", False),  # a short name resolves in the VirtualService's namespace
    ],
)
def test_virtual_service_gateway_references(namespace: str, ref: str, carried: bool) -> None:
    graph = _graph(CLASSIC + _vs(namespace, f"[{ref}]", TO_CNN))
    assert bool(_carried(graph)) is carried


def test_a_mesh_only_rule_does_not_carry_and_server_hosts_must_admit() -> None:
    mesh_only = "[{match: [{gateways: [mesh]}], route: [{destination: {host: edition.cnn.com}}]}]"
    assert _carried(_graph(CLASSIC + _vs("egress", "[egw, mesh]", mesh_only))) == []
    other_host = CLASSIC.replace('hosts: ["edition.cnn.com"]', 'hosts: ["api.example.com"]')
    assert _carried(_graph(other_host + _vs("egress", "[egw]", TO_CNN))) == []


def test_resolve_gateway_name() -> None:
    assert gateways.resolve_gateway_name("mesh", "a") == "mesh"
    assert gateways.resolve_gateway_name("gw", "a") == "a/gw"
    assert gateways.resolve_gateway_name("./gw", "a") == "a/gw"
    assert gateways.resolve_gateway_name("b/gw", "a") == "b/gw"
    assert gateways.resolve_gateway_name("gw.b.svc.cluster.local", "a") == "b/gw"


# ---- mesh routes ---------------------------------------------------------------------------
MESH_TO_GATEWAY = (
    "[{match: [{gateways: [mesh]}], route: [{destination: "
    "{host: istio-egressgateway.istio-system.svc.cluster.local}}]},"
    " {match: [{gateways: [egw]}], route: [{destination: {host: edition.cnn.com}}]}]"
)


def test_sidecar_and_waypoint_routes() -> None:
    graph = _graph(CLASSIC + _vs("egress", "[egw, mesh]", MESH_TO_GATEWAY))
    (eg,) = gateways.explicit_gateways(graph)
    (c,) = eg.carried
    assert gateways.sidecar_route(graph, c, "anywhere") is not None
    wp = graph.get("ServiceEntry", "egress", "cnn")
    assert wp is not None
    # a waypoint reads routes of its own namespace and the ServiceEntry's
    waypoint = _graph(
        _gateway("istio-waypoint", "wp").replace("namespace: egress", "namespace: other")
    )
    (w,) = waypoint.of_kind("Gateway")
    assert gateways.waypoint_route(graph, c, w) is not None  # the ServiceEntry's namespace
    moved = _graph(
        CLASSIC
        + _vs("routes", "[egress/egw, mesh]", MESH_TO_GATEWAY.replace("[egw]", "[egress/egw]"))
    )
    (c2,) = gateways.explicit_gateways(moved)[0].carried
    assert gateways.waypoint_route(moved, c2, w) is None
    assert gateways.sidecar_route(moved, c2, "shop") is not None


def test_export_to_limits_sidecar_routes() -> None:
    vs = _vs("egress", "[egw, mesh]", MESH_TO_GATEWAY).replace(
        "spec:\n", "spec:\n  exportTo: [shop]\n"
    )
    graph = _graph(CLASSIC + vs)
    (c,) = gateways.explicit_gateways(graph)[0].carried
    assert gateways.sidecar_route(graph, c, "shop") is not None
    assert gateways.sidecar_route(graph, c, "legacy") is None


def test_a_classic_gateway_service_in_the_view_is_its_only_destination() -> None:
    svc = """\
---
apiVersion: v1
kind: Service
metadata: {name: egw-svc, namespace: istio-system}
spec: {selector: {istio: egressgateway, app: egw}, ports: [{port: 80}]}
"""
    graph = _graph(CLASSIC + _vs("egress", "[egw, mesh]", MESH_TO_GATEWAY) + svc)
    (eg,) = gateways.explicit_gateways(graph)
    assert eg.service_hosts == frozenset({"egw-svc.istio-system.svc.cluster.local"})
    (c,) = eg.carried
    assert gateways.sidecar_route(graph, c, "shop") is None  # routes to another Service


# ---- evidence ------------------------------------------------------------------------------
def test_an_explicit_gateway_is_evidence_where_the_mesh_runs_ambient() -> None:
    text = _gateway() + SE + _route(HOSTNAME)
    assert not bypass.egress_controlled(_graph(text))  # no ambient: out of scope
    graph = _graph(text + AMBIENT_CLIENT)
    evidence = bypass.egress_evidence(graph)
    assert "explicit egress gateway" in evidence.reasons
    assert [g.name for g in evidence.gateways] == ["egress-gw"]
    (se,) = graph.of_kind("ServiceEntry")
    assert gateways.carries_all_hosts(graph, se)
    assert not graph.egress_controlled()  # the older question (EGL106/EGL107) is unchanged


def test_a_wildcard_service_entry_is_carried_only_for_the_named_host() -> None:
    wild = SE.replace("hosts: [api.example.com]", "hosts: [api.example.com, other.example.com]")
    graph = _graph(_gateway() + wild + _route(HOSTNAME) + AMBIENT_CLIENT)
    (se,) = graph.of_kind("ServiceEntry")
    assert gateways.carried_by(graph, se) and not gateways.carries_all_hosts(graph, se)
    star = SE.replace("hosts: [api.example.com]", "hosts: ['*.example.com']")
    graph = _graph(_gateway() + star + _route(HOSTNAME) + AMBIENT_CLIENT)
    (se,) = graph.of_kind("ServiceEntry")
    assert [c.host for c in gateways.carried_by(graph, se)] == ["api.example.com"]
    assert not gateways.carries_all_hosts(graph, se)  # other names under it are not carried


# ---- EGL115: registration and per-finding facts --------------------------------------------
def test_egl115_is_registered() -> None:
    rule = find("EGL115")
    assert rule is not None and rule.check is not None
    assert (rule.tag, rule.level, rule.name) == ("bypass", "warning", "explicit-gateway-bypass")
    assert "Source" in rule.help and "documentation" in rule.help


def _check(text: str) -> list[Finding]:
    rule = find("EGL115")
    assert rule is not None and rule.check is not None
    return list(rule.check(Context(_graph(text))))


def test_one_finding_per_namespace_for_several_hosts_and_gateways() -> None:
    second = (
        _gateway(name="egress-gw2")
        + SE.replace("name: api,", "name: api2,").replace("api.example.com", "api2.example.com")
        + _route(
            HOSTNAME.replace("api.example", "api2.example"), parent="{name: egress-gw2}"
        ).replace("name: api,", "name: api2,")
    )
    found = _check(_gateway() + SE + _route(HOSTNAME) + second + AMBIENT_CLIENT)
    assert len(found) == 1
    message = found[0].message
    assert message.startswith("Namespace shop runs ambient workloads (curl)")
    assert "Gateway egress/egress-gw)" in message and "Gateway egress/egress-gw2)" in message
    assert "without the egress gateways" in message
    assert "is bound to no waypoint" in message and "TCP 443" in message


def test_ambient_clients_are_egl106s_where_it_runs() -> None:
    text = _gateway() + SE + _route(HOSTNAME) + AMBIENT_CLIENT
    assert _check(text)
    rule = find("EGL115")
    assert rule is not None and rule.check is not None
    assert list(rule.check(Context(_graph(text, mode="istio-waypoint")))) == []


def _findings(case: str, *rule_ids: str) -> list[Finding]:
    result = run_case(read_case(FIXTURES / case))
    assert not result.internal_errors
    return [f for f in result.findings if f.rule_id in rule_ids]


def test_levels() -> None:
    assert {f.level for f in _findings("EGL115/bad-no-workloads.yaml", "EGL115")} == {"note"}
    assert {f.level for f in _findings("EGL115/bad-waypoint-no-mesh-route.yaml", "EGL115")} == {
        "note"
    }
    assert {f.level for f in _findings("EGL115/bad-ambient-unbound.yaml", "EGL115")} == {"warning"}


def test_the_published_kgateway_design_gets_one_finding_naming_gateway_and_path() -> None:
    found = _findings("repos/broken-explicit-kgateway", "EGL101", "EGL106", "EGL115")
    assert [f.rule_id for f in found] == ["EGL115"]
    message = found[0].message
    assert "Gateway default/egress-kgateway" in message
    assert "ztunnel sends ollama.example.com straight out" in message
    assert "gateway.networking.k8s.io/gateway-name" in message  # the gateway shares the namespace


def test_the_classic_task_names_the_mesh_route_ambient_pods_ignore() -> None:
    (f,) = _findings("repos/broken-explicit-classic-egressgateway", "EGL115")
    assert "VirtualService default/direct-cnn-through-egress-gateway sends" in f.message
    assert "only for sidecars and waypoints" in f.message


def test_egl101_advice_names_the_explicit_gateway() -> None:
    (f,) = _findings("EGL101/bad-explicit-gateway-evidence.yaml", "EGL101")
    assert "Carry it through egress gateway Gateway egress/egress-gw" in f.message
