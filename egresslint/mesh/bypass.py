"""Shared judgements of the bypass rules (EGL1xx): waypoint admission, application namespaces,
NetworkPolicy rules that open the internet, and whether a workload's traffic is captured.

Kept apart from the graph so that the graph stays a plain index; every function here is pure
and linear in what it reads.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import Path, Resource, as_list, as_map, enumerate_maps
from . import netpol
from .graph import (
    AGENTGATEWAY_WAYPOINTS,
    DATAPLANE_MODE,
    GATEWAY_NAME_LABELS,
    ISTIO_WAYPOINT,
    ZTUNNEL_EGRESS,
    MeshGraph,
    Workload,
)
from .selectors import selector_matches

NAME_LABEL = "kubernetes.io/metadata.name"  # set on every Namespace by the API server
INBOUND_BINDING = "ambient.istio.io/waypoint-inbound-binding"
ISTIO_CLASSES = (ISTIO_WAYPOINT, *AGENTGATEWAY_WAYPOINTS)
ISTIO_CONTROLLERS = ("istio.io/mesh-controller", "istio.io/agentgateway-waypoint-controller")
DNS_PORT = 53


# ---- waypoint listeners and cross-namespace admission -------------------------------------
def hbone_listener(gw: Resource) -> int | None:
    """Index of the listener on port 15008 with protocol HBONE, the one Istio reads."""
    for i, listener in enumerate_maps(gw.spec.get("listeners")):
        if listener.get("port") == 15008 and listener.get("protocol") == "HBONE":
            return i
    return None


def istio_managed(graph: MeshGraph, gw: Resource) -> bool:
    """Whether the Gateway's class is one whose waypoint behaviour Istio documents."""
    name = graph.gateway_class(gw)
    if name in ISTIO_CLASSES:
        return True
    cls = graph.get("GatewayClass", "", name)
    return cls is not None and cls.spec.get("controllerName") in ISTIO_CONTROLLERS


def _binding_annotation(graph: MeshGraph, gw: Resource) -> str | None:
    if INBOUND_BINDING in gw.annotations:
        return gw.annotations[INBOUND_BINDING]
    cls = graph.get("GatewayClass", "", graph.gateway_class(gw))
    return cls.annotations.get(INBOUND_BINDING) if cls is not None else None


def _bound_listener(gw: Resource, annotation: str) -> int | None:
    """The listener an inbound-binding annotation (``PROXY`` or ``PROXY/<port>``) selects."""
    parts = annotation.split("/")
    for i, listener in enumerate_maps(gw.spec.get("listeners")):
        if len(parts) == 2 and parts[1].isdigit():
            if listener.get("port") == int(parts[1]):
                return i
        elif parts[0] == "PROXY" and listener.get("protocol") == "istio.io/PROXY":
            return i
    return None


@dataclass(frozen=True)
class Admission:
    """Which namespaces a waypoint admits, as istiod computes it from one listener."""

    from_: str  # All | Same | Selector
    selector: Any  # the LabelSelector for Selector (None: selects nothing)
    listener: int | None  # index of the listener read, None when none applies
    known: bool  # False when the inbound binding names a listener we cannot see

    def path(self) -> Path:
        if self.listener is None:
            return ("spec", "listeners")
        return ("spec", "listeners", self.listener, "allowedRoutes")


def admission(graph: MeshGraph, gw: Resource) -> Admission:
    """``makeAllowedRoutes``: the bound listener, else the HBONE listener, else ``Same``."""
    return graph.memo(("bypass.admission", gw), lambda: _admission(graph, gw))


def _admission(graph: MeshGraph, gw: Resource) -> Admission:
    index: int | None = None
    known = True
    annotation = _binding_annotation(graph, gw)
    if annotation is not None:
        index = _bound_listener(gw, annotation)
        known = index is not None
    if index is None:
        index = hbone_listener(gw)
    if index is None:
        return Admission("Same", None, None, known)
    listener = as_list(gw.spec.get("listeners"))[index]
    namespaces = as_map(as_map(as_map(listener).get("allowedRoutes")).get("namespaces"))
    from_ = namespaces.get("from") or "Same"
    return Admission(str(from_), namespaces.get("selector"), index, known)


def namespace_labels(graph: MeshGraph, name: str) -> dict[str, str]:
    """A namespace's labels as the API server stores them (with ``kubernetes.io/metadata.name``)."""
    return {**graph.namespace_labels(name), NAME_LABEL: name}


def admits(graph: MeshGraph, gw: Resource, namespace: str) -> bool | None:
    """Whether the waypoint admits bindings from ``namespace``; None when it cannot be told."""
    adm = admission(graph, gw)
    if adm.from_ == "All":
        return True
    if adm.from_ == "Selector":
        if adm.selector is None or not isinstance(adm.selector, Mapping):
            return False  # a missing selector selects nothing
        if selector_matches(adm.selector, namespace_labels(graph, namespace)):
            return True
        return False if graph.namespace(namespace) is not None else None
    return gw.namespace == namespace  # Same, and any unknown value ("should be impossible")


