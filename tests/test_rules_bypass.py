"""Unit tests for the judgements behind the bypass rules: waypoint admission and the
NetworkPolicy internet test."""

from __future__ import annotations

import pytest

from egresslint.mesh import bypass
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Resource, SourceFile
from egresslint.parse import loader


def _graph(text: str) -> MeshGraph:
    return MeshGraph(loader.parse_text(text, SourceFile("t.yaml")).resources)


def _gateway(allowed: str) -> str:
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: wp, namespace: egress}}
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - {{name: http, port: 80, protocol: HTTP, allowedRoutes: {{namespaces: {{from: All}}}}}}
  - {{name: mesh, port: 15008, protocol: HBONE{allowed}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: team, labels: {{tier: gold}}}}
"""


@pytest.mark.parametrize(
    ("allowed", "namespace", "expected"),
    [
        ("", "team", False),  # absent: Same
        ("", "egress", True),
        (", allowedRoutes: {namespaces: {from: Same}}", "team", False),
        (", allowedRoutes: {namespaces: {from: All}}", "team", True),
        (", allowedRoutes: {namespaces: {from: Selector, selector: {}}}", "team", True),
        (", allowedRoutes: {namespaces: {from: Selector}}", "team", False),  # selects nothing
        (
            ", allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {tier: gold}}}}",
            "team",
            True,
        ),
        (
            ", allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {tier: iron}}}}",
            "team",
            False,
        ),
        # kubernetes.io/metadata.name is set by the API server, even when not written
        (
            ", allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {kubernetes.io/metadata.name: team}}}}",
            "team",
            True,
        ),
        # namespace not in the repository: a label selector cannot be decided
        (
            ", allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {tier: gold}}}}",
            "other",
            None,
        ),
        (", allowedRoutes: {namespaces: {from: Bogus}}", "team", False),
    ],
)
def test_admission(allowed: str, namespace: str, expected: bool | None) -> None:
    graph = _graph(_gateway(allowed))
    gw = graph.get("Gateway", "egress", "wp")
    assert gw is not None
    assert bypass.admits(graph, gw, namespace) is expected


def test_admission_reads_the_hbone_listener_not_the_first() -> None:
    graph = _graph(_gateway(""))
    gw = graph.get("Gateway", "egress", "wp")
    assert gw is not None
    adm = bypass.admission(graph, gw)
    assert adm.listener == 1 and adm.from_ == "Same"


def test_inbound_binding_annotation_selects_its_listener() -> None:
    graph = _graph(
        """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: wp
  namespace: egress
  annotations: {ambient.istio.io/waypoint-inbound-binding: PROXY/15088}
spec:
  gatewayClassName: kgateway-waypoint
  listeners:
  - {name: mesh, port: 15008, protocol: HBONE}
  - {name: proxy, port: 15088, protocol: istio.io/PROXY, allowedRoutes: {namespaces: {from: All}}}
"""
    )
    gw = graph.get("Gateway", "egress", "wp")
    assert gw is not None
    assert bypass.admission(graph, gw).listener == 1
    assert bypass.admits(graph, gw, "anywhere") is True


def _policy(egress: str) -> Resource:
    text = f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: p, namespace: apps}}
spec:
  podSelector: {{}}
  policyTypes: [Egress]
  egress: {egress}
"""
    return loader.parse_text(text, SourceFile("p.yaml")).resources[0]


@pytest.mark.parametrize(
    ("egress", "paths"),
    [
        (
            "[{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]",
            [("spec", "egress", 0, "to", 0, "ipBlock", "cidr")],
        ),
        (
            "[{to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 192.168.0.0/16]}}]}]",
            [("spec", "egress", 0, "to", 0, "ipBlock", "cidr")],
        ),
        (
            "[{to: [{ipBlock: {cidr: '::/0'}}]}]",
            [("spec", "egress", 0, "to", 0, "ipBlock", "cidr")],
        ),
        ("[{ports: [{port: 443}]}]", [("spec", "egress", 0)]),
        ("[{}]", [("spec", "egress", 0)]),
        ("[{to: []}]", [("spec", "egress", 0)]),
        # DNS anywhere, private and vendor ranges, selectors: not the internet
        ("[{ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]}]", []),
        ("[{to: [{ipBlock: {cidr: 10.0.0.0/8}}, {namespaceSelector: {}}]}]", []),
        ("[{to: [{ipBlock: {cidr: 52.94.0.0/16}}]}]", []),
        ("[{to: [{ipBlock: {cidr: 0.0.0.0/0, except: [0.0.0.0/1, 128.0.0.0/1]}}]}]", []),
        ("[{to: [{ipBlock: {cidr: not-a-cidr}}]}]", []),
        ("not-a-list", []),
    ],
)
def test_internet_rules(egress: str, paths: list[tuple[object, ...]]) -> None:
    assert list(bypass.internet_rules(_policy(egress))) == paths
