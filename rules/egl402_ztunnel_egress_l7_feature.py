"""A host that egresses through the L4 `solo-ztunnel-egress` gateway is given an L7 feature
that gateway does not have: TLS origination, L7 routing or rate limiting.

**Why it matters.** ztunnel-native egress has no proxy pod: traffic leaves from the ztunnel
pod's network namespace and is handled at L4 only (source identity, destination port and
address). A DestinationRule that originates TLS, a VirtualService or HTTPRoute that routes,
rewrites or retries, and rate-limit configuration (an EnvoyFilter with a rate-limit filter, or
an agentgateway `rateLimit` policy) aimed at it are never applied. The application then talks
plain HTTP to a TLS port, or runs without the limits and routes you reviewed.

**When it fires.** For ServiceEntries whose effective waypoint is a Gateway of class
`solo-ztunnel-egress` (or, with no Gateway in the repository, when `--mode
solo-ztunnel-egress` is given): at the `tls` block of a DestinationRule with `mode: SIMPLE` or
`MUTUAL` for its host (when the port sends plain HTTP to a TLS port, e.g. `targetPort: 443`,
the calls fail; otherwise the traffic leaves unencrypted), at the `hosts` of a VirtualService for its host, at the `parentRefs`
entry of an HTTPRoute/GRPCRoute attached to it or to the gateway, and at rate-limit
configuration targeting the gateway. HTTP attributes in AuthorizationPolicies are EGL401.

**How to fix.** Let the application originate TLS itself (send HTTPS, port `protocol: TLS`),
or bind the host to an L7 `istio-waypoint`, which supports TLS origination, routing and rate
limiting. Remove configuration that cannot apply.

Holds for Solo Istio 1.30+ (L4 ztunnel-native egress, alpha). Source: Solo "Egress approaches"
overview (TLS origination and rate limiting "Not supported" for L4 ztunnel-native).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, modes
from egresslint.mesh.graph import ZTUNNEL_EGRESS, MeshGraph
from egresslint.model import Finding, Resource, enumerate_maps

RULE = Rule(
    id="EGL402",
    name="ztunnel-egress-l7-feature",
    tag="unsupported-feature",
    level="warning",
    summary="TLS origination, L7 routing or rate limiting configured for L4 ztunnel egress, which ignores it.",
    kinds=("ServiceEntry", "DestinationRule", "VirtualService", "HTTPRoute", "EnvoyFilter"),
    security_severity="4.0",
)

_ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")


def _consequence(port: Mapping[str, Any]) -> str:
    """What happens to the application's plain HTTP when nothing originates TLS for it."""
    target = istio.target_port(port)
    if target in istio.TLS_PORTS:
        via = "targetPort" if "targetPort" in port else "port"
        return (
            f"with {via} {target} the plain HTTP reaches the server's TLS port and the calls "
            "fail (the host is unreachable)"
        )
    return "the application's plain HTTP leaves the cluster unencrypted"


def _tls(se: Resource, graph: MeshGraph) -> Iterator[Finding]:
    for dr in graph.destination_rules_for(se):
        seen = set()
        for _, port in graph.ports(se):
            found = istio.originates_tls(dr, istio.port_number(port))
            if found is None or found[1] in seen:
                continue
            seen.add(found[1])
            yield RULE.at(
                dr,
                found[1],
                f"{dr.ref} originates TLS ({istio.tls_mode(found[0])}) for {se.ref}, which "
                "egresses through the L4 solo-ztunnel-egress gateway: ztunnel does no TLS "
                f"origination, so {_consequence(port)}. Send HTTPS from the application (port "
                "protocol TLS, no targetPort), or bind the host to an istio-waypoint.",
                [related(se, ("metadata",), "bound to solo-ztunnel-egress")],
            )


