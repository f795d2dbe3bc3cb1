"""A ServiceEntry is bound to an egress waypoint, but no policy at the waypoint says who may use
it: every workload in the mesh can reach the host.

**Why it matters.** Routing egress through a waypoint gives a place to enforce policy, not a
policy. Without authorization attached to the traffic at the waypoint, any workload may call
the registered host. Which API attaches depends on the waypoint's class.

**When it fires.** For ServiceEntries whose waypoint Gateway is in the repository, when nothing
authorizes their traffic there:

- `istio-waypoint` (and other Envoy waypoints istiod programs): an AuthorizationPolicy (ALLOW,
  DENY or CUSTOM, i.e. ext-authz; not AUDIT, not `istio.io/dry-run`) whose `targetRefs` name
  the ServiceEntry (same namespace) or the waypoint Gateway (its namespace), or, since Istio
  1.25, one in the root namespace `istio-system` whose `targetRefs` name GatewayClass
  `istio-waypoint`. istiod attaches a GatewayClass-targeted policy only from the root namespace
  and only for that class name; from another namespace, for another class or on 1.24 it
  attaches nowhere and does not count. Selector and namespace-wide policies are ignored by
  waypoints.
- `enterprise-agentgateway-waypoint` (Solo): an (Enterprise)AgentgatewayPolicy with
  `traffic.authorization`, `traffic.extAuth`, `backend.extAuth` or
  `frontend.networkAuthorization` whose `targetRefs` (or `targetSelectors`) name the waypoint
  Gateway, or an HTTPRoute or GRPCRoute whose `parentRefs` name the ServiceEntry or the
  waypoint; or such an HTTPRoute with an `ExternalAuth` filter. AuthorizationPolicy is ignored
  there.
- `istio-agentgateway-waypoint` (istiod's agentgateway waypoint, not in a release up to
  1.30.3): istiod programs it from Gateway API resources only and applies neither
  AuthorizationPolicy nor AgentgatewayPolicy; only an HTTPRoute with an `ExternalAuth` filter
  whose `parentRefs` name the ServiceEntry or the waypoint counts.

Level note: an open egress host may be intended (the vendor walkthrough has none).

**How to fix.** `istio-waypoint`: add an ALLOW AuthorizationPolicy with `targetRefs` to the
ServiceEntry (or the waypoint Gateway) that admits the service accounts or namespaces that need
the host. `enterprise-agentgateway-waypoint`: add an EnterpriseAgentgatewayPolicy with
`targetRefs` to the waypoint Gateway and `traffic.authorization` whose CEL expression admits
those callers (and matches the host, e.g. `request.host`), per the vendor's documentation.
`istio-agentgateway-waypoint`: add an HTTPRoute with `parentRefs` to the ServiceEntry and an
`ExternalAuth` filter, or bind the host to an `istio-waypoint`.

Sources: istio/istio `pilot/pkg/model/policyattachment.go` ShouldAttachPolicy (ServiceEntry
and Gateway attachment 1.24.0-1.30.3; the root-namespace `GatewayClass` `istio-waypoint`
branch from 1.25.0, absent in 1.24.x); `pilot/pkg/security/authz/builder/builder.go`
(`istio.io/dry-run` policies are shadow only); for `istio-agentgateway-waypoint` the
release-1.31 branch: `pilot/pkg/config/kube/agentgateway/agentgateway_controller.go` ("Authz/
Authn are not use for agentgateway"), `filters.go` (HTTPRoute `ExternalAuth`), `parentref.go`
(ServiceEntry parents); agentgateway v1.4.1 `controller/pkg/agentgateway/plugins/
reference_indexes.go` (a policy on an HTTPRoute/GRPCRoute reaches the Gateways the route is
attached to; routes may name a ServiceEntry as parent) and `agentgateway_policy_types.go`
(`traffic` targets); Solo Enterprise agentgateway documentation (EnterpriseAgentgatewayPolicy);
istio.io "Egress gateways" (ambient); `security/v1beta1/authorization_policy.proto`.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio
from egresslint.mesh.graph import (
    AGENTGATEWAY_WAYPOINTS,
    ISTIO_WAYPOINT,
    ROOT_NAMESPACE,
    USE_WAYPOINT,
    MeshGraph,
)
from egresslint.model import Finding, Path, Resource, as_map, enumerate_maps, listed

RULE = Rule(
    id="EGL111",
    name="egress-without-authz",
    tag="bypass",
    level="note",
    summary="Waypoint-bound ServiceEntry with no AuthorizationPolicy at the waypoint: any workload may use it.",
    kinds=("ServiceEntry", "AuthorizationPolicy", "Gateway"),
    precision="medium",
)

ENTERPRISE_AGW = "enterprise-agentgateway-waypoint"
ISTIOD_AGW = "istio-agentgateway-waypoint"
AGW_POLICIES = ("AgentgatewayPolicy", "EnterpriseAgentgatewayPolicy")
ROUTES = ("HTTPRoute", "GRPCRoute")
_AUTHZ_FIELDS = (
    ("traffic", "authorization"),
    ("traffic", "extAuth"),
    ("backend", "extAuth"),
    ("frontend", "networkAuthorization"),
)
Version = tuple[int, int, int]
Key = tuple[str, str, str]


# ---- Envoy waypoints: AuthorizationPolicy ----------------------------------------------------
def _enforced(ap: Resource) -> bool:
    return (
        ap.kind == "AuthorizationPolicy" and istio.action(ap) != "AUDIT" and not istio.dry_run(ap)
    )


def _istio_covered(graph: MeshGraph, se: Resource, gw: Resource, version: Version) -> bool:
    if any(_enforced(p) for res in (se, gw) for p in graph.policies_targeting(res)):
        return True
    return any(_enforced(p) for p in istio.waypoint_class_policies(graph, version))


def _unattached_class_policies(graph: MeshGraph, gw: Resource, version: Version) -> list[Resource]:
    """AuthorizationPolicies meant for this waypoint's class that istiod attaches nowhere."""
    names = {graph.gateway_class(gw), ISTIO_WAYPOINT}
    return [
        ap
        for ap in graph.of_kind("AuthorizationPolicy")
        if any(
            istio.names_gateway_class(r) and r.get("name") in names for r in istio.target_refs(ap)
        )
        and not istio.attaches_to_every_waypoint(ap, version)
    ]


