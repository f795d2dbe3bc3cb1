"""Mesh clients can reach a host that an explicit egress gateway carries without passing through
the gateway, so the gateway's policy (authorization, ext-authz, TLS origination, audit) is
bypassed.

**Why it matters.** An explicit egress gateway is a dedicated gateway that is not a waypoint: a
Gateway API `Gateway` of the `istio`, `istio-agentgateway` or `kgateway` class (or a GatewayClass
whose `controllerName` is theirs) whose routes send a ServiceEntry host onward, or the classic Istio egress gateway (a `networking.istio.io` Gateway,
usually selecting `istio: egressgateway`, bound by a VirtualService that routes the host to the
outside). Nothing in the mesh makes it the only way out. ztunnel applies no routes: an ambient
pod's request for the host goes straight to it unless the ServiceEntry is bound to a waypoint
that routes it to the gateway, and even then a pod that connects to the host's own addresses
passes through ztunnel untouched. A sidecar sends the host to the gateway only when a mesh route
(a VirtualService bound to `mesh`, or a route whose parent is the ServiceEntry) says so. Istio's
own documentation says it cannot enforce that egress flows through an egress gateway and that
Kubernetes NetworkPolicy (or a firewall) must forbid the rest (istio.io "Egress Gateways",
"Additional security considerations": a documentation fact).

**When it fires.** For each explicit egress gateway (`egresslint/mesh/gateways.py` says which
gateways count, which hosts each carries and which mesh routes reach it) in a view that runs
ambient, and each client namespace of the view:

* ambient application pods that can open a port of the carried host's ServiceEntry (its
  `number` or `targetPort`) to public addresses: no NetworkPolicy selecting them isolates egress,
  or none blocks that port. Only where the view does not already count as egress-controlled for
  EGL106 and EGL107 (no waypoint class, no ServiceEntry bound to a waypoint, no `--mode`): those
  rules report the same missing lock-down there, and once a ServiceEntry is bound they own it.
  So the carried host's ServiceEntry is unbound here, and the message says so: no mesh route
  (not even the one that sends the host to the gateway for sidecars) applies to ambient pods.
* sidecar-injected application pods with no mesh route exported to their namespace that sends
  the host to the gateway, and egress to the host open: the sidecars send it straight out. With
  such a route the sidecar takes the gateway for that host (a pod that escapes its sidecar, or
  a port the route does not cover, is not judged).

The finding is on the Namespace (where a namespace-wide policy belongs), on the workload when its
namespace is not labelled in the view, or on the NetworkPolicy rule that opens public addresses
to those pods. With no workloads in the view at all, labelled client namespaces (not the home of
a Gateway API egress gateway or a waypoint) are judged by their namespace-wide policies and
reported as notes; so are ambient findings where the Helm values give ztunnel `egressPolicies`
that deny (the vendor's default-deny backstop).

It also notes (level note) a ServiceEntry bound to a waypoint that applies no mesh route sending
a carried host to the gateway: the waypoint sends the host straight out and ambient clients never
reach the gateway. The note is on the mesh route's `metadata.namespace` when the route exists in
a namespace the waypoint does not read, else on the ServiceEntry's host.

A Gateway class egresslint does not know, a backendRef kind the class rejects, a route its
listeners do not admit, or a gateway without a sign of egress intent (an ingress gateway that
fronts an external backend) carries nothing here, and nothing is reported.

**How to fix.** Lock the client namespace down: a NetworkPolicy with `podSelector: {}`,
`policyTypes: [Egress]` and egress rules for DNS and in-cluster destinations only (where a
Gateway API gateway runs in the same namespace, leave its pods out: they carry
`gateway.networking.k8s.io/gateway-name`). For sidecar clients, also route
the host to the gateway for the mesh (the istio.io pattern: a VirtualService bound to `mesh` and
the gateway, or an HTTPRoute whose parentRef is the ServiceEntry, with the gateway's Service as
destination). For ambient clients that should reach the host by name, bind the ServiceEntry to a
waypoint in whose namespace (or the ServiceEntry's) such a route lives.

Holds since Istio 1.24 (waypoint routes for ServiceEntries). Sources: istio/istio
`pilot/pkg/config/kube/gateway/conversion.go` `buildDestination` (1.24.0, 1.30.3: `Hostname`
backendRefs of group `networking.istio.io`) and `toInternalParentReference` /
`referenceAllowed` (ServiceEntry parents); `pilot/pkg/config/kube/agentgateway/destination.go`
(1.30.3); `pilot/pkg/networking/core/listener_waypoint.go` `getVirtualServiceForWaypoint` and
`pilot/pkg/networking/core/waypoint.go` `filterWaypointOutboundServices` (1.24.0, 1.30.3);
`pilot/pkg/model/push_context.go` `getGatewayNames`, `pilot/pkg/model/config.go`
`resolveGatewayName` and `pilot/pkg/networking/core/route/route.go` `sourceMatchHTTP` (1.24.0,
1.30.3); istio/ztunnel `src/proxy/outbound.rs` (unknown destinations pass through). kgateway's
`ServiceEntry` and `Hostname` backendRefs: kgateway documentation (Integrations > Istio >
ServiceEntries) and `internal/kgateway/extensions2/plugins/serviceentry/backendref.go`. The need
for NetworkPolicy: istio.io "Egress Gateways" task (documentation).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, gateways, netpol
from egresslint.mesh.gateways import Carried
from egresslint.mesh.graph import DATAPLANE_MODE, MeshGraph, Workload
from egresslint.model import Finding, Path, Related, Resource, as_map, listed

RULE = Rule(
    id="EGL115",
    name="explicit-gateway-bypass",
    tag="bypass",
    level="warning",
    summary="Mesh clients can reach a host an explicit egress gateway carries without the gateway.",
    kinds=(
        "Gateway",
        "HTTPRoute",
        "GRPCRoute",
        "TLSRoute",
        "TCPRoute",
        "VirtualService",
        "ServiceEntry",
        "Namespace",
        "NetworkPolicy",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Pod",
    ),
    security_severity="7.0",
)

AMBIENT, SIDECAR = "ambient", "sidecar"
SIDECAR_LABELS = ("istio-injection", "istio.io/rev")
INJECT = "sidecar.istio.io/inject"


@dataclass
class _Open:
    """What one set of pods can reach around the gateways: (carried host, open ports)."""

    items: list[tuple[Carried, list[int]]] = field(default_factory=list)

    def ports(self) -> list[int]:
        return sorted({p for _, ports in self.items for p in ports})


# ---- who the clients are -------------------------------------------------------------------
def _injection_off(wl: Workload) -> bool:
    meta = as_map(wl.resource.get(*wl.template_path, "metadata"))
    values = (wl.labels.get(INJECT), as_map(meta.get("annotations")).get(INJECT))
    return "false" in values


def _mode(graph: MeshGraph, wl: Workload) -> str | None:
    if wl.host_network or bypass.is_waypoint_pod(wl) or gateways.gateway_pod(graph, wl.labels):
        return None
    if bypass.pod_ambient(graph, wl):
        return AMBIENT
    if graph.is_sidecar_namespace(wl.namespace) and not _injection_off(wl):
        return SIDECAR
    return None


def _namespace_mode(graph: MeshGraph, ns: Resource) -> str | None:
    if graph.is_ambient_namespace(ns.name):
        return AMBIENT
    return SIDECAR if graph.is_sidecar_namespace(ns.name) else None


def _judged(graph: MeshGraph, mode: str) -> bool:
    """Ambient pods are EGL106's (and EGL107's) where those rules run."""
    return mode == SIDECAR or not graph.memo("EGL115.controlled", graph.egress_controlled)


# ---- what they can reach -------------------------------------------------------------------
def _se_ports(graph: MeshGraph, se: Resource) -> list[int]:
    return graph.memo(("EGL115.ports", se), lambda: _ports_of(graph, se))


def _ports_of(graph: MeshGraph, se: Resource) -> list[int]:
    found: list[int] = []
    for _, port in graph.ports(se):
        for key in ("number", "targetPort"):
            value = port.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value not in found:
                found.append(value)
    return found or list(bypass.EXTERNAL_PORTS)


def _carried(graph: MeshGraph) -> list[Carried]:
    def compute() -> list[Carried]:
        seen: dict[tuple[int, str, int], Carried] = {}
        for eg in gateways.explicit_gateways(graph):
            for c in eg.carried:
                seen.setdefault((id(c.gateway), c.host, id(c.service_entry)), c)
        return list(seen.values())

    return graph.memo("EGL115.carried", compute)


def _reachable(graph: MeshGraph, namespace: str, mode: str, policies: list[Resource]) -> _Open:
    """Answered once per namespace, mode and set of selecting policies (the same for most
    workloads of a namespace)."""
    key = ("EGL115.reachable", namespace, mode, tuple(id(p) for p in policies))
    return graph.memo(key, lambda: _reach(graph, namespace, mode, policies))


def _reach(graph: MeshGraph, namespace: str, mode: str, policies: list[Resource]) -> _Open:
    found = _Open()
    allowed: dict[int, bool] = {}
    for c in _carried(graph):
        if mode == SIDECAR and gateways.sidecar_route(graph, c, namespace) is not None:
            continue
        ports = []
        for p in _se_ports(graph, c.service_entry):
            if p not in allowed:
                allowed[p] = netpol.external_egress(policies, p).allowed
            if allowed[p]:
                ports.append(p)
        if ports:
            found.items.append((c, ports))
    return found


# ---- how the message describes the path ----------------------------------------------------
def _effective_waypoint(graph: MeshGraph, se: Resource) -> Resource | None:
    b = graph.binding(se)
    if b is None or b.opted_out or bypass.binding_problem(graph, se) is not None:
        return None
    return graph.waypoint_of(se)


def _ambient_path(graph: MeshGraph, c: Carried) -> str:
    """Ambient pods are judged here only where no ServiceEntry of the view is bound to a
    waypoint (else EGL106 owns the lock-down), so the host's ServiceEntry is unbound too."""
    se, host = c.service_entry, c.host
    routes = gateways.routes_to(graph, gateways.gateway_of(graph, c), host)
    if routes:
        return (
            f"{routes[0].resource.ref} sends {host} to the gateway only for sidecars and "
            f"waypoints, {se.ref} is bound to no waypoint and ztunnel applies no routes, so "
            f"ztunnel sends {host} straight out"
        )
    return (
        f"{se.ref} is bound to no waypoint, so no mesh route applies to ambient pods "
        f"(ztunnel applies none) and ztunnel sends {host} straight out"
    )