def _virtual_services(se: Resource, graph: MeshGraph) -> Iterator[Finding]:
    for vs in graph.virtual_services_for(se):
        yield RULE.at(
            vs,
            ("spec", "hosts"),
            f"{vs.ref} routes {se.ref}, which egresses through the L4 solo-ztunnel-egress "
            "gateway: there is no L7 proxy to apply it. Remove it, or bind the host to an "
            "istio-waypoint for L7 routing.",
            [related(se, ("metadata",), "bound to solo-ztunnel-egress")],
        )


def _route_parent(graph: MeshGraph, route: Resource, ref: Mapping[str, Any]) -> Resource | None:
    kind, name = ref.get("kind", "Gateway"), ref.get("name")
    ns = ref.get("namespace") if isinstance(ref.get("namespace"), str) else route.namespace
    if not isinstance(name, str) or kind not in ("ServiceEntry", "Gateway"):
        return None
    parent = graph.get(str(kind), str(ns), name)
    if parent is None:
        return None
    if parent.kind == "Gateway":
        return parent if graph.gateway_class(parent) == ZTUNNEL_EGRESS else None
    return parent if graph.mode_of(parent) == ZTUNNEL_EGRESS else None


def _routes(graph: MeshGraph) -> Iterator[Finding]:
    for route in graph.of_kind(*_ROUTE_KINDS):
        for i, ref in enumerate_maps(route.spec.get("parentRefs")):
            parent = _route_parent(graph, route, ref)
            if parent is None:
                continue
            yield RULE.at(
                route,
                ("spec", "parentRefs", i),
                f"{route.ref} attaches to {parent.ref}, which egresses through the L4 "
                "solo-ztunnel-egress gateway: routes need an L7 proxy and are not applied. "
                "Bind the host to an istio-waypoint for L7 routing, or remove the route.",
                [related(parent, ("metadata",), "L4 ztunnel egress")],
            )


def _mentions_ratelimit(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "ratelimit" in value.lower().replace("_", "").replace("-", "")
    if depth > 30:
        return False
    if isinstance(value, Mapping):
        return any(_mentions_ratelimit(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_mentions_ratelimit(v, depth + 1) for v in value)
    return False


def _aims_at(graph: MeshGraph, res: Resource, gateways: list[Resource]) -> Resource | None:
    for _, ref in modes.target_refs(res):
        name = ref.get("name")
        if ref.get("kind") == "GatewayClass" and name == ZTUNNEL_EGRESS:
            return gateways[0]
        for gw in gateways:
            if ref.get("kind") == "Gateway" and name == gw.name and res.namespace == gw.namespace:
                return gw
    labels = res.get("spec", "workloadSelector", "labels")
    for gw in gateways:
        if (
            isinstance(labels, Mapping)
            and gw.name in labels.values()
            and res.namespace == gw.namespace
        ):
            return gw
    return None


def _rate_limits(graph: MeshGraph) -> Iterator[Finding]:
    gateways = modes.gateways_of_class(graph, ZTUNNEL_EGRESS)
    if not gateways:
        return
    for res in graph.of_kind("EnvoyFilter", *modes.AGW_POLICY_KINDS):
        if res.kind == "EnvoyFilter":
            path: tuple[Any, ...] = ("spec", "configPatches")
            limited = _mentions_ratelimit(res.spec.get("configPatches"))
        else:
            path = ("spec", "traffic", "rateLimit")
            limited = res.get(*path) is not None
        gw = _aims_at(graph, res, gateways) if limited else None
        if gw is not None:
            yield RULE.at(
                res,
                path,
                f"{res.ref} configures rate limiting for {gw.ref}, an L4 solo-ztunnel-egress "
                "gateway that does not support rate limiting. Use an istio-waypoint or "
                "agentgateway waypoint for hosts that need limits.",
                [related(gw, ("spec", "gatewayClassName"), "L4 ztunnel egress gateway")],
            )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for se in modes.ses_in_mode(graph, ZTUNNEL_EGRESS):
        yield from _tls(se, graph)
        yield from _virtual_services(se, graph)
    yield from _routes(graph)
    yield from _rate_limits(graph)
