"""A waypoint Gateway has no listener on port 15008 with protocol `HBONE`.

**Why it matters.** Istio waypoints (`istio-waypoint`, and the agentgateway waypoint classes)
expect exactly one listener, port `15008`, protocol `HBONE`. Any other listener is marked
`Accepted: False` (`UnsupportedProtocol`, "Expected a single listener on port 15008 with
protocol HBONE"). Istio reads the waypoint's `allowedRoutes` from that listener; without it only
the Gateway's own namespace may bind, so bindings from any other namespace are refused and
their traffic goes direct.

**When it fires.** For Gateways of class `istio-waypoint`, `istio-agentgateway-waypoint` or
`enterprise-agentgateway-waypoint` (or of a GatewayClass in the repository whose controller is
`istio.io/mesh-controller`) that have no such listener. Other classes, including
`solo-ztunnel-egress` and sandwich waypoints with an inbound-binding annotation, are not
checked: their listener conventions are not documented here.

**How to fix.** Give the Gateway the listener
`{name: mesh, port: 15008, protocol: HBONE}` (add `allowedRoutes.namespaces` for
cross-namespace use).

Sources: `pilot/pkg/config/kube/gateway/conversion.go` (`unexpectedWaypointListener`);
istio.io "Use agentgateway as a waypoint" (a single listener named `mesh` on port 15008 using
HBONE); `pilot/pkg/serviceregistry/ambient/waypoints.go` (`makeAllowedRoutes`).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass
from egresslint.mesh.graph import USE_WAYPOINT, MeshGraph
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL105",
    name="waypoint-missing-hbone-listener",
    tag="bypass",
    level="warning",
    summary="Waypoint Gateway without a port-15008 HBONE listener; cross-namespace bindings are refused.",
    kinds=("Gateway",),
    security_severity="5.0",
)


def _foreign_bindings(graph: MeshGraph, gw: Resource) -> list[Resource]:
    return [se for se in graph.bound_to(gw) if se.namespace != gw.namespace]


def _finding(graph: MeshGraph, gw: Resource) -> Finding:
    path = ("spec", "listeners") if "listeners" in gw.spec else ("spec",)
    foreign = _foreign_bindings(graph, gw)
    rel = [
        related(se, ("metadata", "labels", USE_WAYPOINT), "bound from another namespace")
        for se in foreign[:10]
    ]
    tail = (
        f" {len(foreign)} ServiceEntr{'y' if len(foreign) == 1 else 'ies'} from other namespaces "
        "bind to it and are refused, so their traffic goes direct."
        if foreign
        else ""
    )
    return RULE.at(
        gw,
        path,
        f"{gw.ref} (class {graph.gateway_class(gw)}) has no listener on port 15008 with protocol "
        "HBONE: Istio marks its listeners UnsupportedProtocol and admits bindings only from "
        f"namespace '{gw.namespace}'.{tail} Add the listener "
        "{name: mesh, port: 15008, protocol: HBONE}.",
        rel,
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for gw in graph.of_kind("Gateway"):
        if not bypass.istio_managed(graph, gw) or bypass.INBOUND_BINDING in gw.annotations:
            continue
        if bypass.hbone_listener(gw) is None:
            yield _finding(graph, gw)