# ---- application namespaces ---------------------------------------------------------------
def is_waypoint_pod(wl: Workload) -> bool:
    return any(label in wl.labels for label in GATEWAY_NAME_LABELS)


def app_workloads(graph: MeshGraph, namespace: str) -> list[Workload]:
    return [w for w in graph.workloads(namespace) if not is_waypoint_pod(w)]


def waypoints_in(graph: MeshGraph, namespace: str) -> list[Resource]:
    """The waypoints living in ``namespace``, in ``graph.waypoints()`` order."""
    return graph.memo("bypass.waypoints_by_namespace", lambda: _waypoints_by_ns(graph)).get(
        namespace, []
    )


def _waypoints_by_ns(graph: MeshGraph) -> dict[str, list[Resource]]:
    out: dict[str, list[Resource]] = {}
    for gw in graph.waypoints():
        out.setdefault(gw.namespace, []).append(gw)
    return out


def hosts_waypoint(graph: MeshGraph, namespace: str) -> bool:
    return bool(waypoints_in(graph, namespace))


def is_app_namespace(graph: MeshGraph, namespace: str) -> bool:
    """Runs application pods, or (with no workloads in it) is not a waypoint's home."""
    if app_workloads(graph, namespace):
        return True
    return not graph.workloads(namespace) and not hosts_waypoint(graph, namespace)


def pod_ambient(graph: MeshGraph, wl: Workload) -> bool:
    """istio-cni enablement: pod label ``ambient``, or namespace ``ambient`` and pod not ``none``."""
    if wl.host_network or graph.is_sidecar_namespace(wl.namespace):
        return False
    mode = wl.labels.get(DATAPLANE_MODE)
    if mode == "ambient":
        return True
    return mode != "none" and graph.is_ambient_namespace(wl.namespace)


def not_captured_reason(graph: MeshGraph, wl: Workload) -> tuple[str, Path] | None:
    """Why ztunnel never sees this workload's traffic, with the field that says so."""
    tpl = wl.template_path
    if wl.host_network:
        return "runs with hostNetwork: true", (*tpl, "spec", "hostNetwork")
    if wl.labels.get(DATAPLANE_MODE) == "none":
        return (
            "opts its pods out with istio.io/dataplane-mode: none",
            (*tpl, "metadata", "labels", DATAPLANE_MODE),
        )
    if graph.is_sidecar_namespace(wl.namespace):
        return "runs in a sidecar-injected namespace", (*tpl, "metadata")
    if graph.namespace(wl.namespace) is not None and not pod_ambient(graph, wl):
        return "runs in a namespace not enrolled in ambient", (*tpl, "metadata")
    return None


# ---- NetworkPolicy rules that open the internet -------------------------------------------
def _dns_only(ports: list[Any]) -> bool:
    return bool(ports) and all(as_map(p).get("port") == DNS_PORT for p in ports)


_PUBLIC_V6 = ipaddress.ip_address("2001:4860:4860::8888")


def public_block(block: Mapping[str, Any]) -> bool:
    """An ipBlock that admits public addresses in general (IPv4 via netpol, or IPv6 ``::/0``-like)."""
    if netpol.opens_internet(block):
        return True
    try:
        net = ipaddress.ip_network(str(block.get("cidr")), strict=False)
    except ValueError:
        return False
    return net.version == 6 and net.prefixlen <= 3 and netpol.ipblock_allows(block, _PUBLIC_V6)


def internet_rules(policy: Resource) -> Iterator[Path]:
    """Paths of egress rules (or their ipBlocks) that admit public addresses on non-DNS ports."""
    for r, rule in enumerate_maps(policy.spec.get("egress")):
        if _dns_only(as_list(rule.get("ports"))):
            continue
        peers = rule.get("to")
        if peers is None or as_list(peers) == []:
            yield ("spec", "egress", r)
            continue
        for p, peer in enumerate_maps(peers):
            block = peer.get("ipBlock")
            if isinstance(block, Mapping) and public_block(block):
                yield ("spec", "egress", r, "to", p, "ipBlock", "cidr")


def opens_internet(policy: Resource) -> bool:
    return netpol.isolates_egress(policy) and any(True for _ in internet_rules(policy))


EXTERNAL_PORTS = (443, 80)


def open_external_ports(graph: MeshGraph, namespace: str, labels: Mapping[str, str]) -> list[int]:
    """External TCP ports pods with ``labels`` may reach directly (no lock-down in place)."""
    policies = graph.network_policies_for(namespace, labels)
    return [p for p in EXTERNAL_PORTS if netpol.external_egress(policies, p).allowed]


# ---- bindings that do not take effect -----------------------------------------------------
@dataclass(frozen=True)
class BindingProblem:
    """Why a ServiceEntry's (or Service's) waypoint binding does not take effect.

    ``what`` completes a sentence about the resource ("is bound to no waypoint"); ``owner`` is the
    object carrying the label (None when there is none), ``path`` the label on it, and ``gateway``
    the waypoint that refuses the binding when it is in the repository.
    """

    what: str
    owner: Resource | None
    path: Path
    gateway: Resource | None = None
    cause: str = "refused"  # unbound | opted-out | missing | refused