def _path(graph: MeshGraph, c: Carried, mode: str, namespace: str) -> str:
    if mode == AMBIENT:
        return _ambient_path(graph, c)
    return (
        f"no mesh route exported to '{namespace}' sends {c.host} to the gateway, so the sidecars "
        "send it straight out"
    )


def _what(found: _Open) -> str:
    parts = list(dict.fromkeys(f"{c.host} (carried by {c.gateway.ref})" for c, _ in found.items))
    text = parts[0] if len(parts) == 1 else f"{listed(parts[:-1], limit=2)} and {parts[-1]}"
    many = len({id(c.gateway) for c, _ in found.items}) > 1
    return f"{text} without the egress gateway{'s' if many else ''}"


def _fix(graph: MeshGraph, namespace: str, mode: str, found: _Open) -> str:
    first = found.items[0][0]
    hosts = listed(dict.fromkeys(c.host for c, _ in found.items), limit=3)
    own = any(
        c.gateway.namespace == namespace and c.gateway.group == gateways.GATEWAY_API_GROUP
        for c, _ in found.items
    )
    select = (
        "a podSelector that leaves out the gateway's own pods (label "
        "gateway.networking.k8s.io/gateway-name: DoesNotExist)"
        if own
        else "podSelector: {}"
    )
    text = (
        f"Add a NetworkPolicy in namespace '{namespace}' with {select}, "
        f"policyTypes: [Egress] and egress rules for DNS and in-cluster destinations only, so "
        f"that {hosts} is reachable only through {first.gateway.ref}"
    )
    if mode == SIDECAR:
        text += (
            f", and route {first.host} to the gateway for the mesh (a VirtualService for it bound "
            f"to mesh, or an HTTPRoute whose parentRef is {first.service_entry.ref}, with "
            f"{gateways.service_phrase(graph, first)} as destination)"
        )
    return text + "."