def _class_hint(graph: MeshGraph, gw: Resource, version: Version) -> tuple[str, list[Any]]:
    ignored = _unattached_class_policies(graph, gw, version)
    if not ignored:
        return "", []
    since = "" if version >= istio.CLASS_POLICY_SINCE else " and only since Istio 1.25"
    text = (
        f" A policy on a GatewayClass attaches only from the root namespace {ROOT_NAMESPACE} "
        f"and only for the class named {ISTIO_WAYPOINT}{since}."
    )
    why = "targets a GatewayClass, but istiod attaches it to no waypoint"
    return text, [related(ap, ("spec",), why) for ap in ignored]


def _inert_hint(graph: MeshGraph, se: Resource, gw: Resource) -> tuple[str, list[Any]]:
    """AUDIT and dry-run policies on the ServiceEntry or the waypoint: they authorize nothing."""
    inert = [
        p
        for res in (se, gw)
        for p in graph.policies_targeting(res)
        if p.kind == "AuthorizationPolicy" and not _enforced(p)
    ]
    if not inert:
        return "", []
    why = "AUDIT or istio.io/dry-run: authorizes nothing"
    return (
        " AUDIT and dry-run policies do not count: they allow and deny nothing.",
        [related(p, ("spec",), why) for p in inert],
    )


def _istio_finding(
    graph: MeshGraph, se: Resource, gw: Resource, path: Path, version: Version
) -> Finding:
    inert, inert_rel = _inert_hint(graph, se, gw)
    hint, ignored = _class_hint(graph, gw, version)
    hint, ignored = inert + hint, inert_rel + ignored
    return RULE.at(
        se,
        path,
        f"{se.ref} is routed through waypoint {gw.ref}, but no AuthorizationPolicy targets "
        "the ServiceEntry or the waypoint: every workload in the mesh may reach "
        f"{listed(graph.se_hosts(se)) or 'it'}. Add an ALLOW policy with targetRefs to the "
        f"ServiceEntry that admits only the callers that need it.{hint}",
        [related(gw, ("metadata",), "the waypoint that would enforce it"), *ignored],
    )


# ---- agentgateway waypoints: policies and routes -------------------------------------------
def _route_parents(route: Resource) -> Iterator[Key]:
    for _, ref in enumerate_maps(route.spec.get("parentRefs")):
        kind, name, ns = ref.get("kind", "Gateway"), ref.get("name"), ref.get("namespace")
        if isinstance(kind, str) and isinstance(name, str):
            yield kind, ns if isinstance(ns, str) else route.namespace, name


def _ext_auth_route(route: Resource) -> bool:
    return any(
        f.get("type") == "ExternalAuth"
        for _, rule in enumerate_maps(route.spec.get("rules"))
        for _, f in enumerate_maps(rule.get("filters"))
    )


def _agw_authorizes(policy: Resource) -> bool:
    return any(isinstance(policy.get("spec", *f), Mapping) for f in _AUTHZ_FIELDS)


def _selected(graph: MeshGraph, policy: Resource) -> Iterator[tuple[str, str]]:
    """(kind, name) of the same-namespace objects a policy's ``targetSelectors`` select."""
    for _, sel in enumerate_maps(policy.spec.get("targetSelectors")):
        kind, labels = sel.get("kind"), as_map(sel.get("matchLabels"))
        if not isinstance(kind, str):
            continue
        for res in graph.in_namespace(kind, policy.namespace):
            if all(res.labels.get(str(k)) == str(v) for k, v in labels.items()):
                yield kind, res.name


