"""Explicit egress gateways: dedicated gateways that are not waypoints, the external hosts each
carries, and the mesh routes that send clients to them.

Two designs are recognised.

* A Gateway API ``Gateway`` of a plain gateway class with routes (HTTPRoute, GRPCRoute,
  TLSRoute, TCPRoute) attached to it whose backendRefs name a MESH_EXTERNAL ServiceEntry host.
  Which backendRef kinds reach a ServiceEntry depends on the implementation: Istio's ``istio``
  class takes ``kind: Hostname, group: networking.istio.io`` (istio/istio
  ``pilot/pkg/config/kube/gateway/conversion.go`` ``buildDestination``, 1.24.0-1.30.3; 1.24 and
  1.25 also accepted the group left out, 1.26.0 on normalise it to the core group and reject it,
  so only the explicit group is read here) and no ``ServiceEntry`` kind ("referencing
  unsupported backendRef"); istiod's ``istio-agentgateway`` class takes ``Hostname`` whatever the
  group (``pilot/pkg/config/kube/agentgateway/destination.go`` ``buildAgwDestination``, 1.30.3);
  kgateway takes ``kind: ServiceEntry`` (the ServiceEntry by name) and ``kind: Hostname``, both
  of group ``networking.istio.io`` (kgateway documentation, Integrations > Istio > ServiceEntries,
  and its source ``internal/kgateway/extensions2/plugins/serviceentry/backendref.go``: vendor
  facts, not Istio's). Gateways of other classes are not read: what they accept is not known.
  A route counts only where a listener of the Gateway admits its namespace
  (``allowedRoutes.namespaces``, default ``Same``).
* The classic Istio egress gateway: a ``networking.istio.io`` Gateway whose servers' hosts admit a
  VirtualService that binds to it (``spec.gateways``: ``name``, ``ns/name``, ``./name`` or the
  legacy FQDN, as ``resolveGatewayName`` in ``pilot/pkg/model/config.go`` reads them) and routes,
  for that gateway (``match.gateways`` of a rule, else the VirtualService's, as
  ``sourceMatchHTTP`` in ``pilot/pkg/networking/core/route/route.go`` filters them), to a
  MESH_EXTERNAL ServiceEntry host.

A gateway that carries an external host is an *egress* gateway only with a sign of that intent
(an ingress gateway may front an external backend too): a mesh route sends a carried host to its
Service; or its Service is cluster-internal (``networking.istio.io/service-type: ClusterIP``, read
by the deployment controller, ``pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go``
1.30.3, ``gateway/deploymentcontroller.go`` 1.24.0); or its name, namespace or (classic) pod
selector says ``egress`` (a naming convention, not an Istio fact).

Mesh routes are VirtualServices bound to ``mesh`` (``spec.gateways`` empty or listing it,
``getGatewayNames`` in ``pilot/pkg/model/push_context.go``) and Gateway API routes whose parent is
a ServiceEntry (istiod turns them into such VirtualServices, see
``pilot/pkg/config/kube/gateway/testdata/serviceentry.yaml.golden``, 1.24.0-1.30.3). Sidecars apply
them; a waypoint applies those in its own namespace or the service's namespace to the services
bound to it (``getVirtualServiceForWaypoint`` in ``pilot/pkg/networking/core/listener_waypoint.go``,
1.24.0-1.30.3, with the waypoint as the ``mesh`` gateway), and builds clusters for a route from
such a service to one it does not own (``filterWaypointOutboundServices`` in
``pilot/pkg/networking/core/waypoint.go``); ztunnel applies none. A Gateway API gateway's Service
is ``<name>-<class>`` (``getDefaultName``, ``conversion.go`` 1.24.0;
``gatewaycommon/gateway_utils.go`` ``GetDefaultName`` 1.30.3), or ``<name>`` where the class turns
the suffix off (``istio-agentgateway``: ``DisableNameSuffix`` in ``gatewaycommon/classinfo.go``
1.30.3) and for kgateway (its documentation calls the gateway by its own name).

Every answer is computed once per run (``MeshGraph.memo``) and is linear in the routes read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import Path, Resource, as_list, as_map, enumerate_maps
from .graph import GATEWAY_NAME_LABELS, ISTIO_GATEWAY, MeshGraph
from .selectors import fqdn, host_matches, selector_matches

ISTIO_GROUP = "networking.istio.io"
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute")
VS_PROTOCOLS = ("http", "tls", "tcp")
SERVICE_TYPE = "networking.istio.io/service-type"
MESH = "mesh"
NAME_LABEL = "kubernetes.io/metadata.name"
CLUSTER_SUFFIX = ".svc.cluster.local"

# class name or controllerName -> (backendRef kinds that reach a ServiceEntry, any group)
_ISTIO = (frozenset({"Hostname"}), False)
_ISTIO_AGENTGATEWAY = (frozenset({"Hostname"}), True)
_KGATEWAY = (frozenset({"Hostname", "ServiceEntry"}), False)
BACKEND_KINDS: Mapping[str, tuple[frozenset[str], bool]] = {
    "istio": _ISTIO,
    "istio.io/gateway-controller": _ISTIO,
    "istio-agentgateway": _ISTIO_AGENTGATEWAY,
    "istio.io/agentgateway-controller": _ISTIO_AGENTGATEWAY,
    "kgateway": _KGATEWAY,
    "kgateway.dev/kgateway": _KGATEWAY,
}


@dataclass(frozen=True)
class Carried:
    """One external host an explicit gateway sends on: the route (or VirtualService) and the
    field that names it, and the ServiceEntry that registers it."""

    gateway: Resource
    host: str
    service_entry: Resource
    route: Resource
    path: Path


@dataclass(frozen=True)
class MeshRoute:
    """A route applied to mesh traffic: the host patterns it applies to, where it sends them,
    and whom it is exported to (``*`` for everyone)."""

    resource: Resource
    hosts: tuple[str, ...]
    destinations: tuple[tuple[str, Path], ...]
    export_to: tuple[str, ...]

    def exported_to(self, namespace: str) -> bool:
        export = self.export_to
        return (
            not export
            or "*" in export
            or namespace in export
            or ("." in export and self.resource.namespace == namespace)
        )


@dataclass(frozen=True)
class ExplicitGateway:
    """A gateway (not a waypoint) that carries external hosts, and why it counts as egress."""

    gateway: Resource
    style: str  # "gateway-api" | "classic"
    service_hosts: frozenset[str]  # the FQDNs mesh routes use to reach it
    carried: tuple[Carried, ...]
    intent: str  # completes "it is an egress gateway because ..."

    def reached_by(self, destination: str, external: frozenset[str]) -> bool:
        """Whether a route destination is this gateway's Service. A classic gateway's Service
        is known only when it is in the view; without it, any in-cluster destination counts."""
        if destination in self.service_hosts:
            return True
        return (
            self.style == "classic"
            and not self.service_hosts
            and destination.endswith(CLUSTER_SUFFIX)
            and destination not in external
        )


# ---- public queries ------------------------------------------------------------------------
def explicit_gateways(graph: MeshGraph) -> tuple[ExplicitGateway, ...]:
    """The explicit egress gateways of the view, in input order."""
    return graph.memo("gateways.explicit", lambda: tuple(_explicit(graph)))


def carried_by(graph: MeshGraph, se: Resource) -> list[Carried]:
    """What explicit egress gateways carry of a ServiceEntry's hosts."""
    return graph.memo("gateways.by_se", lambda: _by_service_entry(graph)).get(se, [])


