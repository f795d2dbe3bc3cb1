"""ServiceEntries are bound to a waypoint whose `istio.io/waypoint-for` excludes service traffic,
so their traffic bypasses it.

**Why it matters.** A ServiceEntry is a *service*: the waypoint must take `service` or `all`
traffic. The effective type is the Gateway's `istio.io/waypoint-for` label, else its
GatewayClass's label, else `service`. With `workload` or `none` Istio refuses the binding
(`UnsupportedTrafficType`) and ztunnel sends the traffic straight to the external host.

**When it fires.** For each waypoint Gateway in the repository with ServiceEntries bound to it
whose effective `istio.io/waypoint-for` is `workload` or `none`. The finding points at the label
that decides (on the Gateway, or on its GatewayClass), and lists the bound ServiceEntries.
`enterprise-agentgateway-waypoint` Gateways use `all`, which is fine.

**How to fix.** Set `istio.io/waypoint-for: service` (or `all` when the waypoint must also take
workload traffic) on the Gateway, or remove the label to get the `service` default.

Holds since Istio 1.22 (`waypoint-for`; GatewayClass label since 1.23). Sources: istio.io
"Configure waypoint proxies" (waypoint traffic types); `pilot/pkg/serviceregistry/ambient/
waypoints.go` (`fetchWaypointForService`).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh.graph import WAYPOINT_FOR, MeshGraph
from egresslint.model import Finding, Resource, listed

RULE = Rule(
    id="EGL104",
    name="waypoint-traffic-type-mismatch",
    tag="bypass",
    level="error",
    summary="ServiceEntries bound to a waypoint for workload/none traffic only; their traffic goes direct.",
    kinds=("Gateway", "GatewayClass", "ServiceEntry"),
    security_severity="8.0",
)

_LABEL = ("metadata", "labels", WAYPOINT_FOR)


def _finding(graph: MeshGraph, gw: Resource, kind: str, bound: list[Resource]) -> Finding:
    rel = [related(se, ("metadata", "labels"), "bound to this waypoint") for se in bound[:10]]
    if WAYPOINT_FOR in gw.labels:
        where, path = "its label", _LABEL
    else:
        cls = graph.get("GatewayClass", "", graph.gateway_class(gw))
        where, path = f"its GatewayClass '{graph.gateway_class(gw)}'", ("spec", "gatewayClassName")
        if cls is not None:
            rel.insert(0, related(cls, _LABEL, "sets the traffic type for its Gateways"))
    names = listed(se.name for se in bound)
    return RULE.at(
        gw,
        path,
        f"{gw.ref} takes only '{kind}' traffic ({where} istio.io/waypoint-for), but "
        f"ServiceEntries are bound to it ({names}): Istio refuses the binding "
        "(UnsupportedTrafficType) and their traffic goes directly to the external host. Set "
        "istio.io/waypoint-for: service (or all) on the Gateway.",
        rel,
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for gw in graph.waypoints():
        kind = graph.waypoint_for(gw)
        if kind not in ("workload", "none"):
            continue
        bound = graph.bound_to(gw)
        if bound:
            yield _finding(graph, gw, kind, bound)
