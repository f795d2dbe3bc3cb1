"""Several VirtualServices route one host at its egress waypoint, and the waypoint does not use
the routes of some of them: before Istio 1.28.6 and 1.29.2 it applies only one of them, since
then a catch-all route of an earlier one hides the routes of the later ones.

**Why it matters.** A waypoint applies to a ServiceEntry host the mesh VirtualServices of its own
namespace and of the ServiceEntry's namespace whose hosts match it, in istiod's order:
VirtualServices exported only to the waypoint's namespace first, then those exported to it by
name, then those exported to every namespace; within each group, from Istio 1.30, oldest first
(creation time, then name, then namespace; manifests carry no creation time, so for resources
applied together the name decides), and before 1.30 in no fixed order (the informer's), which
can change at any push. For HTTP, Istio up to 1.25 uses only the first of them at all, 1.26 to
1.28.5 and 1.29.0 to 1.29.1 only the first that has HTTP routes; 1.28.6, 1.29.2 and 1.30 merge
the HTTP routes of all of them in order, each VirtualService's list ending at its first catch-all
route. For TLS and TCP (from 1.26) the first matching rule of the ordered VirtualServices wins,
TLS rules before TCP rules. So the routes of a later VirtualService either never reach the
waypoint or sit behind a route that takes every request. The routes of an egress VirtualService
are egress controls: a fault abort that refuses some paths or methods, a redirect or a route to
an egress gateway, TLS origination on another port, header rules, timeouts. When the waypoint
drops them, traffic to the external host leaves without them, which is why this is a `bypass`
finding. `istioctl analyze` reports VirtualServices with the same host for the mesh gateway as
IST0109 (ConflictingMeshGatewayVirtualServiceHosts).

**When it fires.** For every host of a ServiceEntry bound to an Envoy waypoint
(`istio.io/use-waypoint`; not `solo-ztunnel-egress` or agentgateway classes, which do not read
VirtualServices, and not a ServiceEntry without a VIP, whose traffic ztunnel never sends there:
EGL110), over the VirtualServices the waypoint reads for it: bound to `mesh` (no `gateways`, or
listing `mesh`), in the waypoint's or the ServiceEntry's namespace, visible in the waypoint's
namespace (`exportTo`), with a host that matches the ServiceEntry host (wildcards either way).
Following `--istio-version`:

* up to 1.25, and 1.26 to 1.28.5 and 1.29.0 to 1.29.1: each VirtualService with HTTP routes that
  another one (up to 1.25 any, then one with HTTP routes) comes, or may come, before;
* 1.28.6+, 1.29.2+ and 1.30+: each VirtualService with HTTP routes that a VirtualService with a
  catch-all HTTP route (a rule without `match`, or a match on nothing but `uri` prefix `/` or
  regex `.*`) comes, or may come, before;
* from 1.26, the same for TLS rules behind a TLS rule without `match`, and for TCP rules behind a
  TCP rule without `match` where none of them has TLS rules.

Where the order is not fixed (two VirtualServices of one group before 1.30), one finding is
reported for the pair, on the later by name, and it says that the order can change. The finding
is on the host entry of the VirtualService whose routes go unused, with the one before it as
related location.

istioctl's analyzer reports any two mesh VirtualServices with the same host and overlapping
`exportTo`, for sidecars as well; egresslint judges only what a waypoint does with them, and
reports only VirtualServices whose routes the waypoint does not (or may not) use.

**How to fix.** Put the routes of one host into one VirtualService, the specific routes before the
catch-all one; or move the later VirtualService's routes into the first and delete it.

Sources: istio/istio `pilot/pkg/networking/core/listener_waypoint.go`
(`getVirtualServiceForWaypoint`, `buildWaypointInboundHTTPRouteConfig`: the first VirtualService
1.24.0-1.25.5, the first with HTTP routes 1.26.0-1.28.5 and 1.29.0-1.29.1, all merged 1.28.6,
1.29.2 and 1.30.0-1.30.3; `waypointInboundRoute` stops at a catch-all route;
`getWaypointTCPRoutes` 1.26.0-1.30.3), `pilot/pkg/networking/core/route/route.go`
(`IsCatchAllRoute`, 1.30.3), `pilot/pkg/model/push_context.go` (`initVirtualServices`,
`VirtualServicesForGateway`: the groups, 1.24.0-1.30.3; the list from the config store's
informer, 1.24.0-1.29.6), `pilot/pkg/model/virtualservice_controller.go`
(`MergedVirtualServices`) and `pilot/pkg/model/config.go` (`sortConfigByCreationTime`), 1.30.0
and 1.30.3; istioctl `pkg/config/analysis/analyzers/virtualservice/conflictingmeshgatewayhosts.go`
(1.30.3).
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import reach
from egresslint.mesh.gateways import MESH, vs_gateways
from egresslint.mesh.graph import MeshGraph
from egresslint.mesh.selectors import fqdn
from egresslint.model import Finding, Path, Resource, as_list, as_map, enumerate_maps

RULE = Rule(
    id="EGL119",
    name="waypoint-virtual-services-conflict",
    tag="bypass",
    level="warning",
    summary="Several VirtualServices for one host at its waypoint: the later ones' routes unused.",
    kinds=("VirtualService", "ServiceEntry"),
    security_severity="5.0",
    istio_analyzer=("IST0109",),
)

Version = tuple[int, int, int]
FIRST_WITH_HTTP_SINCE: Version = (1, 26, 0)  # before: the first VirtualService at all
TCP_ROUTES_SINCE: Version = (1, 26, 0)  # before: waypoints apply no TLS/TCP routes
ORDERED_SINCE: Version = (1, 30, 0)  # before: no fixed order within a group
_RANKS = (
    "VirtualServices exported only to the waypoint's namespace",
    "VirtualServices exported to it by name",
    "VirtualServices exported to every namespace",
)
_CATCH_ALL_KEYS = frozenset({"name", "uri", "ignoreUriCase", "statPrefix"})
ALWAYS, MAYBE = "always", "maybe"


def merges_http(version: Version) -> bool:
    """Whether the waypoint merges the HTTP routes of every VirtualService of a host."""
    return version >= (1, 29, 2) or (1, 28, 6) <= version < (1, 29, 0)


@dataclass(frozen=True)
class _Read:
    """A VirtualService the waypoint reads for a host: its group, sort key and host entry."""

    vs: Resource
    rank: int
    key: tuple[int, str, str, str]
    host_index: int


@dataclass(frozen=True)
class _Hit:
    """A VirtualService whose routes the waypoint does not use, and the one before it."""

    hidden: _Read
    first: _Read
    first_path: Path
    case: str  # "first" (up to 1.25), "first-http" (until the merge), "catch-all"
    label: str  # HTTP, TLS or TCP
    certainty: str  # ALWAYS, or MAYBE (before 1.30, within a group)


# ---- which VirtualServices a waypoint reads, in its order -------------------------------------
def _rank(vs: Resource, waypoint_ns: str) -> int | None:
    """istiod's group of the VirtualService for a proxy in ``waypoint_ns`` (None: not visible)."""
    export = {str(e) for e in as_list(vs.spec.get("exportTo"))}
    if not export or "*" in export:
        return 2
    if "~" in export:
        return None
    if vs.namespace == waypoint_ns and ("." in export or vs.namespace in export):
        return 0
    return 1 if waypoint_ns in export else None