def carries_all_hosts(graph: MeshGraph, se: Resource) -> bool:
    """Every host of the ServiceEntry is carried by an explicit egress gateway (a wildcard host
    only when the gateway carries the wildcard itself, not one name under it)."""
    found = carried_by(graph, se)
    if not found:
        return False
    return all(any(host_matches(c.host, h) for c in found) for h in graph.se_hosts(se))


def gateway_of(graph: MeshGraph, carried: Carried) -> ExplicitGateway:
    def index() -> dict[Resource, ExplicitGateway]:
        return {eg.gateway: eg for eg in explicit_gateways(graph)}

    return graph.memo("gateways.by_gateway", index)[carried.gateway]


def service_phrase(graph: MeshGraph, carried: Carried) -> str:
    """How advice names the gateway's Service: its host where known."""
    eg = gateway_of(graph, carried)
    gw = eg.gateway
    if eg.style == "gateway-api":
        cls = graph.gateway_class(gw)
        name = f"{gw.name}-{cls}" if _suffixed(graph, gw) else gw.name
        return f"Service {gw.namespace}/{name}"
    if eg.service_hosts:
        return f"the gateway's Service {sorted(eg.service_hosts)[0]}"
    return "the egress gateway's Service"


def mesh_routes(graph: MeshGraph) -> tuple[MeshRoute, ...]:
    return graph.memo("gateways.mesh_routes", lambda: tuple(_mesh_routes(graph)))


