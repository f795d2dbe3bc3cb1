"""A VirtualService routes or mirrors requests to a host, port or subset that nothing defines, so
the requests sent there fail.

**Why it matters.** A route destination names a service of Istio's registry: a ServiceEntry host
(an external host) or a Kubernetes Service (`name.namespace.svc.cluster.local`, or a short name
resolved in the VirtualService's namespace), optionally one of its ports and a subset that a
DestinationRule for the host defines. The proxy that applies the route (the egress waypoint for a
host bound to it, a sidecar, a gateway) builds a cluster only for what exists: a route to a host
nobody registers, to a port the service does not declare or to an undefined subset points at a
cluster that is not there, and every request it takes fails (HTTP 503, or a reset TCP
connection); a mirror to one silently mirrors nothing. `istioctl analyze` reports the same
destinations as IST0101 (ReferencedResourceNotFound).

**When it fires.** For the destinations of every `http`, `tls` and `tcp` route and every HTTP
`mirror` and `mirrors` entry, as istioctl's analyzers check them:

* the host (a short name resolved in the VirtualService's namespace) matches no ServiceEntry host
  (exactly, or by a wildcard host such as `*.example.com`; the full wildcard `*` registers
  nothing, validation rejects it) and is no Service of the repository. A repository rarely holds
  every service, so this is a warning only when the view is declared complete (`--complete`)
  or, for an external host, when a ServiceEntry of the view registers a host of the
  VirtualService itself (the repository manages that egress path's registry); else it is a
  note (a host in the cluster domain may be a Service deployed from elsewhere, an external host
  may be registered by another repository), and no note at all when a DestinationRule of the
  view names the host (EGL203 reports that rule's missing registration once).
* the host is registered, but only by ServiceEntries or Services whose `exportTo` (for a
  Service, the `networking.istio.io/exportTo` annotation) leaves out the VirtualService's
  namespace, or the namespaces of its own `exportTo`: a note, as a waypoint reads visibility
  from its own namespace, not the route's.
* the destination sets `port.number` and no ServiceEntry or Service that registers the host (and
  is exported there) declares that port (warning). Registrations that declare no port at all
  are not judged.
* the destination sets a `subset` and no DestinationRule for the host (its host equal, or a
  wildcard covering it) defines a subset of that name: a warning when the view has a
  DestinationRule for the host, else a note (unless complete), as the rule may be applied from
  elsewhere. Not checked when the host is unregistered and no DestinationRule names it.

Deliberate differences from istioctl: a DestinationRule for the host in any namespace counts
(istioctl's analyzer pairs an external host only with rules of the VirtualService's own
namespace); a port counts when any registration of the host declares it (istioctl looks at
one). A destination without a host is a schema error (EGL003).

**How to fix.** Correct the host name, port or subset; register an external host with a
ServiceEntry (bound to the egress waypoint); add the missing port to the ServiceEntry or
Service, or the subset to the DestinationRule; export the ServiceEntry to the namespace that
uses it.

Holds since Istio 1.24. Sources: istio/istio
`pkg/config/analysis/analyzers/virtualservice/destinationhosts.go` (host, mirror host, host:port),
`virtualservice/destinationrules.go` (subsets), `virtualservice/util.go` (which destinations),
`util/service_lookup.go` (`InitServiceEntryHostMap`, `GetDestinationHost`: exportTo scopes,
Services as hosts, wildcard hosts) and `util/hosts.go` (short names), 1.24.0 and 1.30.3; short
names resolve in the route's namespace (`ResolveShortnameToFQDN`, `pilot/pkg/model/config.go`,
1.30.3).
"""

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio
from egresslint.mesh.graph import MeshGraph
from egresslint.mesh.hostindex import HostIndex
from egresslint.mesh.selectors import fqdn, host_matches
from egresslint.model import (
    Finding,
    Path,
    Related,
    Resource,
    as_list,
    as_map,
    enumerate_maps,
    listed,
)