def _key(vs: Resource, rank: int) -> tuple[int, str, str, str]:
    created = vs.metadata.get("creationTimestamp")
    return (rank, str(created) if created else "", vs.name, vs.namespace)


def host_overlap(a: str, b: str) -> bool:
    """Istio's ``host.Name.Matches``: equal, or a wildcard of one covering the other."""
    if a.startswith("*") and b.startswith("*"):
        return b[1:].endswith(a[1:]) if len(a) < len(b) else a[1:].endswith(b[1:])
    if a.startswith("*"):
        return b.endswith(a[1:])
    if b.startswith("*"):
        return a.endswith(b[1:])
    return a == b


def _host_index(vs: Resource, host: str) -> int | None:
    for i, h in enumerate(as_list(vs.spec.get("hosts"))):
        if isinstance(h, str) and h.strip() and host_overlap(fqdn(h, vs.namespace), host):
            return i
    return None


def _read(graph: MeshGraph, se: Resource, waypoint_ns: str, host: str) -> list[_Read]:
    """The VirtualServices the waypoint applies to ``host``, in istiod's order (1.30)."""
    found: dict[Resource, _Read] = {}
    for ns in dict.fromkeys((waypoint_ns, se.namespace)):
        for vs in graph.in_namespace("VirtualService", ns):
            rank = _rank(vs, waypoint_ns)
            index = _host_index(vs, host)
            if rank is not None and index is not None and MESH in vs_gateways(vs):
                found[vs] = _Read(vs, rank, _key(vs, rank), index)
    return sorted(found.values(), key=lambda r: r.key)