def routes_to(graph: MeshGraph, eg: ExplicitGateway, host: str) -> list[MeshRoute]:
    """Mesh routes that send ``host`` to the gateway (answered once per gateway and host:
    rules ask per workload)."""

    def compute() -> list[MeshRoute]:
        external = _external_hosts(graph)
        return [
            r
            for r in mesh_routes(graph)
            if any(host_matches(p, host) for p in r.hosts)
            and any(eg.reached_by(d, external) for d, _ in r.destinations)
        ]

    return graph.memo(("gateways.routes_to", eg.gateway, host), compute)


def waypoint_route(graph: MeshGraph, carried: Carried, waypoint: Resource) -> MeshRoute | None:
    """The mesh route the ServiceEntry's waypoint applies that sends the host to the gateway:
    one in the waypoint's namespace or the ServiceEntry's."""
    homes = (waypoint.namespace, carried.service_entry.namespace)
    eg = gateway_of(graph, carried)
    found = [r for r in routes_to(graph, eg, carried.host) if r.resource.namespace in homes]
    return found[0] if found else None


def sidecar_route(graph: MeshGraph, carried: Carried, namespace: str) -> MeshRoute | None:
    """The mesh route exported to ``namespace`` that sends the host to the gateway."""
    eg = gateway_of(graph, carried)
    found = [r for r in routes_to(graph, eg, carried.host) if r.exported_to(namespace)]
    return found[0] if found else None


def gateway_pod(graph: MeshGraph, labels: Mapping[str, str]) -> bool:
    """Pods of an explicit gateway (classic: its selector; Gateway API: the gateway-name label)."""
    names, selectors = graph.memo("gateways.pod_matchers", lambda: _pod_matchers(graph))
    if any(labels.get(label) in names for label in GATEWAY_NAME_LABELS):
        return True
    return any(selector_matches({"matchLabels": sel}, labels) for sel in selectors)


def _pod_matchers(graph: MeshGraph) -> tuple[frozenset[str], list[Mapping[str, Any]]]:
    names: set[str] = set()
    selectors: list[Mapping[str, Any]] = []
    for eg in explicit_gateways(graph):
        selector = as_map(eg.gateway.spec.get("selector"))
        if eg.style == "gateway-api":
            names.add(eg.gateway.name)
        elif selector and selector not in selectors:
            selectors.append(selector)
    return frozenset(names), selectors


def homes(graph: MeshGraph) -> set[str]:
    """Namespaces whose pods include an explicit egress gateway's: a Gateway API gateway's own
    namespace (a classic Gateway's pods run wherever its selector matches)."""
    return {eg.gateway.namespace for eg in explicit_gateways(graph) if eg.style == "gateway-api"}


# ---- building ------------------------------------------------------------------------------
def _explicit(graph: MeshGraph) -> Iterator[ExplicitGateway]:
    for gw in graph.of_kind("Gateway", ISTIO_GATEWAY):
        if gw.group == ISTIO_GROUP:
            style, carried = "classic", _classic_carried(graph, gw)
        elif gw.group == GATEWAY_API_GROUP and not graph.is_waypoint(gw):
            style, carried = "gateway-api", _api_carried(graph, gw)
        else:
            continue
        carried = list({(c.host, c.service_entry, c.route, c.path): c for c in carried}.values())
        if not carried:
            continue
        service_hosts = _service_hosts(graph, gw, style)
        intent = _intent(graph, gw, style, service_hosts, carried)
        if intent is not None:
            yield ExplicitGateway(gw, style, service_hosts, tuple(carried), intent)


def _by_service_entry(graph: MeshGraph) -> dict[Resource, list[Carried]]:
    out: dict[Resource, list[Carried]] = {}
    for eg in explicit_gateways(graph):
        for c in eg.carried:
            out.setdefault(c.service_entry, []).append(c)
    return out