def _related(found: _Open) -> list[Related]:
    out: list[Related] = []
    for c, _ in found.items[:3]:
        out += [
            related(c.gateway, ("metadata",), f"explicit egress gateway carrying {c.host}"),
            related(c.route, c.path, f"sends {c.host} on from the gateway"),
            related(c.service_entry, ("spec", "hosts"), f"registers {c.host}"),
        ]
    return out


# ---- findings ------------------------------------------------------------------------------
def _message(
    graph: MeshGraph, subject: str, namespace: str, mode: str, found: _Open, note: str = ""
) -> str:
    c = found.items[0][0]
    return (
        f"{subject} can reach {_what(found)}{note}: "
        f"{_path(graph, c, mode, namespace)}, and no egress NetworkPolicy in '{namespace}' "
        f"blocks TCP {'/'.join(map(str, found.ports()))}. {_fix(graph, namespace, mode, found)}"
    )


def _label_path(ns: Resource, mode: str) -> Path:
    labels = (DATAPLANE_MODE,) if mode == AMBIENT else SIDECAR_LABELS
    for label in labels:
        if label in ns.labels:
            return ("metadata", "labels", label)
    return ("metadata",)


def _on_namespace(
    graph: MeshGraph, ns: Resource, mode: str, wls: list[tuple[Workload, _Open]]
) -> Finding:
    ports: dict[int, tuple[Carried, set[int]]] = {}
    for found in {id(f): f for _, f in wls}.values():  # workloads share memoized answers
        for c, open_ports in found.items:
            ports.setdefault(id(c), (c, set()))[1].update(open_ports)
    merged = _Open([(c, sorted(p)) for c, p in ports.values()])
    names = listed(dict.fromkeys(w.resource.name for w, _ in wls))
    subject = f"{ns.ref} runs {mode} workloads ({names}) that"
    rel = [
        related(w.resource, (*w.template_path, "metadata"), "pods not locked down")
        for w, _ in wls[:5]
    ]
    return RULE.at(
        ns,
        _label_path(ns, mode),
        _message(graph, subject, ns.name, mode, merged),
        rel + _related(merged),
    )


