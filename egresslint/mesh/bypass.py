"""Shared judgements of the bypass rules (EGL1xx): waypoint admission, application namespaces,
NetworkPolicy rules that open the internet, whether a workload's traffic is captured, evidence
that the repository controls egress at all (``egress_evidence``, asked by every rule that needs
it, with the explicit egress gateways of ``gateways.py``), ``REGISTRY_ONLY`` mesh config,
NetworkPolicy lock-down of ambient namespaces, VIPs and ambient DNS capture by Istio version and
install values, and which ServiceEntry shapes Istio's validation accepts with DYNAMIC_DNS (so
that advice never proposes a rejected change).

Kept apart from the graph so that the graph stays a plain index; every function here is pure
and linear in what it reads.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ..model import Path, Resource, ValuesDoc, as_list, as_map, enumerate_maps
from ..parse.loader import load_single
from ..parse.yamlbuild import Unlintable
from . import gateways as explicit
from . import istio, netpol, reach, ztunnel_values
from .graph import (
    AGENTGATEWAY_WAYPOINTS,
    DATAPLANE_MODE,
    GATEWAY_NAME_LABELS,
    ISTIO_WAYPOINT,
    ROOT_NAMESPACE,
    USE_WAYPOINT,
    ZTUNNEL_EGRESS,
    Binding,
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


# ---- mesh config: outboundTrafficPolicy REGISTRY_ONLY -------------------------------------
MESH_MODE: Path = ("outboundTrafficPolicy", "mode")


@dataclass(frozen=True)
class MeshSetting:
    """Where a mesh-wide setting is made: a resource (``istio`` ConfigMap, IstioOperator, Sail
    ``Istio``) or a Helm values document, and the path of the setting in it."""

    owner: Resource | ValuesDoc
    path: Path


def registry_only(mesh: Any) -> bool:
    """Whether a meshConfig (or Sidecar spec) mapping sets ``outboundTrafficPolicy.mode: REGISTRY_ONLY``."""
    mode = as_map(as_map(mesh).get("outboundTrafficPolicy")).get("mode")
    return isinstance(mode, str) and mode.upper() == "REGISTRY_ONLY"


def _mesh_text(cm: Resource) -> Any:
    """The mesh config a ConfigMap carries as text, read with the parse's bounds (the text is
    as untrusted as any manifest: no alias bomb may expand here)."""
    text = cm.get("data", "mesh")
    if not isinstance(text, str):
        return None
    try:
        return load_single(text)[0]
    except (yaml.YAMLError, Unlintable):
        return None


def registry_only_settings(graph: MeshGraph) -> list[MeshSetting]:
    """Mesh config setting ``REGISTRY_ONLY``: the root namespace's ``istio``/``istio-*``
    ConfigMaps (``data.mesh``), IstioOperator ``spec.meshConfig``, Sail ``Istio``
    ``spec.values.meshConfig`` and Helm values ``meshConfig``. Sidecar resources are not mesh
    config (EGL113 reads them itself)."""
    return graph.memo("bypass.registry_only", lambda: list(_registry_only_settings(graph)))


def _registry_only_settings(graph: MeshGraph) -> Iterator[MeshSetting]:
    for cm in graph.in_namespace("ConfigMap", ROOT_NAMESPACE):
        if (cm.name == "istio" or cm.name.startswith("istio-")) and registry_only(_mesh_text(cm)):
            yield MeshSetting(cm, ("data", "mesh"))
    for res in graph.of_kind("IstioOperator", "Istio"):
        base: Path = (
            ("spec", "meshConfig")
            if res.kind == "IstioOperator"
            else ("spec", "values", "meshConfig")
        )
        if registry_only(res.get(*base)):
            yield MeshSetting(res, (*base, *MESH_MODE))
    for doc in graph.values_documents():
        if registry_only(doc.get("meshConfig")):
            yield MeshSetting(doc, ("meshConfig", *MESH_MODE))


# ---- ambient application namespaces locked down by NetworkPolicy ---------------------------
def _locked(graph: MeshGraph, namespace: str) -> bool:
    """No ambient application pod of the namespace can open TCP 443/80 to public addresses (with
    no workloads in the view: a namespace-wide policy blocks it)."""
    pods = [w for w in app_workloads(graph, namespace) if pod_ambient(graph, w)]
    if not pods:
        return not open_external_ports(graph, namespace, {})
    return not any(open_external_ports(graph, namespace, w.labels) for w in pods)


def ambient_app_namespaces(graph: MeshGraph) -> list[str]:
    """Namespaces whose application pods are in ambient: labelled ambient namespaces that are
    not only a waypoint's home, and namespaces of workloads enrolled by their pod label."""
    found = [n.name for n in graph.ambient_namespaces() if is_app_namespace(graph, n.name)]
    found += [
        w.namespace for w in graph.workloads() if not is_waypoint_pod(w) and pod_ambient(graph, w)
    ]
    return list(dict.fromkeys(found))