def _external_hosts(graph: MeshGraph) -> frozenset[str]:
    def compute() -> frozenset[str]:
        return frozenset(
            h
            for se in graph.of_kind("ServiceEntry")
            if graph.is_external(se)
            for h in graph.se_hosts(se)
        )

    return graph.memo("gateways.external_hosts", compute)


def _external_entries(graph: MeshGraph, host: str, namespace: str) -> list[Resource]:
    """MESH_EXTERNAL ServiceEntries for a destination outside the cluster (a cluster service
    name is no egress, even where a broad wildcard ServiceEntry covers it)."""
    if host.endswith(CLUSTER_SUFFIX) or host == "*":
        return []
    return [se for se in graph.service_entries_for_host(host, namespace) if graph.is_external(se)]


def _intent(
    graph: MeshGraph,
    gw: Resource,
    style: str,
    service_hosts: frozenset[str],
    carried: list[Carried],
) -> str | None:
    probe = ExplicitGateway(gw, style, service_hosts, tuple(carried), "")
    for c in carried:
        found = routes_to(graph, probe, c.host)
        if found:
            return f"{found[0].resource.ref} sends {c.host} to it"
    if gw.annotations.get(SERVICE_TYPE) == "ClusterIP":
        return f"its Service is cluster-internal ({SERVICE_TYPE}: ClusterIP)"
    names = [gw.name, gw.namespace]
    if style == "classic":
        names += [str(v) for v in as_map(gw.spec.get("selector")).values()]
    if any("egress" in n.lower() for n in names):
        return "it is named for egress"
    return None


def _service_hosts(graph: MeshGraph, gw: Resource, style: str) -> frozenset[str]:
    if style == "gateway-api":
        cls = graph.gateway_class(gw)
        names = [gw.name, f"{gw.name}-{cls}"] if cls else [gw.name]
        return frozenset(fqdn(n, gw.namespace) for n in names)
    selector = {str(k): str(v) for k, v in as_map(gw.spec.get("selector")).items()}
    if not selector:
        return frozenset()
    return frozenset(
        fqdn(svc.name, svc.namespace)
        for svc in graph.of_kind("Service")
        if _fronts(as_map(svc.spec.get("selector")), selector)
    )


def _suffixed(graph: MeshGraph, gw: Resource) -> bool:
    """Istio's Envoy gateway class names its Service ``<name>-<class>``."""
    return _backend_kinds(graph, gw) is _ISTIO


def _fronts(svc_selector: Mapping[str, Any], gw_selector: Mapping[str, str]) -> bool:
    """A Service whose selector agrees with the Gateway's on every shared key (one at least)."""
    shared = [k for k in gw_selector if k in svc_selector]
    return bool(shared) and all(str(svc_selector[k]) == gw_selector[k] for k in shared)


# ---- Gateway API: routes attached to a Gateway ---------------------------------------------
def _backend_kinds(graph: MeshGraph, gw: Resource) -> tuple[frozenset[str], bool]:
    name = graph.gateway_class(gw)
    if name in BACKEND_KINDS:
        return BACKEND_KINDS[name]
    cls = graph.get("GatewayClass", "", name)
    controller = cls.spec.get("controllerName") if cls is not None else None
    if isinstance(controller, str) and controller in BACKEND_KINDS:
        return BACKEND_KINDS[controller]
    return frozenset(), False


def _routes_by_parent(graph: MeshGraph) -> dict[tuple[str, str], list[tuple[Resource, Any]]]:
    def compute() -> dict[tuple[str, str], list[tuple[Resource, Any]]]:
        out: dict[tuple[str, str], list[tuple[Resource, Any]]] = {}
        for route in graph.of_kind(*ROUTE_KINDS):
            for _, parent in enumerate_maps(route.spec.get("parentRefs")):
                if parent.get("kind", "Gateway") != "Gateway":
                    continue
                if parent.get("group", GATEWAY_API_GROUP) != GATEWAY_API_GROUP:
                    continue
                ns = parent.get("namespace") or route.namespace
                out.setdefault((str(ns), str(parent.get("name"))), []).append((route, parent))
        return out

    return graph.memo("gateways.routes_by_parent", compute)


