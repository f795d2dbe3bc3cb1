"""A ServiceEntry is bound to an egress waypoint, but no policy at the waypoint says who may use
it: every workload in the mesh can reach the host.

**Why it matters.** Routing egress through a waypoint gives a place to enforce policy, not a
policy. Without an AuthorizationPolicy whose `targetRefs` name the ServiceEntry or the waypoint
Gateway (or, for agentgateway waypoints, an `(Enterprise)AgentgatewayPolicy` on the Gateway),
any workload may call the registered host. Selector and namespace-wide policies are ignored by
waypoints, so they do not count.

**When it fires.** For ServiceEntries whose waypoint Gateway is in the repository, when no such
policy exists for the ServiceEntry, its Gateway, or the Gateway's class (a root-namespace policy
targeting the GatewayClass). Level note: an open egress host may be intended (the vendor
walkthrough has none).

**How to fix.** Add an ALLOW AuthorizationPolicy with `targetRefs` to the ServiceEntry (or the
waypoint Gateway) that admits the service accounts or namespaces that need the host.

Holds since Istio 1.24 (policies attached to ServiceEntries at waypoints). Sources: istio.io
"Egress gateways" (ambient); `security/v1beta1/authorization_policy.proto` (targetRefs,
waypoints ignore selector policies).
"""

from collections.abc import Iterator

from egresslint.graph import AGENTGATEWAY_WAYPOINTS, USE_WAYPOINT, MeshGraph
from egresslint.model import Finding, Resource
from egresslint.rule import Context, Rule, related

RULE = Rule(
    id="EGL111",
    name="egress-without-authz",
    tag="bypass",
    level="note",
    summary="Waypoint-bound ServiceEntry with no AuthorizationPolicy at the waypoint: any workload may use it.",
    kinds=("ServiceEntry", "AuthorizationPolicy", "Gateway"),
    precision="medium",
)

AGW_POLICIES = ("AgentgatewayPolicy", "EnterpriseAgentgatewayPolicy")


def _authz(graph: MeshGraph, res: Resource | None) -> bool:
    return res is not None and any(
        p.kind == "AuthorizationPolicy" for p in graph.policies_targeting(res)
    )


def _agw_covered(graph: MeshGraph, gw: Resource) -> bool:
    """agentgateway policies attach to the Gateway or its routes; any in the namespace counts."""
    return any(graph.in_namespace(kind, gw.namespace) for kind in AGW_POLICIES)


def _covered(graph: MeshGraph, se: Resource, gw: Resource) -> bool:
    if graph.gateway_class(gw) in AGENTGATEWAY_WAYPOINTS and _agw_covered(graph, gw):
        return True
    cls = graph.get("GatewayClass", "", graph.gateway_class(gw))
    return _authz(graph, se) or _authz(graph, gw) or _authz(graph, cls) or _class_policy(graph, gw)


def _class_policy(graph: MeshGraph, gw: Resource) -> bool:
    """A policy targeting the GatewayClass by name (the class itself need not be in the repo)."""
    name = graph.gateway_class(gw)
    for ap in graph.of_kind("AuthorizationPolicy"):
        refs = ap.spec.get("targetRefs")
        for ref in refs if isinstance(refs, list) else []:
            if (
                isinstance(ref, dict)
                and ref.get("kind") == "GatewayClass"
                and ref.get("name") == name
            ):
                return True
    return False


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for se in graph.of_kind("ServiceEntry"):
        gw = graph.waypoint_of(se)
        if gw is None or _covered(graph, se, gw):
            continue
        own = USE_WAYPOINT in se.labels
        yield RULE.at(
            se,
            ("metadata", "labels", USE_WAYPOINT) if own else ("metadata",),
            f"{se.ref} is routed through waypoint {gw.ref}, but no AuthorizationPolicy targets "
            "the ServiceEntry or the waypoint: every workload in the mesh may reach "
            f"{', '.join(graph.se_hosts(se)) or 'it'}. Add an ALLOW policy with targetRefs to the "
            "ServiceEntry that admits only the callers that need it.",
            [related(gw, ("metadata",), "the waypoint that would enforce it")],
        )