RULE = Rule(
    id="EGL217",
    name="vs-destination-not-found",
    tag="unreachable",
    level="warning",
    summary="VirtualService route or mirror to a host, port or subset that nothing defines.",
    kinds=("VirtualService", "ServiceEntry", "Service", "DestinationRule"),
    precision="medium",
    istio_analyzer=("IST0101",),
)

EXPORT_ANNOTATION = "networking.istio.io/exportTo"
CLUSTER_SUFFIXES = (".cluster.local", ".svc", ".local")
SERVICE_SUFFIX = ".svc.cluster.local"


@dataclass(frozen=True)
class _Dest:
    """One destination of a VirtualService: where it stands and what it names."""

    path: Path  # of the destination mapping
    verb: str  # "routes" or "mirrors"
    host: str  # resolved in the VirtualService's namespace
    port: int | None
    subset: str


@dataclass(frozen=True)
class _Entry:
    """A ServiceEntry or Service registering a host: its ports and whom it is exported to."""

    resource: Resource
    ports: frozenset[int]
    scopes: frozenset[str]  # namespaces, "*" for every namespace
    ports_path: Path


# ---- what a VirtualService names --------------------------------------------------------------
def _dest(vs: Resource, path: Path, verb: str, value: Any) -> _Dest | None:
    dest = as_map(value)
    host = dest.get("host")
    if not isinstance(host, str) or not host.strip():
        return None
    number = as_map(dest.get("port")).get("number")
    port = number if isinstance(number, int) and not isinstance(number, bool) else None
    subset = dest.get("subset")
    return _Dest(
        path, verb, fqdn(host, vs.namespace), port, subset if isinstance(subset, str) else ""
    )


def destinations(vs: Resource) -> Iterator[_Dest]:
    """Route destinations (tcp, tls, http), then HTTP mirrors, as istioctl's analyzers list them."""
    found: list[_Dest | None] = []
    for proto in ("tcp", "tls", "http"):
        for i, rule in enumerate_maps(vs.spec.get(proto)):
            for j, route in enumerate_maps(rule.get("route")):
                path = ("spec", proto, i, "route", j, "destination")
                found.append(_dest(vs, path, "routes", route.get("destination")))
    for i, rule in enumerate_maps(vs.spec.get("http")):
        if isinstance(rule.get("mirror"), Mapping):
            found.append(_dest(vs, ("spec", "http", i, "mirror"), "mirrors", rule["mirror"]))
        for j, mirror in enumerate_maps(rule.get("mirrors")):
            path = ("spec", "http", i, "mirrors", j, "destination")
            found.append(_dest(vs, path, "mirrors", mirror.get("destination")))
    yield from (d for d in found if d is not None)


def _lookup_namespaces(vs: Resource) -> frozenset[str]:
    """Where istioctl looks the host up: the VirtualService's namespace, or its exportTo's."""
    export = [e for e in as_list(vs.spec.get("exportTo")) if isinstance(e, str)]
    if not export:
        return frozenset({vs.namespace})
    return frozenset(vs.namespace if e == "." else e for e in export)


# ---- the registry -----------------------------------------------------------------------------
def _scopes(export: list[str], namespace: str) -> frozenset[str]:
    if not export:
        return frozenset({"*"})
    return frozenset(namespace if e == "." else e for e in export)


def _se_entry(se: Resource) -> _Entry:
    export = [e for e in as_list(se.spec.get("exportTo")) if isinstance(e, str)]
    ports = {istio.port_number(p) for _, p in MeshGraph.ports(se)}
    return _Entry(
        se,
        frozenset(p for p in ports if p is not None),
        _scopes(export, se.namespace),
        ("spec", "ports"),
    )


def _service_entry(svc: Resource) -> _Entry:
    anno = svc.annotations.get(EXPORT_ANNOTATION, "")
    export = [e.strip() for e in anno.split(",")] if anno else []
    ports = {p.get("port") for _, p in enumerate_maps(svc.spec.get("ports"))}
    return _Entry(
        svc,
        frozenset(p for p in ports if isinstance(p, int) and not isinstance(p, bool)),
        _scopes(export, svc.namespace),
        ("spec", "ports"),
    )