def namespace_locked_down(graph: MeshGraph, namespace: str) -> bool:
    return graph.memo(("bypass.locked", namespace), lambda: _locked(graph, namespace))


def ambient_locked_down(graph: MeshGraph) -> bool:
    """Every ambient application namespace is locked down by an egress NetworkPolicy (and
    there is at least one): then direct egress is blocked whatever the mesh config says."""

    def compute() -> bool:
        names = ambient_app_namespaces(graph)
        return bool(names) and all(namespace_locked_down(graph, n) for n in names)

    return graph.memo("bypass.ambient_locked_down", compute)


# ---- evidence of egress control -----------------------------------------------------------
@dataclass(frozen=True)
class EgressEvidence:
    """What shows that the repository controls egress, and the gateways egress goes through.

    ``gateways`` are the egress waypoints and egress gateways in the view: Gateways of the
    vendor's ztunnel egress class, waypoints a MESH_EXTERNAL ServiceEntry is bound to (or
    the namespace of one that opts out, when the namespace runs no application workloads), and,
    where the mesh runs ambient, explicit egress gateways (``gateways.explicit_gateways``:
    dedicated Gateway API or classic Istio gateways that carry external hosts).
    ``reasons`` name each kind of evidence found.
    """

    gateways: tuple[Resource, ...]
    reasons: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.reasons)


def egress_evidence(graph: MeshGraph) -> EgressEvidence:
    """Evidence of egress control, answered once per run for every rule that asks.

    An application waypoint (one that only Services or namespaces of workloads use) is not
    evidence: only an egress waypoint or gateway, ``--mode``, a MESH_EXTERNAL ServiceEntry bound
    to a waypoint, the vendor's ztunnel egress (its Gateway class, or ztunnel ``egressPolicies``
    that deny), and, where the mesh runs ambient, an explicit egress gateway, an egress
    lock-down NetworkPolicy, an AuthorizationPolicy on a ServiceEntry or egress gateway, or
    ``REGISTRY_ONLY`` mesh config.
    """
    return graph.memo("bypass.egress_evidence", lambda: _egress_evidence(graph))


def egress_controlled(graph: MeshGraph) -> bool:
    return bool(egress_evidence(graph))


def egress_gateways(graph: MeshGraph) -> tuple[Resource, ...]:
    return egress_evidence(graph).gateways


def _egress_gateway_set(graph: MeshGraph) -> set[Resource]:
    """Gateways of the vendor's ztunnel egress class, and waypoints a MESH_EXTERNAL
    ServiceEntry is bound to (its own label or its namespace's). A namespace label also counts
    where the ServiceEntry opts out, if the namespace runs no application workloads (it exists
    for egress, and binds its external hosts to that waypoint)."""
    found = {gw for gw in graph.of_kind("Gateway") if graph.gateway_class(gw) == ZTUNNEL_EGRESS}
    for se in graph.of_kind("ServiceEntry"):
        if not graph.is_external(se):
            continue
        gw = graph.waypoint_of(se)
        ns = graph.namespace(se.namespace)
        if gw is None and ns is not None and not app_workloads(graph, ns.name):
            gw = graph.waypoint_of(ns)
        if gw is not None:
            found.add(gw)
    return found