def _on_workload(graph: MeshGraph, wl: Workload, mode: str, found: _Open) -> Finding:
    subject = f"{wl.resource.ref} runs {mode} pods that"
    return RULE.at(
        wl.resource,
        (*wl.template_path, "metadata", "labels"),
        _message(graph, subject, wl.namespace, mode, found),
        _related(found),
    )


def _on_opener(graph: MeshGraph, policy: Resource, path: Path, mode: str, found: _Open) -> Finding:
    what = "an ipBlock admitting public addresses" if path[-1] == "cidr" else "a rule without 'to'"
    c = found.items[0][0]
    return RULE.at(
        policy,
        path,
        f"{policy.ref} gives {mode} pods in namespace '{policy.namespace}' egress to the internet "
        f"({what}): they can reach {_what(found)}. Limit the rule to "
        f"in-cluster destinations or specific vendor CIDRs, so that {c.host} is reachable only "
        f"through {c.gateway.ref}.",
        _related(found),
    )


@dataclass
class _Namespace:
    mode: str
    unlocked: list[tuple[Workload, _Open]] = field(default_factory=list)
    openers: dict[Resource, _Open] = field(default_factory=dict)


def _survey(graph: MeshGraph) -> dict[tuple[str, str], _Namespace]:
    """Per client namespace and data plane mode: workloads that can reach carried hosts
    directly, and the policies that open the internet to them."""
    out: dict[tuple[str, str], _Namespace] = {}
    for wl in graph.workloads():
        mode = _mode(graph, wl)
        if mode is None or not _judged(graph, mode):
            continue
        policies = graph.network_policies_for(wl.namespace, wl.labels)
        found = _reachable(graph, wl.namespace, mode, policies)
        if not found.items:
            continue
        entry = out.setdefault((wl.namespace, mode), _Namespace(mode))
        openers = [p for p in policies if bypass.opens_internet(p)]
        for p in openers:
            entry.openers.setdefault(p, found)
        if not openers:
            entry.unlocked.append((wl, found))
    return out


def _from_workloads(graph: MeshGraph, note: bool) -> Iterator[Finding]:
    for (name, _), entry in _survey(graph).items():
        found: list[Finding] = []
        for policy, reach in entry.openers.items():
            found += [
                _on_opener(graph, policy, p, entry.mode, reach)
                for p in bypass.internet_rules(policy)
            ]
        ns = graph.namespace(name)
        labelled = ns is not None and _namespace_mode(graph, ns) == entry.mode
        if entry.unlocked and ns is not None and labelled:
            found.append(_on_namespace(graph, ns, entry.mode, entry.unlocked))
        elif entry.unlocked:
            found += [_on_workload(graph, w, entry.mode, f) for w, f in entry.unlocked]
        for f in found:
            if note and entry.mode == AMBIENT:
                f.level = "note"
            yield f