def _policy_targets(graph: MeshGraph, policy: Resource) -> Iterator[tuple[str, str]]:
    for ref in istio.target_refs(policy):
        kind, name = ref.get("kind"), ref.get("name")
        if isinstance(kind, str) and isinstance(name, str):
            yield kind, name
    yield from _selected(graph, policy)


def _policy_parents(graph: MeshGraph, policy: Resource) -> Iterator[Key]:
    """What an authorizing agentgateway policy covers: its Gateways, and the parents of its
    routes (``targetRefs`` or ``targetSelectors``, same namespace)."""
    for kind, name in _policy_targets(graph, policy):
        if kind == "Gateway":
            yield kind, policy.namespace, name
        route = graph.get(kind, policy.namespace, name) if kind in ROUTES else None
        if route is not None:
            yield from _route_parents(route)


def _covered_parents(graph: MeshGraph, with_policies: bool) -> set[Key]:
    """Gateways and ServiceEntries whose traffic an agentgateway authorizes (one pass per run)."""
    found = {k for r in graph.of_kind("HTTPRoute") if _ext_auth_route(r) for k in _route_parents(r)}
    if with_policies:
        for policy in graph.of_kind(*AGW_POLICIES):
            if _agw_authorizes(policy):
                found.update(_policy_parents(graph, policy))
    return found


def _agw_covered(graph: MeshGraph, se: Resource, gw: Resource) -> bool:
    with_policies = graph.gateway_class(gw) != ISTIOD_AGW
    parents = graph.memo(
        ("EGL111.agw_parents", with_policies), lambda: _covered_parents(graph, with_policies)
    )
    return ("Gateway", gw.namespace, gw.name) in parents or se.key in parents


def _names_gateway(policy: Resource, gw: Resource) -> bool:
    return policy.namespace == gw.namespace and any(
        r.get("kind") == "Gateway" and r.get("name") == gw.name for r in istio.target_refs(policy)
    )


def _ignored_policies(graph: MeshGraph, se: Resource, gw: Resource) -> list[Any]:
    out = [
        related(ap, ("spec", "targetRefs"), "ignored by the agentgateway waypoint")
        for res in (se, gw)
        for ap in graph.policies_targeting(res)
        if ap.kind == "AuthorizationPolicy"
    ]
    if graph.gateway_class(gw) == ISTIOD_AGW:
        why = "not read by istiod for this waypoint"
        out += [
            related(p, ("spec", "targetRefs"), why)
            for p in graph.of_kind(*AGW_POLICIES)
            if _names_gateway(p, gw)
        ]
    return out


def _agw_advice(graph: MeshGraph, gw: Resource) -> str:
    if graph.gateway_class(gw) == ISTIOD_AGW:
        return (
            f"istiod programs {ISTIOD_AGW} from Gateway API resources only: neither "
            "AuthorizationPolicy nor AgentgatewayPolicy applies there. Add an HTTPRoute with "
            "parentRefs to the ServiceEntry and an ExternalAuth filter that checks the caller, "
            "or bind the host to an istio-waypoint and use an AuthorizationPolicy."
        )
    kind = (
        "EnterpriseAgentgatewayPolicy"
        if graph.gateway_class(gw) == ENTERPRISE_AGW
        else "AgentgatewayPolicy"
    )
    return (
        f"agentgateway waypoints ignore AuthorizationPolicy. Add an {kind} in namespace "
        f"'{gw.namespace}' with targetRefs to Gateway {gw.name} and traffic.authorization "
        "(action Allow) whose CEL expression admits only the callers that need the host."
    )


def _agw_finding(graph: MeshGraph, se: Resource, gw: Resource, path: Path) -> Finding:
    hosts = listed(graph.se_hosts(se)) or "it"
    return RULE.at(
        se,
        path,
        f"{se.ref} is routed through agentgateway waypoint {gw.ref} ({graph.gateway_class(gw)}), "
        f"but nothing authorizes its traffic there: every workload in the mesh may reach {hosts}. "
        f"{_agw_advice(graph, gw)}",
        [
            related(gw, ("metadata",), "the waypoint that would enforce it"),
            *_ignored_policies(graph, se, gw),
        ],
    )


def _finding(graph: MeshGraph, se: Resource, gw: Resource, version: Version) -> Finding | None:
    own = USE_WAYPOINT in se.labels
    path: Path = ("metadata", "labels", USE_WAYPOINT) if own else ("metadata",)
    if graph.gateway_class(gw) in AGENTGATEWAY_WAYPOINTS:
        return None if _agw_covered(graph, se, gw) else _agw_finding(graph, se, gw, path)
    if _istio_covered(graph, se, gw, version):
        return None
    return _istio_finding(graph, se, gw, path, version)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for se in graph.of_kind("ServiceEntry"):
        gw = graph.waypoint_of(se)
        found = None if gw is None else _finding(graph, se, gw, ctx.istio_version)
        if found is not None:
            yield found
