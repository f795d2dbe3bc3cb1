"""Unit tests for the NetworkPolicy judgements behind EGL213 (clients' HBONE egress to a
waypoint), EGL214 (ingress isolation implied by a missing policyTypes), EGL215 (kubelet probe
address) and EGL302 (the waypoint's HBONE ingress), and one finding per cause across them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fixtures_support import FIXTURES, read_case, run_case
from hypothesis import given
from hypothesis import strategies as st
from test_one_cause import FOLLOWS, clashes

from egresslint.mesh import hbone, netpol, probes
from egresslint.mesh.graph import MeshGraph
from egresslint.mesh.selectors import selector_matches
from egresslint.model import PosDict, Resource, SourceFile
from egresslint.parse import loader


def _netpol(spec: dict[str, Any], namespace: str = "ns") -> Resource:
    body = PosDict()
    body.update({"spec": spec})
    return Resource(
        "networking.k8s.io/v1", "NetworkPolicy", "np", namespace, body, SourceFile("x"), 0
    )


def _graph(text: str) -> MeshGraph:
    return MeshGraph(loader.parse_text(text, SourceFile("t.yaml")).resources)


# ---- policyTypes defaulting (kubernetes pkg/apis/networking/v1/defaults.go) -----------------
@pytest.mark.parametrize(
    ("spec", "egress", "ingress", "implied"),
    [
        ({"egress": [{}]}, True, True, True),
        ({"egress": []}, False, True, False),  # len(Egress) == 0: ingress only
        ({"egress": None}, False, True, False),
        ({"egress": [{}], "ingress": []}, True, True, False),  # written: a deliberate deny
        ({}, False, True, False),  # the classic default-deny ingress
        ({"policyTypes": ["Egress"], "egress": [{}]}, True, False, False),
        ({"policyTypes": [], "egress": [{}]}, True, True, True),  # empty: defaulted
        ({"policyTypes": ["Ingress"], "egress": [{}]}, False, True, False),
    ],
)
def test_policy_types_default(
    spec: dict[str, Any], egress: bool, ingress: bool, implied: bool
) -> None:
    np_ = _netpol(spec)
    assert netpol.isolates_egress(np_) is egress
    assert netpol.isolates_ingress(np_) is ingress
    assert netpol.implied_ingress(np_) is implied


# ---- three-valued selectors -----------------------------------------------------------------
WAYPOINT = netpol.Labels(
    {"gateway.networking.k8s.io/gateway-name": "wp", "tier": "proxy"},
    frozenset({"gateway.networking.k8s.io/gateway-name", "tier"}),
)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({}, True),
        (None, True),
        ({"matchLabels": {"tier": "proxy"}}, True),
        ({"matchLabels": {"tier": "app"}}, False),
        ({"matchLabels": {"app": "web"}}, None),  # a label whose value is not known
        ({"matchLabels": {"app": "web", "tier": "app"}}, False),  # ruled out by a known key
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, None),
    ],
)
def test_selector_verdict(selector: Any, expected: bool | None) -> None:
    assert netpol.selector_verdict(selector, WAYPOINT) is expected


_keys = st.sampled_from(["a", "b", "c"])
_values = st.sampled_from(["1", "2"])


@given(
    st.dictionaries(_keys, _values),
    st.dictionaries(_keys, _values, max_size=2),
    st.frozensets(_keys),
)
def test_selector_verdict_agrees_with_matching_when_decided(
    labels: dict[str, str], match: dict[str, str], known: frozenset[str]
) -> None:
    """A decided verdict is what full knowledge would give, whatever the unknown keys hold."""
    selector = {"matchLabels": match}
    complete = netpol.selector_verdict(selector, netpol.Labels(labels))
    assert complete is selector_matches(selector, labels)
    partial = netpol.selector_verdict(
        selector, netpol.Labels({k: v for k, v in labels.items() if k in known}, known)
    )
    if partial is not None:
        assert partial is complete


# ---- egress to a pod on TCP 15008 -----------------------------------------------------------
TARGET = netpol.PodTarget(
    "egress",
    netpol.Labels(
        {"kubernetes.io/metadata.name": "egress"}, frozenset({"kubernetes.io/metadata.name"})
    ),
    WAYPOINT,
)
TCP_15008 = [{"protocol": "TCP", "port": 15008}]


@pytest.mark.parametrize(
    ("egress", "expected"),
    [
        ([{}], True),
        ([{"to": [{"namespaceSelector": {}}]}], True),
        ([{"to": [{"namespaceSelector": {}}], "ports": [{"port": 443}]}], False),
        ([{"to": [{"namespaceSelector": {}}], "ports": [{"port": 15000, "endPort": 15010}]}], True),
        (
            [{"to": [{"namespaceSelector": {}}], "ports": [{"port": 15008, "protocol": "UDP"}]}],
            False,
        ),
        ([{"to": [{"namespaceSelector": {}}], "ports": [{"port": "hbone"}]}], None),  # named
        ([{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": TCP_15008}], None),  # pod CIDR
        ([{"to": [{"podSelector": {}}], "ports": TCP_15008}], False),  # its own namespace
        (
            [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "egress"}
                            }
                        }
                    ],
                    "ports": TCP_15008,
                }
            ],
            True,
        ),
        ([{"to": [{"namespaceSelector": {"matchLabels": {"team": "x"}}}]}], None),  # unknown label
        (
            [{"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"tier": "app"}}}]}],
            False,
        ),
        ([{"ports": [{"port": 53, "protocol": "UDP"}]}], False),
        ([], False),  # egress isolation with no rule at all
    ],
)
def test_egress_to_pod(egress: list[Any], expected: bool | None) -> None:
    np_ = _netpol({"policyTypes": ["Egress"], "egress": egress}, namespace="shop")
    assert netpol.egress_to_pod([np_], TARGET, 15008) is expected


def test_egress_to_pod_unions_rules_and_ignores_ingress_only_policies() -> None:
    blocked = _netpol({"policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53}]}]}, "shop")
    opener = _netpol({"policyTypes": ["Egress"], "egress": [{"ports": TCP_15008}]}, "shop")
    ingress = _netpol({"policyTypes": ["Ingress"]}, "shop")
    assert netpol.egress_to_pod([blocked], TARGET, 15008) is False
    assert netpol.egress_to_pod([blocked, opener], TARGET, 15008) is True
    assert netpol.egress_to_pod([ingress], TARGET, 15008) is True


# ---- the kubelet probe address ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"policyTypes": ["Ingress"]}, False),
        ({"policyTypes": ["Ingress"], "ingress": [{"from": [{"namespaceSelector": {}}]}]}, False),
        ({"policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": 8080}]}]}, True),
        ({"ingress": [{"from": [{"ipBlock": {"cidr": "169.254.7.127/32"}}]}]}, True),
        (
            {
                "ingress": [
                    {
                        "from": [
                            {"ipBlock": {"cidr": "169.254.0.0/16", "except": ["169.254.7.0/24"]}}
                        ]
                    }
                ]
            },
            False,
        ),
        ({"ingress": [{"from": [{"ipBlock": {"cidr": "fd16:9254:7127:1337::/64"}}]}]}, True),
        ({"policyTypes": ["Egress"]}, True),  # not isolated for ingress
    ],
)
def test_probe_address_admitted(spec: dict[str, Any], expected: bool) -> None:
    assert netpol.ingress_admits_source([_netpol(spec)], probes.PROBE_ADDRESSES) is expected


def test_probe_address_is_istio_cni_default() -> None:
    assert str(probes.PROBE_SNAT_V4) == "169.254.7.127"
    assert probes.PROBE_SNAT_V4.is_link_local


def test_network_probes_skip_exec() -> None:
    graph = _graph(
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: ns}
spec:
  template:
    spec:
      initContainers:
      - {name: proxy, startupProbe: {tcpSocket: {port: 1}}}
      containers:
      - {name: main, livenessProbe: {exec: {command: [x]}}, readinessProbe: {grpc: {port: 2}}}
      - {name: side}
"""
    )
    (wl,) = graph.workloads()
    assert probes.network_probes(wl) == ["main/readinessProbe", "proxy/startupProbe"]