def _covers(se: Resource, host: str) -> bool:
    """A host of the ServiceEntry covers ``host``; the full wildcard ``*`` does not count:
    validation rejects it ("invalid host *", ValidateServiceEntry)."""
    return any(
        h != "*" and (host_matches(h, host) or host_matches(host, h))
        for h in MeshGraph.se_hosts(se)
    )


def _registered(graph: MeshGraph, host: str, namespace: str) -> list[_Entry]:
    entries = [
        _se_entry(se) for se in graph.service_entries_for_host(host, namespace) if _covers(se, host)
    ]
    parts = host.split(".")
    if len(parts) == 5 and host.endswith(SERVICE_SUFFIX):
        svc = graph.get("Service", parts[1], parts[0])
        if svc is not None:
            entries.append(_service_entry(svc))
    return entries


def _visible(entry: _Entry, namespaces: frozenset[str]) -> bool:
    return "*" in entry.scopes or bool(entry.scopes & namespaces)


# ---- DestinationRules by host -----------------------------------------------------------------
@dataclass
class _Rules:
    exact: dict[str, list[Resource]]
    wildcard: HostIndex[Resource]

    def for_host(self, host: str) -> list[Resource]:
        found = self.exact.get(host, []) + self.wildcard.wildcards_covering(host)
        return list(dict.fromkeys(found))


def _rules(graph: MeshGraph) -> _Rules:
    def compute() -> _Rules:
        out = _Rules(defaultdict(list), HostIndex())
        for dr in graph.of_kind("DestinationRule"):
            host = dr.spec.get("host")
            if not isinstance(host, str) or not host.strip():
                continue
            name = fqdn(host, dr.namespace)
            if name.startswith("*"):
                out.wildcard.add_wildcard(name, dr)
            else:
                out.exact[name].append(dr)
        return out

    return graph.memo("EGL217.rules", compute)


def _subsets(dr: Resource) -> list[str]:
    names = (s.get("name") for _, s in enumerate_maps(dr.spec.get("subsets")))
    return [n for n in names if isinstance(n, str)]


# ---- judging one destination ------------------------------------------------------------------
def _in_cluster(host: str) -> bool:
    return host.endswith(CLUSTER_SUFFIXES) and not host.startswith("*")


def _manages(graph: MeshGraph, vs: Resource) -> bool:
    """A ServiceEntry of the view registers a host of the VirtualService itself."""
    hosts = [fqdn(h, vs.namespace) for h in as_list(vs.spec.get("hosts")) if isinstance(h, str)]
    return any(
        _covers(se, h) for h in hosts if h for se in graph.service_entries_for_host(h, vs.namespace)
    )


def _unregistered(graph: MeshGraph, vs: Resource, d: _Dest) -> Finding | None:
    complete = graph.scope.complete
    sure = complete or (not _in_cluster(d.host) and _manages(graph, vs))
    if not sure and _rules(graph).for_host(d.host):
        return None  # a DestinationRule of the view names the host too (EGL203 notes it)
    where = "the view (declared complete)" if complete else "the repository"
    if _in_cluster(d.host):
        unless = "" if sure else "unless the Service is deployed from elsewhere, "
        registry = "no Service or ServiceEntry"
    else:
        unless = "" if sure else "unless a ServiceEntry elsewhere registers it, "
        registry = "no ServiceEntry"
    consequence = _consequence(d)
    finding = RULE.at(
        vs,
        (*d.path, "host"),
        f"{vs.ref} {d.verb} to {d.host}, which {registry} in {where} registers: "
        f"{unless}{consequence} (no cluster for the host). Fix the host name, or "
        "register the host (a ServiceEntry bound to the egress waypoint for an external host).",
    )
    if not sure:
        finding.level = "note"
    return finding


def _consequence(d: _Dest) -> str:
    return "requests sent there fail" if d.verb == "routes" else "nothing is mirrored"