def _precedes(a: _Read, b: _Read, version: Version) -> str | None:
    """Whether istiod puts ``a`` before ``b``: always, maybe (no fixed order), or never."""
    if version >= ORDERED_SINCE:
        return ALWAYS if a.key < b.key else None
    if a.rank != b.rank:
        return ALWAYS if a.rank < b.rank else None
    return MAYBE


# ---- what each VirtualService contributes -----------------------------------------------------
def _rules(vs: Resource, kind: str) -> list[tuple[int, Mapping[str, Any]]]:
    return list(enumerate_maps(vs.spec.get(kind)))


def _catch_all_match(match: Mapping[str, Any]) -> bool:
    if not set(match) <= _CATCH_ALL_KEYS:
        return False
    uri = as_map(match.get("uri"))
    return not uri or uri in ({"prefix": "/"}, {"regex": ".*"})


def _catch_all(vs: Resource, kind: str) -> Path | None:
    """The first rule of ``kind`` that takes every request (HTTP: also a catch-all match)."""
    for i, rule in _rules(vs, kind):
        match = rule.get("match")
        if match is None or match == []:
            return ("spec", kind, i)
        if kind == "http":
            for j, m in enumerate_maps(match):
                if _catch_all_match(m):
                    return ("spec", kind, i, "match", j)
    return None


def _first_before(
    later: _Read, earlier: list[tuple[_Read, Path]], version: Version, tie_by_key: bool
) -> tuple[_Read, Path, str] | None:
    """The first of ``earlier`` that istiod may put before ``later`` (a tie within a group
    counts only when ``tie_by_key`` is off or it sorts first: one finding per pair)."""
    for read, path in earlier:
        if read.vs is later.vs:
            continue
        how = _precedes(read, later, version)
        if how == ALWAYS or (how == MAYBE and (not tie_by_key or read.key < later.key)):
            return read, path, how
    return None


def _used_first(ordered: list[_Read], version: Version) -> Iterator[_Hit]:
    """Before the merge: the waypoint uses one VirtualService (up to 1.25 the first at all,
    then the first with HTTP routes) and ignores the HTTP routes of the others."""
    with_http = [r for r in ordered if _rules(r.vs, "http")]
    early = version < FIRST_WITH_HTTP_SINCE
    candidates = [(r, ("metadata", "name")) for r in (ordered if early else with_http)]
    for read in with_http:
        found = _first_before(read, candidates, version, tie_by_key=True)
        if found is not None:
            first, path, how = found
            yield _Hit(read, first, path, "first" if early else "first-http", "HTTP", how)


def _shadowed(ordered: list[_Read], kind: str, label: str, version: Version) -> Iterator[_Hit]:
    """VirtualServices with ``kind`` rules that a catch-all ``kind`` rule of another one, put
    before them, hides."""
    users = [r for r in ordered if _rules(r.vs, kind)]
    catch_alls = [(r, path) for r in users if (path := _catch_all(r.vs, kind)) is not None]
    has_own = {r.vs for r, _ in catch_alls}
    for read in users:
        found = _first_before(read, catch_alls, version, tie_by_key=read.vs in has_own)
        if found is not None:
            yield _Hit(read, found[0], found[1], "catch-all", label, found[2])