def _refused(graph: MeshGraph, gw: Resource, home: str) -> str | None:
    """Why a waypoint certainly refuses a binding from ``home`` (admission or traffic type)."""
    if gw.namespace != home and admits(graph, gw, home) is False:
        adm = admission(graph, gw)
        if adm.known and istio_managed(graph, gw):
            return (
                f"is refused by waypoint {gw.ref} (its HBONE listener's allowedRoutes does not "
                f"admit namespace '{home}'; AttachmentDenied)"
            )
    kind = graph.waypoint_for(gw)
    if kind in ("workload", "none"):
        return (
            f"is refused by waypoint {gw.ref} (it takes only '{kind}' traffic per "
            "istio.io/waypoint-for; UnsupportedTrafficType)"
        )
    return None


def binding_problem(graph: MeshGraph, res: Resource) -> BindingProblem | None:
    """Why ``res`` certainly has no effective waypoint, or None when it has one (or it cannot
    be told: the waypoint's namespace is not in the view, or it is declared external)."""
    b = graph.binding(res)
    if b is None:
        return BindingProblem(
            "is bound to no waypoint (no istio.io/use-waypoint label)", None, (), cause="unbound"
        )
    if b.opted_out:
        return BindingProblem(
            "opts out of its waypoint (istio.io/use-waypoint: none)",
            b.owner,
            b.label_path,
            cause="opted-out",
        )
    gw = graph.get("Gateway", b.namespace, b.name)
    if gw is None:
        if graph.gateway_status(b.namespace, b.name) != "missing":
            return None
        return BindingProblem(
            f"names waypoint '{b.name}', but no Gateway of that name exists in namespace "
            f"'{b.namespace}' (WaypointIsNotReady)",
            b.owner,
            b.label_path,
            cause="missing",
        )
    why = _refused(graph, gw, res.namespace)
    if why is None:
        return None
    return BindingProblem(why, b.owner, b.label_path, gw)


def service_waypoints_admitting(graph: MeshGraph, namespace: str) -> list[Resource]:
    """Waypoints a ServiceEntry in ``namespace`` could bind to and be accepted by (answered
    once per namespace: rules ask per ServiceEntry, and each answer reads every waypoint)."""
    return graph.memo(
        ("bypass.service_waypoints_admitting", namespace),
        lambda: _service_waypoints_admitting(graph, namespace),
    )


def service_waypoints(graph: MeshGraph) -> list[Resource]:
    """Waypoints that take service traffic (``istio.io/waypoint-for`` service or all)."""
    return graph.memo(
        "bypass.service_waypoints",
        lambda: [g for g in graph.waypoints() if graph.waypoint_for(g) in ("service", "all")],
    )


@dataclass(frozen=True)
class _AdmissionIndex:
    """Service waypoints by how they admit other namespaces, each with its position in
    ``service_waypoints`` (answers keep that order)."""

    by_home: dict[str, list[tuple[int, Resource]]]
    everyone: list[tuple[int, Resource]]  # from: All
    by_selector: list[tuple[int, Resource]]  # from: Selector, with a selector mapping


def _admission_index(graph: MeshGraph) -> _AdmissionIndex:
    index = _AdmissionIndex({}, [], [])
    for i, gw in enumerate(service_waypoints(graph)):
        index.by_home.setdefault(gw.namespace, []).append((i, gw))
        adm = admission(graph, gw)
        if adm.from_ == "All":
            index.everyone.append((i, gw))
        elif adm.from_ == "Selector" and isinstance(adm.selector, Mapping):
            index.by_selector.append((i, gw))
    return index


def _service_waypoints_admitting(graph: MeshGraph, namespace: str) -> list[Resource]:
    """Those in the namespace, those admitting All, and those whose selector matches it: the
    same as asking ``admits`` of every waypoint, without reading every waypoint per namespace."""
    index = graph.memo("bypass.admission_index", lambda: _admission_index(graph))
    found = dict(index.by_home.get(namespace, []))
    found.update(index.everyone)
    if index.by_selector:
        labels = namespace_labels(graph, namespace)
        for i, gw in index.by_selector:
            if selector_matches(admission(graph, gw).selector, labels):
                found[i] = gw
    return [found[i] for i in sorted(found)]


def egress_proxy_phrase(graph: MeshGraph) -> str:
    """How messages name the egress proxy: ``the ztunnel egress gateway`` when every egress
    Gateway is ``solo-ztunnel-egress`` (no proxy pods: traffic exits from the ztunnel pod's
    network namespace), else the waypoint."""
    return graph.memo("bypass.egress_proxy_phrase", lambda: _egress_proxy_phrase(graph))


def _egress_proxy_phrase(graph: MeshGraph) -> str:
    classes = {graph.gateway_class(gw) for gw in graph.waypoints()}
    if not classes and graph.mode_override:
        classes = {graph.mode_override}
    if classes == {ZTUNNEL_EGRESS}:
        return "the ztunnel egress gateway"
    if ZTUNNEL_EGRESS in classes:
        return "the egress waypoint or ztunnel egress gateway"
    return "the egress waypoint"