def _external_binding(graph: MeshGraph) -> bool:
    """Some MESH_EXTERNAL ServiceEntry names a waypoint (present in the view or not)."""
    for se in graph.of_kind("ServiceEntry"):
        b = graph.binding(se)
        if b is not None and not b.opted_out and graph.is_external(se):
            return True
    return False


def runs_ambient(graph: MeshGraph) -> bool:
    """The view runs ambient: a waypoint, or application pods enrolled in ambient."""
    return graph.memo(
        "bypass.runs_ambient", lambda: bool(graph.waypoints() or ambient_app_namespaces(graph))
    )


def _lockdown_policy(graph: MeshGraph) -> bool:
    return any(
        netpol.isolates_egress(p) and not netpol.external_egress([p], 443).allowed
        for p in graph.of_kind("NetworkPolicy")
    )


def _egress_authz(graph: MeshGraph, gateways: tuple[Resource, ...]) -> bool:
    """An AuthorizationPolicy whose targetRefs name a MESH_EXTERNAL ServiceEntry (or one not in
    the view) or an egress gateway."""
    for ap in graph.of_kind("AuthorizationPolicy"):
        refs = [*as_list(ap.spec.get("targetRefs")), ap.spec.get("targetRef")]
        for ref in refs:
            ref = as_map(ref)
            name = ref.get("name")
            if ref.get("kind") == "ServiceEntry" and isinstance(name, str):
                se = graph.get("ServiceEntry", ap.namespace, name)
                if se is None or graph.is_external(se):
                    return True
        if any(t in gateways for t, _ in graph.policy_targets(ap)):
            return True
    return False


def ztunnel_backstop(graph: MeshGraph) -> bool:
    """Helm values give ztunnel ``egressPolicies`` that deny (the vendor's default-deny)."""
    return _ztunnel_deny(graph)


def _ztunnel_deny(graph: MeshGraph) -> bool:
    for zt in ztunnel_values.sections(graph.values_documents()):
        value = zt.get("egressPolicies")
        if value is not None and ztunnel_values.permissive(value) is None:
            return True
    return False


def _egress_evidence(graph: MeshGraph) -> EgressEvidence:
    found = _egress_gateway_set(graph)
    dedicated = explicit.explicit_gateways(graph) if runs_ambient(graph) else ()
    found.update(eg.gateway for eg in dedicated)
    gateways = tuple(gw for gw in graph.of_kind("Gateway") if gw in found)
    checks: list[tuple[str, Callable[[], bool]]] = [
        ("--mode", lambda: bool(graph.mode_override)),
        ("egress gateway", lambda: bool(gateways)),
        ("MESH_EXTERNAL ServiceEntry bound to a waypoint", lambda: _external_binding(graph)),
        ("ztunnel egressPolicies", lambda: _ztunnel_deny(graph)),
    ]
    if runs_ambient(graph):
        checks += [
            ("explicit egress gateway", lambda: bool(dedicated)),
            ("egress lock-down NetworkPolicy", lambda: _lockdown_policy(graph)),
            ("egress AuthorizationPolicy", lambda: _egress_authz(graph, gateways)),
            ("REGISTRY_ONLY mesh config", lambda: bool(registry_only_settings(graph))),
        ]
    return EgressEvidence(gateways, tuple(name for name, found in checks if found()))


# ---- VIPs and ambient DNS capture: by Istio version, unless the install values say -------
AUTOALLOCATE_ENV = "PILOT_ENABLE_IP_AUTOALLOCATE"
DNS_CAPTURE = "dnsCapture"  # istio-cni chart value ambient.dnsCapture (umbrella: cni.ambient.)
DNS_CAPTURE_ANNOTATION = "ambient.istio.io/dns-capture"  # read by istio-cni since 1.25
CAPTURE_DEFAULTS_SINCE = (1, 25, 0)
INSTALL_KINDS = ("IstioOperator", "Istio", "IstioCNI")  # their spec.values hold chart values
Version = tuple[int, int, int]