def _hits(ordered: list[_Read], version: Version) -> Iterator[_Hit]:
    if merges_http(version):
        yield from _shadowed(ordered, "http", "HTTP", version)
    else:
        yield from _used_first(ordered, version)
    if version < TCP_ROUTES_SINCE:
        return
    with_tls = [r for r in ordered if _rules(r.vs, "tls")]
    yield from _shadowed(with_tls, "tls", "TLS", version)
    if not with_tls:
        yield from _shadowed(ordered, "tcp", "TCP", version)


# ---- findings ---------------------------------------------------------------------------------
def _order_text(hit: _Hit) -> str:
    first, hidden = hit.first, hit.hidden
    if hit.certainty == MAYBE:
        return (
            "before Istio 1.30 istiod keeps them in no fixed order, so which one comes first "
            "can change at any push"
        )
    if first.rank != hidden.rank:
        return f"{_RANKS[first.rank]} come before {_RANKS[hidden.rank]}"
    if first.key[1] and hidden.key[1] and first.key[1] != hidden.key[1]:
        return "it was created earlier"
    return "istiod orders them by creation time, then by name; created together, by name"


def _version_text(version: Version) -> str:
    return ".".join(map(str, version if version[2] else version[:2]))


def _why(hit: _Hit, version: Version) -> str:
    first, label, order = hit.first.vs.ref, hit.label, _order_text(hit)
    may = "may come" if hit.certainty == MAYBE else "comes"
    if hit.case == "first":
        return (
            f"Istio {_version_text(version)} applies only the first VirtualService of a host at "
            f"a waypoint, and {first} {may} first ({order}): the waypoint then ignores this "
            "one's HTTP routes"
        )
    if hit.case == "first-http":
        return (
            f"Istio {_version_text(version)} applies only the first VirtualService with HTTP "
            f"routes of a host at a waypoint (1.28.6, 1.29.2 and 1.30 merge them), and {first} "
            f"{may} first ({order}): the waypoint then ignores this one's HTTP routes"
        )
    return (
        f"the waypoint takes the {label} routes of the host's VirtualServices in order, and "
        f"{first} {may} first ({order}) with a catch-all {label} route that takes every "
        f"request: this one's {label} routes are then never used"
    )


def _finding(hit: _Hit, se: Resource, host: str, waypoint: str, version: Version) -> Finding:
    hidden = hit.hidden.vs
    return RULE.at(
        hidden,
        ("spec", "hosts", hit.hidden.host_index),
        f"{hidden.ref} routes {host}, which {se.ref} binds to waypoint {waypoint}, but "
        f"{_why(hit, version)}, and traffic to the host leaves without them. Put the routes of "
        "the host into one VirtualService, the specific routes before a catch-all.",
        [
            related(hit.first.vs, hit.first_path, "the VirtualService the waypoint uses first"),
            related(se, ("spec", "hosts"), f"registers {host}"),
        ],
    )


def _waypoint(graph: MeshGraph, se: Resource) -> str | None:
    """``namespace/name`` of the Envoy waypoint the ServiceEntry's traffic goes through."""
    binding = graph.binding(se)
    if binding is None or binding.opted_out or not reach.envoy_applies(graph, se):
        return None
    if reach.bound_without_vip(graph, se) is not None:
        return None
    return f"{binding.namespace}/{binding.name}"


def check(ctx: Context) -> Iterator[Finding]:
    graph, version = ctx.graph, ctx.istio_version
    seen: set[tuple[Resource, int]] = set()
    for se in graph.of_kind("ServiceEntry"):
        waypoint = _waypoint(graph, se)
        if waypoint is None:
            continue
        for host in graph.se_hosts(se):
            ordered = _read(graph, se, waypoint.partition("/")[0], host)
            for hit in _hits(ordered, version) if len(ordered) > 1 else ():
                if (hit.hidden.vs, hit.hidden.host_index) not in seen:
                    seen.add((hit.hidden.vs, hit.hidden.host_index))
                    yield _finding(hit, se, host, waypoint, version)