def _hidden(vs: Resource, d: _Dest, entries: list[_Entry]) -> Finding:
    spaces = listed(sorted(_lookup_namespaces(vs)))
    finding = RULE.at(
        vs,
        (*d.path, "host"),
        f"{vs.ref} {d.verb} to {d.host}, which {listed(e.resource.ref for e in entries)} "
        f"register(s), but not for namespace {spaces} (exportTo): a sidecar there has no "
        "cluster for the host, and istioctl analyze reports it as not found. Export the "
        "registration to the namespace that uses it, or move the VirtualService.",
        [_entry_related(e, "its exportTo leaves that namespace out") for e in entries],
    )
    finding.level = "note"
    return finding


def _entry_related(entry: _Entry, why: str) -> Related:
    res = entry.resource
    if res.kind == "ServiceEntry":
        path: Path = ("spec", "exportTo") if "exportTo" in res.spec else ("spec", "hosts")
    else:
        path = ("metadata", "annotations", EXPORT_ANNOTATION)
    return related(res, path, why)


def _bad_port(vs: Resource, d: _Dest, entries: list[_Entry]) -> Finding | None:
    declared = frozenset().union(*(e.ports for e in entries))
    if d.port is None or not declared or d.port in declared:
        return None  # no ports at all: a malformed registration, not judged here
    ports = listed(str(p) for p in sorted(declared))
    return RULE.at(
        vs,
        (*d.path, "port", "number"),
        f"{vs.ref} {d.verb} to port {d.port} of {d.host}, but "
        f"{listed(e.resource.ref for e in entries)} declare(s) only port(s) {ports}: the "
        f"destination names a cluster that does not exist and {_consequence(d)}. Use a "
        "declared port, or add the port to the registration.",
        [related(e.resource, e.ports_path, "the host's ports") for e in entries],
    )


def _bad_subset(graph: MeshGraph, vs: Resource, d: _Dest) -> Finding | None:
    if not d.subset:
        return None
    rules = _rules(graph).for_host(d.host)
    if any(d.subset in _subsets(dr) for dr in rules):
        return None
    path = (*d.path, "subset")
    if rules:
        defined = listed(f"'{s}'" for dr in rules for s in _subsets(dr)) or "none"
        return RULE.at(
            vs,
            path,
            f"{vs.ref} {d.verb} to subset '{d.subset}' of {d.host}, but "
            f"{listed(dr.ref for dr in rules)} define(s) only subset(s) {defined}: "
            f"{_consequence(d)} (no cluster for the subset). Fix the subset name, or add the "
            "subset to the DestinationRule.",
            [related(dr, ("spec", "host"), "the DestinationRule for the host") for dr in rules],
        )
    complete = graph.scope.complete
    finding = RULE.at(
        vs,
        path,
        f"{vs.ref} {d.verb} to subset '{d.subset}' of {d.host}, but no DestinationRule in "
        f"{'the view (declared complete)' if complete else 'the repository'} defines subsets "
        f"for that host: {'' if complete else 'unless one is applied from elsewhere, '}"
        f"{_consequence(d)} (no cluster for the subset). Add a DestinationRule with the subset, "
        "or drop the subset.",
    )
    if not complete:
        finding.level = "note"
    return finding


def _exact(entry: _Entry, host: str) -> bool:
    """The entry names the host itself (a Service, or a ServiceEntry host), not a wildcard."""
    res = entry.resource
    return res.kind != "ServiceEntry" or host in MeshGraph.se_hosts(res)


def _judge(graph: MeshGraph, vs: Resource, d: _Dest) -> Iterator[Finding]:
    entries = _registered(graph, d.host, vs.namespace)
    visible = [e for e in entries if _visible(e, _lookup_namespaces(vs))]
    if visible:
        port = _bad_port(vs, d, visible)
        if port is not None:
            yield port
    else:
        hidden = [e for e in entries if _exact(e, d.host)]
        found = _hidden(vs, d, hidden) if hidden else _unregistered(graph, vs, d)
        if found is not None:
            yield found
    if visible or _rules(graph).for_host(d.host):
        subset = _bad_subset(graph, vs, d)
        if subset is not None:
            yield subset


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for vs in graph.of_kind("VirtualService"):
        for d in destinations(vs):
            yield from _judge(graph, vs, d)