def _api_carried(graph: MeshGraph, gw: Resource) -> list[Carried]:
    kinds, any_group = _backend_kinds(graph, gw)
    if not kinds:
        return []
    found: list[Carried] = []
    for route, parent in _routes_by_parent(graph).get((gw.namespace, gw.name), []):
        if not _admitted(graph, gw, route.namespace, parent):
            continue
        for r, rule in enumerate_maps(route.spec.get("rules")):
            for b, ref in enumerate_maps(rule.get("backendRefs")):
                path = ("spec", "rules", r, "backendRefs", b)
                for host, se in _backend_entries(graph, route, ref, kinds, any_group):
                    found.append(Carried(gw, host, se, route, path))
    return found


def _backend_entries(
    graph: MeshGraph,
    route: Resource,
    ref: Mapping[str, Any],
    kinds: frozenset[str],
    any_group: bool,
) -> list[tuple[str, Resource]]:
    kind, name = ref.get("kind", "Service"), ref.get("name")
    if kind not in kinds or not isinstance(name, str):
        return []
    if not any_group and ref.get("group") != ISTIO_GROUP:
        return []
    if kind == "Hostname":
        host = fqdn(name, route.namespace)
        return [(host, se) for se in _external_entries(graph, host, route.namespace)]
    se = graph.get("ServiceEntry", str(ref.get("namespace") or route.namespace), name)
    if se is None or not graph.is_external(se):
        return []
    return [(h, se) for h in graph.se_hosts(se)]


def _admitted(graph: MeshGraph, gw: Resource, namespace: str, parent: Mapping[str, Any]) -> bool:
    """Some listener the parentRef names admits routes from ``namespace``."""
    section, port = parent.get("sectionName"), parent.get("port")
    for _, listener in enumerate_maps(gw.spec.get("listeners")):
        if section is not None and listener.get("name") != section:
            continue
        if port is not None and listener.get("port") != port:
            continue
        if _listener_admits(graph, gw, listener, namespace):
            return True
    return False


def _listener_admits(
    graph: MeshGraph, gw: Resource, listener: Mapping[str, Any], namespace: str
) -> bool:
    namespaces = as_map(as_map(listener.get("allowedRoutes")).get("namespaces"))
    from_ = namespaces.get("from") or "Same"
    if from_ == "All":
        return True
    if from_ == "Selector":
        selector = namespaces.get("selector")
        if not isinstance(selector, Mapping):
            return False
        if graph.namespace(namespace) is None:
            return True  # labels unknown: take the route at its word
        labels = {**graph.namespace_labels(namespace), NAME_LABEL: namespace}
        return selector_matches(selector, labels)
    return namespace == gw.namespace


# ---- classic: VirtualServices bound to a networking.istio.io Gateway -----------------------
def resolve_gateway_name(name: str, namespace: str) -> str:
    """``resolveGatewayName``: ``ns/name`` for a VirtualService's gateway reference."""
    if name == MESH:
        return MESH
    if "/" in name:
        ns, _, short = name.partition("/")
        return f"{namespace if ns == '.' else ns}/{short}"
    if "." in name:
        short, _, rest = name.partition(".")
        return f"{rest.split('.')[0]}/{short}"
    return f"{namespace}/{name}"


def vs_gateways(vs: Resource) -> list[str]:
    names = [g for g in as_list(vs.spec.get("gateways")) if isinstance(g, str)]
    return [resolve_gateway_name(g, vs.namespace) for g in names] or [MESH]


def rule_gateways(vs: Resource, rule: Mapping[str, Any]) -> set[str]:
    """The gateways a VirtualService rule applies at: per match, its ``gateways`` or the
    VirtualService's (a rule without matches applies wherever the VirtualService does)."""
    bound = vs_gateways(vs)
    matches = [m for _, m in enumerate_maps(rule.get("match"))]
    if not matches:
        return set(bound)
    out: set[str] = set()
    for m in matches:
        names = [g for g in as_list(m.get("gateways")) if isinstance(g, str)]
        out.update([resolve_gateway_name(g, vs.namespace) for g in names] or bound)
    return out


def vs_rules(vs: Resource) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    for proto in VS_PROTOCOLS:
        for i, rule in enumerate_maps(vs.spec.get(proto)):
            yield ("spec", proto, i), rule