# ---- the waypoint's pods ---------------------------------------------------------------------
WAYPOINT_YAML = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: egress}
spec:
  gatewayClassName: istio-waypoint
  infrastructure: {labels: {tier: proxy, gateway.networking.k8s.io/gateway-name: spoofed}}
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
"""


def test_waypoint_pod_labels_follow_the_template() -> None:
    graph = _graph(WAYPOINT_YAML)
    gw = graph.get("Gateway", "egress", "wp")
    assert gw is not None
    labels = hbone.waypoint_pod_labels(gw)
    # the template writes the Gateway's name after the infrastructure labels
    assert labels.values == {"tier": "proxy", "gateway.networking.k8s.io/gateway-name": "wp"}
    target = hbone.waypoint_target(graph, gw)
    assert target.namespace_labels.known == frozenset({"kubernetes.io/metadata.name"})


def test_waypoint_namespace_labels_are_complete_when_the_namespace_is_in_view() -> None:
    graph = _graph(
        WAYPOINT_YAML + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: egress}\n"
    )
    gw = graph.get("Gateway", "egress", "wp")
    assert gw is not None
    ns = hbone.waypoint_target(graph, gw).namespace_labels
    assert ns.known is None and ns.values == {"kubernetes.io/metadata.name": "egress"}
    wanted = _netpol(
        {
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "platform"}}}]}],
        }
    )
    assert hbone.client_reaches(graph, [wanted], gw) is False


def test_ingress_blocked_is_shared_with_egl302() -> None:
    deny = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: egress}\nspec: {podSelector: {}}\n"
    graph = _graph(WAYPOINT_YAML + deny)
    gw = graph.get("Gateway", "egress", "wp")
    policy = graph.get("NetworkPolicy", "egress", "deny")
    assert gw is not None and policy is not None
    assert hbone.ingress_blocked(graph, gw) == [policy]
    assert hbone.blocks_waypoint_ingress(graph, policy)
    assert hbone.selects_waypoint(graph, policy) == [gw]


# ---- one cause, one finding: every rule over these rules' fixtures ---------------------------
NETWORK_RULES = ("EGL116", "EGL213", "EGL214", "EGL215", "EGL302")


def _cases() -> list[Path]:
    return sorted(p for rule in NETWORK_RULES for p in (FIXTURES / rule).glob("*"))


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_no_two_rules_report_one_field_in_network_fixtures(path: Path) -> None:
    findings = run_case(read_case(path)).findings
    assert clashes(findings, FOLLOWS) == []


@pytest.mark.parametrize(
    "path",
    [
        FIXTURES / "EGL213" / "bad-two-defects-one-policy.yaml",
        FIXTURES / "EGL214" / "good-waypoint-left-to-egl302.yaml",
        FIXTURES / "EGL215" / "good-left-to-other-rules.yaml",
    ],
    ids=lambda p: p.name,
)
def test_markers_of_the_other_network_rules_hold(path: Path) -> None:
    """Where a fixture marks what a neighbouring rule reports instead, that rule does."""
    case = read_case(path)
    wanted = {e for e in case.expected if e[2] in NETWORK_RULES}
    found = {
        (f.file.path, f.span.line, f.rule_id)
        for f in run_case(case).findings
        if f.rule_id in NETWORK_RULES
    }
    assert found == wanted
