"""HBONE through NetworkPolicy: whether ambient clients can open the tunnel to a waypoint
(TCP 15008 on the waypoint's pods) and whether the waypoint's pods accept it.

Both ends are checked by rules: the waypoint's ingress by EGL302, the clients' egress by
EGL213. ztunnel reaches a waypoint at a pod address of the waypoint on port 15008 (istio/istio
``pilot/pkg/serviceregistry/ambient/waypoints.go``: ``HboneMtlsPort: 15008`` for every waypoint
address, ``pilot/pkg/serviceregistry/kube/controller/ambient/waypoints.go`` up to 1.29;
istio/ztunnel ``src/proxy/outbound.rs`` build_request and ``src/state.rs``
``workload_socket_addr``), from a socket it opens inside the client pod's network namespace
(``src/inpod/config.rs`` InPodSocketFactory), so the client pod's egress NetworkPolicy applies
to it; a connection that times out is logged as "maybe a NetworkPolicy is blocking HBONE port
15008" (``src/proxy.rs``, istio/ztunnel#1229). Checked at 1.24.0 and 1.30.3 of both
repositories.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..model import Resource, as_map
from . import netpol
from .graph import GATEWAY_NAME_LABELS, ZTUNNEL_EGRESS, MeshGraph

HBONE_PORT = 15008
NAME_LABEL = "kubernetes.io/metadata.name"  # set on every Namespace by the API server
GATEWAY_NAME = GATEWAY_NAME_LABELS[0]


def waypoint_pod_labels(gw: Resource) -> netpol.Labels:
    """The labels every pod of the waypoint carries, as istiod's waypoint template sets them
    (``manifests/charts/istio-control/istio-discovery/files/waypoint.yaml``, 1.24.0-1.30.3):
    ``spec.infrastructure.labels``, then ``gateway.networking.k8s.io/gateway-name``. Other
    keys are unknown: the class-name label only exists since 1.28, the Deployment adds
    ``pod-template-hash``, other classes use other templates."""
    labels = {str(k): str(v) for k, v in as_map(gw.get("spec", "infrastructure", "labels")).items()}
    labels[GATEWAY_NAME] = gw.name
    return netpol.Labels(labels, frozenset(labels))


def namespace_labels(graph: MeshGraph, name: str) -> netpol.Labels:
    """A namespace's labels: complete when its Namespace object is in the view, else only the
    ``kubernetes.io/metadata.name`` label the API server sets is known."""
    ns = graph.namespace(name)
    if ns is not None:
        return netpol.Labels({**ns.labels, NAME_LABEL: name})
    return netpol.Labels({NAME_LABEL: name}, frozenset({NAME_LABEL}))


def waypoint_target(graph: MeshGraph, gw: Resource) -> netpol.PodTarget:
    return netpol.PodTarget(
        gw.namespace, namespace_labels(graph, gw.namespace), waypoint_pod_labels(gw)
    )


def client_reaches(graph: MeshGraph, policies: Iterable[Resource], gw: Resource) -> netpol.Verdict:
    """Whether pods selected by ``policies`` may open TCP 15008 to the waypoint's pods."""
    return netpol.egress_to_pod(policies, waypoint_target(graph, gw), HBONE_PORT)


def has_waypoint_pods(gw: Resource, graph: MeshGraph) -> bool:
    """Waypoints run proxy pods that take HBONE, except the vendor's ztunnel egress class."""
    return graph.gateway_class(gw) != ZTUNNEL_EGRESS


def ingress_blocked(graph: MeshGraph, gw: Resource) -> list[Resource]:
    """The policies isolating the waypoint's pods for ingress when none of their ingress rules
    admits TCP 15008 (EGL302 reports the first); [] when HBONE gets in (or no pods)."""
    return graph.memo(("hbone.ingress_blocked", gw), lambda: _ingress_blocked(graph, gw))


def _ingress_blocked(graph: MeshGraph, gw: Resource) -> list[Resource]:
    if not has_waypoint_pods(gw, graph):
        return []
    isolating = [
        p
        for p in graph.in_namespace("NetworkPolicy", gw.namespace)
        if graph.waypoint_pods_selected(p, gw) and netpol.isolates_ingress(p)
    ]
    if not isolating or netpol.ingress_allows_port(isolating, HBONE_PORT):
        return []
    return isolating


def blocks_waypoint_ingress(graph: MeshGraph, policy: Resource) -> bool:
    """Whether the policy is one of a waypoint's isolating policies that leave HBONE out (EGL302
    reports the cause at the first of them)."""
    return any(
        policy in ingress_blocked(graph, gw)
        for gw in graph.waypoints()
        if gw.namespace == policy.namespace
    )


def selects_waypoint(graph: MeshGraph, policy: Resource) -> list[Resource]:
    """The waypoints (with proxy pods) whose pods the policy selects (once per policy)."""
    return graph.memo(
        ("hbone.selects_waypoint", policy),
        lambda: [
            gw
            for gw in graph.waypoints()
            if gw.namespace == policy.namespace
            and has_waypoint_pods(gw, graph)
            and graph.waypoint_pods_selected(policy, gw)
        ],
    )