def rule_destinations(
    vs: Resource, base: Path, rule: Mapping[str, Any]
) -> Iterator[tuple[str, Path]]:
    for j, dest in enumerate_maps(rule.get("route")):
        host = as_map(dest.get("destination")).get("host")
        if isinstance(host, str) and host:
            yield fqdn(host, vs.namespace), (*base, "route", j, "destination", "host")


def _vs_by_gateway(graph: MeshGraph) -> dict[str, list[Resource]]:
    def compute() -> dict[str, list[Resource]]:
        out: dict[str, list[Resource]] = {}
        for vs in graph.of_kind("VirtualService"):
            for name in dict.fromkeys(vs_gateways(vs)):
                out.setdefault(name, []).append(vs)
        return out

    return graph.memo("gateways.vs_by_gateway", compute)


def _classic_carried(graph: MeshGraph, gw: Resource) -> list[Carried]:
    ref = f"{gw.namespace}/{gw.name}"
    found: list[Carried] = []
    for vs in _vs_by_gateway(graph).get(ref, []):
        if not _attaches(gw, vs):
            continue
        for base, rule in vs_rules(vs):
            if ref not in rule_gateways(vs, rule):
                continue
            for host, path in rule_destinations(vs, base, rule):
                for se in _external_entries(graph, host, vs.namespace):
                    found.append(Carried(gw, host, se, vs, path))
    return found


def _server_hosts(gw: Resource, vs_namespace: str) -> Iterator[str]:
    for _, server in enumerate_maps(gw.spec.get("servers")):
        for entry in as_list(server.get("hosts")):
            if not isinstance(entry, str):
                continue
            ns, _, host = entry.rpartition("/")
            if (
                ns in ("", "*")
                or ns == vs_namespace
                or (ns == "." and gw.namespace == vs_namespace)
            ):
                yield host.lower()


def _attaches(gw: Resource, vs: Resource) -> bool:
    """Some host of the VirtualService matches a host of the Gateway's servers."""
    allowed = list(_server_hosts(gw, vs.namespace))
    hosts = [h.lower() for h in as_list(vs.spec.get("hosts")) if isinstance(h, str)]
    return any(host_matches(a, h) or host_matches(h, a) for a in allowed for h in hosts)


# ---- mesh routes ---------------------------------------------------------------------------
def _mesh_routes(graph: MeshGraph) -> Iterator[MeshRoute]:
    for vs in graph.of_kind("VirtualService"):
        if MESH not in vs_gateways(vs):
            continue
        dests = [
            d
            for base, rule in vs_rules(vs)
            if MESH in rule_gateways(vs, rule)
            for d in rule_destinations(vs, base, rule)
        ]
        hosts = [fqdn(h, vs.namespace) for h in as_list(vs.spec.get("hosts")) if isinstance(h, str)]
        export = tuple(str(e) for e in as_list(vs.spec.get("exportTo")))
        if dests and hosts:
            yield MeshRoute(vs, tuple(hosts), tuple(dests), export)
    for route in graph.of_kind(*ROUTE_KINDS):
        hosts = [h for se in _se_parents(graph, route) for h in graph.se_hosts(se)]
        dests = list(_service_backends(route))
        if hosts and dests:
            yield MeshRoute(route, tuple(hosts), tuple(dests), ())


def _se_parents(graph: MeshGraph, route: Resource) -> Iterator[Resource]:
    for _, parent in enumerate_maps(route.spec.get("parentRefs")):
        if parent.get("kind") != "ServiceEntry" or parent.get("group") != ISTIO_GROUP:
            continue
        ns = str(parent.get("namespace") or route.namespace)
        se = graph.get("ServiceEntry", ns, str(parent.get("name")))
        if se is not None:
            yield se


def _service_backends(route: Resource) -> Iterator[tuple[str, Path]]:
    for r, rule in enumerate_maps(route.spec.get("rules")):
        for b, ref in enumerate_maps(rule.get("backendRefs")):
            name = ref.get("name")
            if ref.get("kind", "Service") != "Service" or ref.get("group", "") not in ("", "core"):
                continue
            if isinstance(name, str) and name and "." not in name:
                ns = str(ref.get("namespace") or route.namespace)
                yield f"{name}.{ns}{CLUSTER_SUFFIX}", ("spec", "rules", r, "backendRefs", b)
