"""A ServiceEntry is bound to an egress waypoint, but no policy at the waypoint says who may use
it: every workload in the mesh can reach the host.

**Why it matters.** Routing egress through a waypoint gives a place to enforce policy, not a
policy. Without an AuthorizationPolicy whose `targetRefs` name the ServiceEntry or the waypoint
Gateway (or, for agentgateway waypoints, an `(Enterprise)AgentgatewayPolicy` on the Gateway),
any workload may call the registered host. Selector and namespace-wide policies are ignored by
waypoints, so they do not count.

**When it fires.** For ServiceEntries whose waypoint Gateway is in the repository, when no such
policy exists for the ServiceEntry, its Gateway, or the Gateway's class (a root-namespace policy
targeting the GatewayClass). For agentgateway waypoints (`enterprise-agentgateway-waypoint`,
`istio-agentgateway-waypoint`) only an `(Enterprise)AgentgatewayPolicy` with an authorization
block whose `targetRefs` name the waypoint Gateway counts: those waypoints ignore
AuthorizationPolicy. Level note: an open egress host may be intended (the vendor walkthrough has
none).

**How to fix.** Add an ALLOW AuthorizationPolicy with `targetRefs` to the ServiceEntry (or the
waypoint Gateway) that admits the service accounts or namespaces that need the host. For an
agentgateway waypoint add an `(Enterprise)AgentgatewayPolicy` with `targetRefs` to the waypoint
Gateway and `traffic.authorization` whose CEL expression admits those callers (and matches the
host, e.g. `request.host`).

Holds since Istio 1.24 (policies attached to ServiceEntries at waypoints). Sources: istio.io
"Egress gateways" (ambient); `security/v1beta1/authorization_policy.proto` (targetRefs,
waypoints ignore selector policies).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import modes
from egresslint.mesh.graph import AGENTGATEWAY_WAYPOINTS, USE_WAYPOINT, MeshGraph
from egresslint.model import Finding, Path, Resource

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


def _agw_authorizes(policy: Resource) -> bool:
    return isinstance(policy.get("spec", "traffic", "authorization"), Mapping) or isinstance(
        policy.get("spec", "frontend", "networkAuthorization"), Mapping
    )


def _agw_covered(graph: MeshGraph, gw: Resource) -> bool:
    """An (Enterprise)AgentgatewayPolicy with authorization whose targetRefs name the Gateway
    (answered once per Gateway: asked per ServiceEntry bound to it)."""
    return graph.memo(("EGL111.agw_covered", gw), lambda: _agw_covered_now(graph, gw))


def _agw_covered_now(graph: MeshGraph, gw: Resource) -> bool:
    for kind in AGW_POLICIES:
        for policy in graph.in_namespace(kind, gw.namespace):
            if _agw_authorizes(policy) and any(t is gw for t in modes.agw_targets(graph, policy)):
                return True
    return False


def _covered(graph: MeshGraph, se: Resource, gw: Resource) -> bool:
    if graph.gateway_class(gw) in AGENTGATEWAY_WAYPOINTS:
        return _agw_covered(graph, gw)  # AuthorizationPolicy is ignored there
    cls = graph.get("GatewayClass", "", graph.gateway_class(gw))
    return _authz(graph, se) or _authz(graph, gw) or _authz(graph, cls) or _class_policy(graph, gw)


def _class_policy(graph: MeshGraph, gw: Resource) -> bool:
    """A policy targeting the GatewayClass by name (the class itself need not be in the repo)."""
    return graph.gateway_class(gw) in graph.memo(
        "EGL111.targeted_classes", lambda: _targeted_classes(graph)
    )


def _targeted_classes(graph: MeshGraph) -> set[Any]:
    """Names of the GatewayClasses any AuthorizationPolicy's targetRefs name (one pass)."""
    names: set[Any] = set()
    for ap in graph.of_kind("AuthorizationPolicy"):
        refs = ap.spec.get("targetRefs")
        for ref in refs if isinstance(refs, list) else []:
            if isinstance(ref, dict) and ref.get("kind") == "GatewayClass":
                name = ref.get("name")
                if isinstance(name, str):
                    names.add(name)
    return names


def _agw_finding(graph: MeshGraph, se: Resource, gw: Resource, path: Path) -> Finding:
    kind = (
        "EnterpriseAgentgatewayPolicy"
        if graph.gateway_class(gw) == "enterprise-agentgateway-waypoint"
        else "AgentgatewayPolicy"
    )
    ignored = [
        related(ap, ("spec", "targetRefs"), "ignored by the agentgateway waypoint")
        for ap in graph.policies_targeting(se)
        if ap.kind == "AuthorizationPolicy"
    ]
    return RULE.at(
        se,
        path,
        f"{se.ref} is routed through agentgateway waypoint {gw.ref}, but no {kind} with "
        f"authorization targets that Gateway: every workload in the mesh may reach "
        f"{', '.join(graph.se_hosts(se)) or 'it'} (agentgateway waypoints ignore "
        f"AuthorizationPolicy). Add an {kind} in namespace '{gw.namespace}' with targetRefs to "
        f"Gateway {gw.name} and traffic.authorization (action Allow) whose CEL expression admits "
        "only the callers that need the host.",
        [related(gw, ("metadata",), "the waypoint that would enforce it"), *ignored],
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for se in graph.of_kind("ServiceEntry"):
        gw = graph.waypoint_of(se)
        if gw is None or _covered(graph, se, gw):
            continue
        own = USE_WAYPOINT in se.labels
        path: Path = ("metadata", "labels", USE_WAYPOINT) if own else ("metadata",)
        if graph.gateway_class(gw) in AGENTGATEWAY_WAYPOINTS:
            yield _agw_finding(graph, se, gw, path)
            continue
        yield RULE.at(
            se,
            path,
            f"{se.ref} is routed through waypoint {gw.ref}, but no AuthorizationPolicy targets "
            "the ServiceEntry or the waypoint: every workload in the mesh may reach "
            f"{', '.join(graph.se_hosts(se)) or 'it'}. Add an ALLOW policy with targetRefs to the "
            "ServiceEntry that admits only the callers that need it.",
            [related(gw, ("metadata",), "the waypoint that would enforce it")],
        )
