"""The mesh graph: resources linked by the references Istio follows, with the queries rules use.

Built once per run. Nodes are resources; edges say how one refers to another:
``binds`` (ServiceEntry/Namespace -> waypoint Gateway), ``class`` (Gateway -> GatewayClass),
``targets`` (policy -> its target), ``host`` (DestinationRule/VirtualService -> ServiceEntry),
``selects`` (NetworkPolicy -> workload), ``in`` (resource -> its Namespace).
Rules never scan raw documents: every question they ask is a method here, answered from
indexes by kind, namespace, name and host, so each rule stays linear in the input.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..model import Resource, as_list, as_map, enumerate_maps
from .hostindex import HostIndex
from .selectors import fqdn, host_matches, selector_matches

if TYPE_CHECKING:
    import networkx as nx

    from ..model import ValuesDoc

USE_WAYPOINT = "istio.io/use-waypoint"
USE_WAYPOINT_NS = "istio.io/use-waypoint-namespace"
WAYPOINT_FOR = "istio.io/waypoint-for"
DATAPLANE_MODE = "istio.io/dataplane-mode"
GATEWAY_NAME_LABELS = ("gateway.networking.k8s.io/gateway-name", "istio.io/gateway-name")

ROOT_NAMESPACE = "istio-system"  # meshConfig.rootNamespace's default
# networking.istio.io Gateways share the kind name with Gateway API's: the graph files them
# apart, so that "Gateway" (waypoints, targetRefs, use-waypoint) always means Gateway API
ISTIO_GATEWAY = "Gateway.networking.istio.io"
ZTUNNEL_EGRESS = "solo-ztunnel-egress"
ISTIO_WAYPOINT = "istio-waypoint"
AGENTGATEWAY_WAYPOINTS = ("enterprise-agentgateway-waypoint", "istio-agentgateway-waypoint")
EGRESS_CLASSES = (ZTUNNEL_EGRESS, ISTIO_WAYPOINT, *AGENTGATEWAY_WAYPOINTS)
MODES = (ZTUNNEL_EGRESS, ISTIO_WAYPOINT, "enterprise-agentgateway-waypoint")

T = TypeVar("T")

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")


@dataclass(frozen=True)
class Binding:
    """Where a ServiceEntry (or Service) sends its traffic, and which object says so."""

    name: str  # the waypoint Gateway's name, or "none"
    namespace: str
    owner: Resource  # the object carrying the label: the resource itself or its Namespace
    inherited: bool  # True when the label comes from the Namespace

    @property
    def opted_out(self) -> bool:
        return self.name == "none"

    @property
    def label_path(self) -> tuple[str, ...]:
        return ("metadata", "labels", USE_WAYPOINT)


@dataclass(frozen=True)
class Workload:
    """A pod template (or a Pod) and the labels, service account and namespace of its pods."""

    resource: Resource
    labels: Mapping[str, str]
    service_account: str
    host_network: bool
    template_path: tuple[Any, ...]  # path of the pod template inside the resource

    @property
    def namespace(self) -> str:
        return self.resource.namespace


def kind_of(res: Resource) -> str:
    """The kind the graph files a resource under: its kind, but ``ISTIO_GATEWAY`` for a
    ``networking.istio.io`` Gateway."""
    if res.kind == "Gateway" and res.api_version.startswith("networking.istio.io/"):
        return ISTIO_GATEWAY
    return res.kind


def kind_key(res: Resource) -> tuple[str, str, str]:
    return (kind_of(res), res.namespace, res.name)


def _dr_host(dr: Resource) -> str:
    host = dr.spec.get("host")
    return fqdn(host, dr.namespace) if isinstance(host, str) else ""


def _dr_applies(dr: Resource, service: str) -> bool:
    """A DestinationRule's host selects the service: equal, or a wildcard covering it (a
    concrete rule host never applies to a wildcard service)."""
    host = _dr_host(dr)
    return bool(host) and host_matches(host, service)


def _most_specific(drs: list[Resource], service: str) -> list[Resource]:
    exact = [dr for dr in drs if _dr_host(dr) == service]
    if exact:
        return exact
    longest = max(len(_dr_host(dr)) for dr in drs)
    return [dr for dr in drs if len(_dr_host(dr)) == longest]


def exported_to(dr: Resource, namespace: str) -> bool:
    """``dr`` is visible to ``namespace`` by its ``exportTo`` (unset or ``*``: everywhere; ``.``:
    its own namespace)."""
    export = [e for e in as_list(dr.spec.get("exportTo")) if isinstance(e, str)]
    return (
        not export
        or "*" in export
        or namespace in export
        or ("." in export and dr.namespace == namespace)
    )


def _pod_template(res: Resource) -> tuple[Mapping[str, Any], tuple[Any, ...]] | None:
    if res.kind == "Pod":
        return res.body, ()
    if res.kind == "CronJob":
        path: tuple[Any, ...] = ("spec", "jobTemplate", "spec", "template")
    else:
        path = ("spec", "template")
    tpl = res.get(*path)
    return (tpl, path) if isinstance(tpl, Mapping) else None


def _workload(res: Resource) -> Workload | None:
    found = _pod_template(res)
    if found is None:
        return None
    tpl, path = found
    meta, spec = as_map(tpl.get("metadata")), as_map(tpl.get("spec"))
    labels = {str(k): str(v) for k, v in as_map(meta.get("labels")).items()}
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    return Workload(res, labels, str(sa), spec.get("hostNetwork") is True, path)


@dataclass(frozen=True)
class Scope:
    """What a view says about the mesh beyond its own resources.

    A view rarely holds the whole mesh: an application repository binds to a waypoint that
    the platform repository defines. A reference into a namespace the view does not contain
    at all (no Namespace object, no resource in it) cannot be judged, unless the view is
    declared ``complete`` or the referenced Gateway is declared to live elsewhere."""

    complete: bool = False
    external_gateways: frozenset[str] = frozenset()  # "namespace/name"


class MeshGraph:
    """Indexes and links over every resource of one view."""

    def __init__(
        self,
        resources: Iterable[Resource],
        mode: str | None = None,
        values: Iterable[ValuesDoc] = (),
        scope: Scope = Scope(),
    ) -> None:
        self.duplicates: list[tuple[Resource, Resource]] = []  # (first, later): same key
        self.resources: list[Resource] = self._first_of_each(resources)
        self._values: list[ValuesDoc] = list(values)
        self.mode_override = mode
        self.scope = scope
        self._namespaces: set[str] = set()  # with a Namespace object or any resource in them
        self._edges: list[tuple[Resource, Resource, str]] = []  # (source, target, rel)
        self._in: dict[tuple[Resource, str], list[Resource]] = defaultdict(list)
        self._nx: nx.MultiDiGraph | None = None
        self._by_kind: dict[str, list[Resource]] = defaultdict(list)
        self._by_key: dict[tuple[str, str, str], Resource] = {}
        self._hosts: dict[str, list[Resource]] = defaultdict(list)
        self._wildcards: list[tuple[str, Resource]] = []
        self._host_index: HostIndex[Resource] = HostIndex()  # suffix lookups, not pair scans
        self._waypoints: list[Resource] | None = None
        self._workloads: dict[str, list[Workload]] = defaultdict(list)
        self._netpols: dict[str, list[Resource]] = defaultdict(list)
        self._by_ns_kind: dict[tuple[str, str], list[Resource]] = defaultdict(list)
        self._memo: dict[Any, Any] = {}  # per-run answers shared by rules (see memo())
        for res in self.resources:
            self._index(res)
        self._link()
        self._waypoints = None  # computed on first use, once every edge is in

    # ---- building -------------------------------------------------------------------------
    def _first_of_each(self, resources: Iterable[Resource]) -> list[Resource]:
        """The resources, without later definitions of a kind/namespace/name whose content
        differs from the first (EGL006 reports those). Identical copies stay: each copy
        carries whatever defect the object has, and each is a line to fix."""
        first: dict[tuple[str, str, str], Resource] = {}
        kept = []
        for res in resources:
            seen = first.setdefault(kind_key(res), res)
            if seen is not res:
                self.duplicates.append((seen, res))
                if seen.body != res.body:
                    continue
            kept.append(res)
        return kept

    def _index(self, res: Resource) -> None:
        kind = kind_of(res)
        self._by_kind[kind].append(res)
        self._by_key.setdefault((kind, res.namespace, res.name), res)
        self._namespaces.add(res.name if res.kind == "Namespace" else res.namespace)
        self._by_ns_kind[(res.namespace, kind)].append(res)
        if res.kind == "ServiceEntry":
            for host in self.se_hosts(res):
                if host.startswith("*"):
                    self._wildcards.append((host, res))
                    self._host_index.add_wildcard(host, res)
                else:
                    self._hosts[host].append(res)
                    self._host_index.add_concrete(host, res)
        elif res.kind == "NetworkPolicy":
            self._netpols[res.namespace].append(res)
        elif res.kind in WORKLOAD_KINDS:
            wl = _workload(res)
            if wl is not None:
                self._workloads[res.namespace].append(wl)

    def _edge(self, source: Resource, target: Resource, rel: str) -> None:
        self._edges.append((source, target, rel))
        self._in[(target, rel)].append(source)

    @property
    def g(self) -> nx.MultiDiGraph:
        """The links as a networkx graph (built on first use: rules ask the indexes instead,
        and a run that draws nothing never imports networkx)."""
        if self._nx is None:
            import networkx as nx

            self._nx = nx.MultiDiGraph()
            self._nx.add_nodes_from(self.resources)
            for source, target, rel in self._edges:
                self._nx.add_edge(source, target, rel=rel)
        return self._nx

    def sources(self, target: Resource, rel: str) -> list[Resource]:
        """Resources with a ``rel`` link to ``target``, in the order the links were made."""
        return self._in.get((target, rel), [])

    def _link(self) -> None:
        for res in self.resources:
            ns = self.namespace(res.namespace) if res.namespace else None
            if ns is not None:
                self._edge(res, ns, "in")
        self._link_waypoints()
        self._link_references()

    def _link_waypoints(self) -> None:
        for se in self.of_kind("ServiceEntry"):
            gw = self.waypoint_of(se)
            if gw is not None:
                self._edge(se, gw, "binds")
        for gw in self.of_kind("Gateway"):
            cls = self.get("GatewayClass", "", self.gateway_class(gw))
            if cls is not None:
                self._edge(gw, cls, "class")

    def _link_references(self) -> None:
        for res in self.of_kind("DestinationRule", "VirtualService"):
            for se in self.service_entries_for(res):
                self._edge(res, se, "host")
        for ap in self.of_kind("AuthorizationPolicy"):
            for target, _ in self.policy_targets(ap):
                self._edge(ap, target, "targets")
        for np_ in self.of_kind("NetworkPolicy"):
            for wl in self.pods_selected_by(np_):
                self._edge(np_, wl.resource, "selects")

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()`` once per run for ``key``: rules ask the same question per resource
        (say, per ServiceEntry about its namespace), and the answer only depends on the graph."""
        try:
            return cast(T, self._memo[key])
        except KeyError:
            value = self._memo[key] = compute()
            return value

    # ---- lookups --------------------------------------------------------------------------
    def of_kind(self, *kinds: str) -> list[Resource]:
        if len(kinds) == 1:
            return self._by_kind.get(kinds[0], [])
        return [r for k in kinds for r in self._by_kind.get(k, [])]

    def in_namespace(self, kind: str, namespace: str) -> list[Resource]:
        return self._by_ns_kind.get((namespace, kind), [])

    def get(self, kind: str, namespace: str, name: str) -> Resource | None:
        return self._by_key.get((kind, namespace, name))

    def values_documents(self) -> list[ValuesDoc]:
        """Non-Kubernetes YAML mappings of the run (Helm values files), in input order."""
        return self._values

    def namespace(self, name: str) -> Resource | None:
        return self._by_key.get(("Namespace", "", name))

    def knows_namespace(self, name: str) -> bool:
        """Whether the view holds namespace ``name`` (its Namespace object or any resource in
        it), or is declared complete: only then can a missing object there be judged."""
        return self.scope.complete or name in self._namespaces

    def known_namespaces(self) -> frozenset[str]:
        """The namespaces the view holds: a Namespace object or any resource in them."""
        return frozenset(ns for ns in self._namespaces if ns)

    def gateway_status(self, namespace: str, name: str) -> str:
        """``present``; ``external`` (declared to live elsewhere); ``unknown`` (its namespace
        is not in the view); or ``missing``."""
        if self.get("Gateway", namespace, name) is not None:
            return "present"
        if f"{namespace}/{name}" in self.scope.external_gateways:
            return "external"
        return "missing" if self.knows_namespace(namespace) else "unknown"

    def namespace_labels(self, name: str) -> dict[str, str]:
        ns = self.namespace(name)
        return ns.labels if ns is not None else {}

    # ---- ambient enrolment ----------------------------------------------------------------
    def is_sidecar_namespace(self, name: str) -> bool:
        """Selected by the sidecar injector's webhook: ``istio-injection: enabled``, or
        ``istio.io/rev`` without ``istio-injection`` (istio-discovery chart
        ``mutatingwebhook.yaml``, 1.30.3)."""
        labels = self.namespace_labels(name)
        injection = labels.get("istio-injection")
        return injection == "enabled" or (injection is None and "istio.io/rev" in labels)

    def is_ambient_namespace(self, name: str) -> bool:
        """Labelled ``istio.io/dataplane-mode: ambient`` and not sidecar-injected (sidecars win)."""
        labels = self.namespace_labels(name)
        return labels.get(DATAPLANE_MODE) == "ambient" and not self.is_sidecar_namespace(name)

    def ambient_namespaces(self) -> list[Resource]:
        return [n for n in self.of_kind("Namespace") if self.is_ambient_namespace(n.name)]

    # ---- waypoints ------------------------------------------------------------------------
    def binding(self, res: Resource) -> Binding | None:
        """The effective ``istio.io/use-waypoint`` of a resource: its own label, else its namespace's."""
        owner: Resource | None = res
        if USE_WAYPOINT not in res.labels:
            owner = self.namespace(res.namespace)
            if owner is None or USE_WAYPOINT not in owner.labels:
                return None
        assert owner is not None
        labels = owner.labels
        home = res.name if res.kind == "Namespace" else res.namespace
        target_ns = labels.get(USE_WAYPOINT_NS) or home
        return Binding(labels[USE_WAYPOINT], target_ns, owner, owner is not res)

    def waypoint_of(self, res: Resource) -> Resource | None:
        """The Gateway a ServiceEntry is bound to, if it exists in the repository."""
        b = self.binding(res)
        if b is None or b.opted_out:
            return None
        return self.get("Gateway", b.namespace, b.name)

    def gateway_class(self, gw: Resource) -> str:
        name = gw.spec.get("gatewayClassName")
        return name if isinstance(name, str) else ""

    def waypoint_for(self, gw: Resource) -> str:
        """Traffic types the waypoint takes: Gateway label, else GatewayClass label, else ``service``."""
        if WAYPOINT_FOR in gw.labels:
            return gw.labels[WAYPOINT_FOR]
        cls = self.get("GatewayClass", "", self.gateway_class(gw))
        if cls is not None and WAYPOINT_FOR in cls.labels:
            return cls.labels[WAYPOINT_FOR]
        return "service"

    def is_waypoint(self, gw: Resource) -> bool:
        """A Gateway that acts as a waypoint or egress gateway (by class, or because something binds to it)."""
        if self._waypoints is not None:  # known: a set lookup instead of a scan of its edges
            return gw in self.memo("graph.waypoint_set", lambda: set(self.waypoints()))
        return self.gateway_class(gw) in EGRESS_CLASSES or bool(self.sources(gw, "binds"))

    def waypoints(self) -> list[Resource]:
        # computed once: rules ask per ServiceEntry, and each answer scans every Gateway's edges
        if self._waypoints is None:
            self._waypoints = [gw for gw in self.of_kind("Gateway") if self.is_waypoint(gw)]
        return self._waypoints

    def bound_to(self, gw: Resource) -> list[Resource]:
        """ServiceEntries whose effective waypoint is this Gateway."""
        return list(self.sources(gw, "binds"))

    def mode_of(self, se: Resource) -> str | None:
        """The egress mode of a ServiceEntry: its waypoint's GatewayClass, or ``--mode``."""
        gw = self.waypoint_of(se)
        if gw is not None:
            return self.gateway_class(gw)
        b = self.binding(se)
        if b is not None and not b.opted_out:
            return self.mode_override
        return None

    def egress_controlled(self) -> bool:
        """Whether the repository routes egress through waypoints at all (or ``--mode`` says so)."""
        if self.mode_override:
            return True
        if any(self.gateway_class(gw) in EGRESS_CLASSES for gw in self.of_kind("Gateway")):
            return True
        return any(
            (b := self.binding(se)) is not None and not b.opted_out
            for se in self.of_kind("ServiceEntry")
        )

    def waypoint_pods_selected(self, np_: Resource, gw: Resource) -> bool:
        """Whether a NetworkPolicy selects the pods of a waypoint Gateway."""
        if np_.namespace != gw.namespace:
            return False
        labels = {label: gw.name for label in GATEWAY_NAME_LABELS[:1]}
        labels.update(
            {str(k): str(v) for k, v in as_map(gw.get("spec", "infrastructure", "labels")).items()}
        )
        return selector_matches(np_.spec.get("podSelector"), labels)

    # ---- ServiceEntries and hosts ---------------------------------------------------------
    @staticmethod
    def se_hosts(se: Resource) -> list[str]:
        return [fqdn(h, se.namespace) for h in as_list(se.spec.get("hosts")) if isinstance(h, str)]

    @staticmethod
    def is_external(se: Resource) -> bool:
        return bool(se.spec.get("location", "MESH_EXTERNAL") != "MESH_INTERNAL")

    def service_entries_for_host(self, host: str, namespace: str) -> list[Resource]:
        """ServiceEntries whose hosts cover ``host`` (exactly or by wildcard)."""
        name = fqdn(host, namespace)
        found = list(self._hosts.get(name, []))
        found += self._host_index.wildcards_covering(name)
        if name.startswith("*"):
            found += self._host_index.concrete_under(name)
        return list(dict.fromkeys(found))

    def service_entries_for(self, res: Resource) -> list[Resource]:
        """ServiceEntries a DestinationRule (``host``) or VirtualService (``hosts``) applies to."""
        if res.kind == "DestinationRule":
            hosts = [res.spec.get("host")]
        else:
            hosts = as_list(res.spec.get("hosts"))
        found: list[Resource] = []
        for host in hosts:
            if isinstance(host, str):
                found += self.service_entries_for_host(host, res.namespace)
        return list(dict.fromkeys(found))

    def destination_rules_for(self, se: Resource) -> list[Resource]:
        return [s for s in self.sources(se, "host") if s.kind == "DestinationRule"]

    def waypoint_destination_rules(self, se: Resource, host: str, proxy_ns: str) -> list[Resource]:
        """The DestinationRules a waypoint in ``proxy_ns`` applies to the service ``host`` of
        ``se``, as istiod looks them up (``PushContext.destinationRule``, istio/istio
        pilot/pkg/model/push_context.go, 1.24-1.30): the rules in the waypoint's own namespace,
        else those of the ServiceEntry's namespace exported to it, else those of the root
        namespace exported to it; within a namespace the most specific host wins. Rules with a
        ``workloadSelector`` never apply at a waypoint: its clusters ask for the inbound
        direction, where selectors are not honoured (``SidecarScope.DestinationRule``)."""
        name = fqdn(host, se.namespace)
        candidates = [
            dr
            for dr in self.destination_rules_for(se)
            if not dr.spec.get("workloadSelector") and _dr_applies(dr, name)
        ]
        for ns, exported in ((proxy_ns, False), (se.namespace, True), (ROOT_NAMESPACE, True)):
            found = [dr for dr in candidates if dr.namespace == ns]
            if exported:
                found = [dr for dr in found if exported_to(dr, proxy_ns)]
            if found:
                return _most_specific(found, name)
        return []

    def virtual_services_for(self, se: Resource) -> list[Resource]:
        return [s for s in self.sources(se, "host") if s.kind == "VirtualService"]

    # ---- policies -------------------------------------------------------------------------
    def policy_targets(self, policy: Resource) -> Iterator[tuple[Resource, int]]:
        """The resources named by a policy's ``targetRef``/``targetRefs`` (same namespace), with the ref index."""
        refs = as_list(policy.spec.get("targetRefs"))
        single = policy.spec.get("targetRef")
        if isinstance(single, Mapping):
            refs = [single, *refs]
        for i, ref in enumerate(refs):
            if not isinstance(ref, Mapping):
                continue
            kind, name = ref.get("kind"), ref.get("name")
            if not isinstance(kind, str) or not isinstance(name, str):
                continue
            ns = "" if kind == "GatewayClass" else policy.namespace
            target = self.get(kind, ns, name)
            if target is not None:
                yield target, i

    def policies_targeting(self, res: Resource) -> list[Resource]:
        return list(self.sources(res, "targets"))

    # ---- workloads and NetworkPolicies ----------------------------------------------------
    def workloads(self, namespace: str | None = None) -> list[Workload]:
        if namespace is not None:
            return self._workloads.get(namespace, [])
        return [w for ws in self._workloads.values() for w in ws]

    def pods_selected_by(self, np_: Resource) -> list[Workload]:
        """Workloads in the NetworkPolicy's namespace whose pod labels its ``podSelector`` matches."""
        selector = np_.spec.get("podSelector")
        return [w for w in self.workloads(np_.namespace) if selector_matches(selector, w.labels)]

    def network_policies_for(self, namespace: str, labels: Mapping[str, str]) -> list[Resource]:
        """NetworkPolicies in ``namespace`` whose ``podSelector`` selects pods with ``labels``."""
        return [
            np_
            for np_ in self._netpols.get(namespace, [])
            if selector_matches(np_.spec.get("podSelector"), labels)
        ]

    def service_account_users(self, namespace: str, sa: str) -> list[Workload]:
        return [w for w in self.workloads(namespace) if w.service_account == sa]

    @staticmethod
    def ports(se: Resource) -> Iterator[tuple[int, Mapping[str, Any]]]:
        return enumerate_maps(se.spec.get("ports"))