def parse_bool(value: Any) -> bool | None:
    """Go's ``strconv.ParseBool`` (how istio-cni reads the annotation); None when not a boolean."""
    if isinstance(value, bool):
        return value
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


@dataclass(frozen=True)
class Switch:
    """Whether a capture feature is on, why (completing "... because ..."), and where the view
    sets it explicitly (None when the version's default applies)."""

    on: bool
    why: str
    setting: MeshSetting | None = None


def _install_roots(graph: MeshGraph) -> Iterator[tuple[Resource | ValuesDoc, Path, Any]]:
    for doc in graph.values_documents():
        yield doc, (), doc.body
    for res in graph.of_kind(*INSTALL_KINDS):
        yield res, ("spec", "values"), res.get("spec", "values")


def _find(node: Any, parent: str, key: str, path: Path, depth: int) -> Iterator[tuple[Path, Any]]:
    """Values of ``key`` in a mapping reached through a key named ``parent`` (bounded depth)."""
    if not isinstance(node, Mapping) or depth < 0:
        return
    for k, v in node.items():
        if k == key and path and path[-1] == parent:
            yield (*path, k), v
        elif isinstance(v, Mapping):
            yield from _find(v, parent, key, (*path, k), depth - 1)


def _explicit(graph: MeshGraph, parent: str, key: str) -> tuple[bool, MeshSetting] | None:
    """The first install value ``<parent>.<key>`` in the view, parsed as a boolean."""
    for owner, base, root in _install_roots(graph):
        for path, value in _find(root, parent, key, (), 4):
            parsed = parse_bool(value)
            if parsed is not None:
                return parsed, MeshSetting(owner, (*base, *path))
    return None


def _compatibility_124(graph: MeshGraph) -> MeshSetting | None:
    """``compatibilityVersion: 1.24`` (or older): the charts' profile turns both features off."""
    for owner, base, root in _install_roots(graph):
        value = as_map(root).get("compatibilityVersion")
        try:
            old = value is not None and tuple(map(int, str(value).split(".")[:2])) <= (1, 24)
        except ValueError:
            old = False
        if old:
            return MeshSetting(owner, (*base, "compatibilityVersion"))
    return None


def _switch(graph: MeshGraph, version: Version, parent: str, key: str, what: str) -> Switch:
    found = _explicit(graph, parent, key)
    if found is not None:
        on, setting = found
        state = "on" if on else "off"
        return Switch(on, f"{setting.owner.ref} turns {what} {state} ({key})", setting)
    old = _compatibility_124(graph)
    if version >= CAPTURE_DEFAULTS_SINCE and old is not None:
        return Switch(
            False, f"{old.owner.ref} selects compatibilityVersion 1.24, which turns {what} off", old
        )
    if version >= CAPTURE_DEFAULTS_SINCE:
        return Switch(True, f"{what} is on by default since Istio 1.25")
    return Switch(False, f"{what} is off by default before Istio 1.25")


def autoallocation(graph: MeshGraph, version: Version) -> Switch:
    """istiod's ServiceEntry IP auto-allocation (``PILOT_ENABLE_IP_AUTOALLOCATE``)."""
    return graph.memo(
        ("bypass.autoallocation", version),
        lambda: _switch(graph, version, "env", AUTOALLOCATE_ENV, "IP auto-allocation"),
    )


def dns_capture(graph: MeshGraph, version: Version) -> Switch:
    """istio-cni's ambient DNS capture (``ambient.dnsCapture``), mesh-wide."""
    return graph.memo(
        ("bypass.dns_capture", version),
        lambda: _switch(graph, version, "ambient", DNS_CAPTURE, "ambient DNS capture"),
    )