def _without_workloads(graph: MeshGraph) -> Iterator[Finding]:
    skip = gateways.homes(graph)
    for ns in graph.of_kind("Namespace"):
        mode = _namespace_mode(graph, ns)
        if mode is None or not _judged(graph, mode):
            continue
        if ns.name in skip or bypass.hosts_waypoint(graph, ns.name):
            continue  # a gateway's or waypoint's home, not a client
        found = _reachable(graph, ns.name, mode, graph.network_policies_for(ns.name, {}))
        if not found.items:
            continue
        subject = f"{ns.ref} is enrolled in {mode} mode and its pods"
        note = " (no workloads in the view to check)"
        f = RULE.at(
            ns,
            _label_path(ns, mode),
            _message(graph, subject, ns.name, mode, found, note),
            _related(found),
        )
        f.level = "note"
        yield f


# ---- a waypoint that sends a carried host straight out -------------------------------------
def _waypoint_notes(graph: MeshGraph) -> Iterator[Finding]:
    by_se: dict[Resource, list[Carried]] = {}
    for c in _carried(graph):
        waypoint = _effective_waypoint(graph, c.service_entry)
        if waypoint is not None and gateways.waypoint_route(graph, c, waypoint) is None:
            by_se.setdefault(c.service_entry, []).append(c)
    for se, items in by_se.items():
        yield _waypoint_note(graph, se, items)


def _host_path(graph: MeshGraph, se: Resource, host: str) -> Path:
    for i, name in enumerate(graph.se_hosts(se)):
        if name == host or (name.startswith("*") and host.endswith(name[1:])):
            return ("spec", "hosts", i)
    return ("spec", "hosts")


def _waypoint_note(graph: MeshGraph, se: Resource, items: list[Carried]) -> Finding:
    """At the misplaced mesh route's namespace when there is one (moving it is the fix), else
    at the ServiceEntry's host (a route for it is missing)."""
    waypoint = graph.waypoint_of(se)
    assert waypoint is not None
    c = items[0]
    hosts = listed(dict.fromkeys(i.host for i in items), limit=3)
    where = " or ".join(f"'{n}'" for n in dict.fromkeys((waypoint.namespace, se.namespace)))
    rel = [
        related(waypoint, ("metadata",), "the waypoint that egresses directly"),
        related(c.route, c.path, f"sends {c.host} on from the gateway"),
    ]
    misplaced = gateways.routes_to(graph, gateways.gateway_of(graph, c), c.host)
    if misplaced:
        route = misplaced[0].resource
        f = RULE.at(
            route,
            ("metadata", "namespace") if "namespace" in route.metadata else ("metadata",),
            f"{route.ref} sends {c.host} to egress gateway {c.gateway.ref}, but {se.ref} is "
            f"bound to waypoint {waypoint.ref}, which applies mesh routes of namespace {where} "
            f"only: it sends {hosts} straight out and ambient clients never reach the gateway. "
            f"Move the route into namespace {where}.",
            [related(se, _host_path(graph, se, c.host), f"registers {c.host}"), *rel],
        )
    else:
        f = RULE.at(
            se,
            _host_path(graph, se, c.host),
            f"{se.ref} is bound to waypoint {waypoint.ref}, and no mesh route the waypoint "
            f"applies sends {hosts} to egress gateway {c.gateway.ref} ({c.route.ref} carries it): "
            f"the waypoint sends it straight out and ambient clients never reach the gateway. "
            f"Add a route in namespace {where} "
            f"that sends {c.host} to {gateways.service_phrase(graph, c)} (an HTTPRoute with "
            f"parentRef {se.ref}, or a VirtualService for {c.host} bound to mesh), or drop the "
            f"gateway's route if the waypoint is meant to control {c.host}.",
            rel,
        )
    f.level = "note"
    return f


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    if not gateways.explicit_gateways(graph) or not bypass.runs_ambient(graph):
        return
    yield from _waypoint_notes(graph)
    if graph.workloads():
        yield from _from_workloads(graph, bypass.ztunnel_backstop(graph))
    else:
        yield from _without_workloads(graph)
