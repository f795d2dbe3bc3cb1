"""An Istio API that the agentgateway waypoint ignores (VirtualService, DestinationRule,
AuthorizationPolicy, EnvoyFilter) is aimed at a host or Gateway served by it.

**Why it matters.** The agentgateway-based waypoints (`enterprise-agentgateway-waypoint` from
Solo, `istio-agentgateway-waypoint` upstream) take policy from Gateway API routes and
(Enterprise)AgentgatewayPolicy only. A DestinationRule does not originate TLS there (TLS
origination via DestinationRule is not supported in this mode), an AuthorizationPolicy does
not restrict anything, and a VirtualService does not route: the configuration looks like
egress control but nothing enforces it.

**When it fires.** For ServiceEntries whose effective waypoint has an agentgateway class (or
`--mode enterprise-agentgateway-waypoint` when the Gateway is elsewhere): at a DestinationRule
`host` (or its `tls` block when it originates TLS) and a VirtualService `hosts` covering the
ServiceEntry, and at the `targetRefs` entry of an AuthorizationPolicy or EnvoyFilter naming
the ServiceEntry, the waypoint Gateway or its GatewayClass.

**How to fix.** Express access rules as an (Enterprise)AgentgatewayPolicy with
`traffic.authorization` on the waypoint Gateway, routing as an HTTPRoute, and TLS to the
origin with an `AgentgatewayBackend` (`policies.tls`) or by letting the application send HTTPS.

Sources: istio.io "agentgateway waypoints" (VirtualService and DestinationRule are not
applied); Solo "Egress approaches" overview (agentgateway: TLS origination not supported).
"""

from collections.abc import Iterator
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, modes
from egresslint.mesh.graph import AGENTGATEWAY_WAYPOINTS, MeshGraph
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL404",
    name="istio-api-on-agentgateway-waypoint",
    tag="unsupported-feature",
    level="warning",
    summary="VirtualService/DestinationRule/AuthorizationPolicy aimed at an agentgateway waypoint, which ignores them.",
    kinds=(
        "DestinationRule",
        "VirtualService",
        "AuthorizationPolicy",
        "EnvoyFilter",
        "ServiceEntry",
    ),
    security_severity="5.0",
)

_FIX = {
    "DestinationRule": "originate TLS with an AgentgatewayBackend (policies.tls) or send HTTPS "
    "from the application",
    "VirtualService": "route with an HTTPRoute",
    "AuthorizationPolicy": "use an (Enterprise)AgentgatewayPolicy traffic.authorization on the "
    "waypoint Gateway",
    "EnvoyFilter": "use agentgateway policies; Envoy filters do not exist there",
}


def _finding(res: Resource, path: tuple[Any, ...], subject: Resource, what: str) -> Finding:
    return RULE.at(
        res,
        path,
        f"{res.ref} {what} {subject.ref}, which is served by an agentgateway waypoint that "
        f"ignores {res.kind} resources: nothing enforces it. Instead, {_FIX[res.kind]}.",
        [related(subject, ("metadata",), "served by the agentgateway waypoint")],
    )


def _host_rules(graph: MeshGraph, se: Resource) -> Iterator[Finding]:
    for dr in graph.destination_rules_for(se):
        tls = istio.originates_tls(dr, None)
        if tls is not None:
            yield _finding(dr, tls[1], se, "originates TLS (not supported in this mode) for")
        else:
            yield _finding(dr, ("spec", "host"), se, "configures traffic policy for")
    for vs in graph.virtual_services_for(se):
        yield _finding(vs, ("spec", "hosts"), se, "routes")


def _served(graph: MeshGraph, res: Resource) -> bool:
    if res.kind == "Gateway":
        return graph.gateway_class(res) in AGENTGATEWAY_WAYPOINTS
    if res.kind == "GatewayClass":
        return res.name in AGENTGATEWAY_WAYPOINTS
    return res.kind == "ServiceEntry" and modes.is_agentgateway(graph.mode_of(res))


def _policies(graph: MeshGraph) -> Iterator[Finding]:
    for pol in graph.of_kind("AuthorizationPolicy", "EnvoyFilter"):
        for path, ref in modes.target_refs(pol):
            kind, name = ref.get("kind"), ref.get("name")
            if not isinstance(kind, str) or not isinstance(name, str):
                continue
            target = graph.get(kind, "" if kind == "GatewayClass" else pol.namespace, name)
            if target is None and kind == "GatewayClass" and name in AGENTGATEWAY_WAYPOINTS:
                yield RULE.at(
                    pol,
                    path,
                    f"{pol.ref} targets GatewayClass {name}, an agentgateway waypoint that "
                    f"ignores {pol.kind} resources: nothing enforces it. Instead, {_FIX[pol.kind]}.",
                )
            elif target is not None and _served(graph, target):
                yield _finding(pol, path, target, "targets")


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for se in modes.ses_in_mode(graph, *AGENTGATEWAY_WAYPOINTS):
        yield from _host_rules(graph, se)
    yield from _policies(graph)