def capture_off(graph: MeshGraph, version: Version) -> list[Switch]:
    """Which of auto-allocation and ambient DNS capture are off: with either off, a client
    resolves the destination's real IP, not a VIP ztunnel knows, and ztunnel passes it through."""
    switches = (autoallocation(graph, version), dns_capture(graph, version))
    return [s for s in switches if not s.on]


def relies_on_vip(graph: MeshGraph, se: Resource) -> Binding | None:
    """The binding of a ServiceEntry that a waypoint can capture only through an auto-allocated
    VIP: bound (outside sidecar namespaces), no ``addresses``, and allocation not refused for
    it (NONE, wildcard, opt-out label: ``reach.no_vip``)."""
    b = graph.binding(se)
    if b is None or b.opted_out or graph.is_sidecar_namespace(se.namespace):
        return None
    if as_list(se.spec.get("addresses")) or reach.no_vip(se) is not None:
        return None
    return b


def uncaptured(graph: MeshGraph, se: Resource, version: Version) -> bool:
    """Whether a waypoint-bound ServiceEntry cannot be captured by ztunnel: no VIP for it
    (``reach.bound_without_vip``), or one that needs auto-allocation and DNS capture while
    either is off (by version or by install values in the view). EGL110 reports these; EGL207
    leaves them to it."""
    if reach.bound_without_vip(graph, se) is not None:
        return True
    return relies_on_vip(graph, se) is not None and bool(capture_off(graph, version))


# ---- DYNAMIC_DNS: what Istio's validation accepts (advice must not propose a rejected change)
DYNAMIC_DNS_SINCE = (1, 28, 0)


def dynamic_dns_protocols(version: Version) -> frozenset[str]:
    """Port protocols ``ValidateServiceEntry`` accepts with DYNAMIC_DNS: HTTP at 1.28, HTTP and
    TLS at 1.29, HTTP, TLS, GRPC and HTTP2 from 1.30 (``pkg/config/validation/validation.go``)."""
    if version >= (1, 30, 0):
        return frozenset({"HTTP", "TLS", "GRPC", "HTTP2"})
    if version >= (1, 29, 0):
        return frozenset({"HTTP", "TLS"})
    return frozenset({"HTTP"})


def own_waypoint_label(se: Resource) -> bool:
    """Istio's ``usesWaypoint`` (validation): the ServiceEntry's own label, not ``none``."""
    value = se.labels.get(USE_WAYPOINT, "")
    return bool(value) and value.lower() != "none"


def dynamic_dns_location_problem(se: Resource, version: Version) -> str | None:
    """Why validation rejects the ServiceEntry's location with DYNAMIC_DNS: before 1.30 only
    MESH_EXTERNAL; from 1.30 MESH_INTERNAL too, unless it carries its own use-waypoint label."""
    if MeshGraph.is_external(se):
        return None
    if version < (1, 30, 0):
        return "resolution DYNAMIC_DNS needs location MESH_EXTERNAL before Istio 1.30"
    if own_waypoint_label(se):
        return "MESH_INTERNAL DYNAMIC_DNS ServiceEntries cannot be bound to a waypoint"
    return None


def dynamic_dns_accepted(se: Resource, version: Version, hosts: list[str]) -> bool:
    """Whether validation at ``version`` would accept ``se`` with ``hosts`` and resolution
    DYNAMIC_DNS: 1.28 or later, only ``*.``-wildcard hosts, no addresses or endpoints, every port
    of an accepted protocol, an accepted location."""
    if version < DYNAMIC_DNS_SINCE or not hosts:
        return False
    if not all(h.startswith("*.") and "*" not in h[1:] for h in hosts):
        return False
    if as_list(se.spec.get("addresses")) or as_list(se.spec.get("endpoints")):
        return False
    allowed = dynamic_dns_protocols(version)
    if any(istio.protocol(p) not in allowed for _, p in MeshGraph.ports(se)):
        return False
    return dynamic_dns_location_problem(se, version) is None
