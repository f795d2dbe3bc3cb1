"""An egress waypoint restricts `allowedRoutes`, but the AuthorizationPolicies on its external
hosts admit every caller: `allowedRoutes` decides which namespaces may attach to the waypoint,
not which workloads may send through it.

**Why it matters.** istiod reads the `allowedRoutes` of the waypoint's HBONE listener (or,
since 1.26, of the listener its inbound-binding annotation names) only when it decides whether
a ServiceEntry, Service or workload may use the waypoint: the namespace checked is the one of
the object carrying (or inheriting) `istio.io/use-waypoint`. Callers are never checked: ztunnel
sends any client's traffic for a bound host to its waypoint, whatever the client's namespace.
So a per-tenant waypoint with `allowedRoutes.namespaces.from: Same` does not keep other tenants
off its external hosts; an Istio maintainer answered that "usable" in the waypoint
documentation means attachable, not reachable, and pointed to an AuthorizationPolicy on the
waypoint (istio/istio#57661).

**When it fires.** For an Envoy waypoint istiod manages (not agentgateway, not ztunnel egress)
whose listener writes `allowedRoutes.namespaces.from: Same` or `Selector`, and a MESH_EXTERNAL
ServiceEntry bound to it whose enforced AuthorizationPolicies (on the ServiceEntry, the waypoint
or the `istio-waypoint` GatewayClass; not AUDIT, not dry-run) are all ALLOW and include a rule
that names no caller: no `from`, or a `from` entry whose `source` sets no identity field
(principals, namespaces, service accounts, IP blocks, request principals, trust domains, or
their `not` forms), and no `when` on a source attribute. With no policy at all EGL111 reports
the ServiceEntry instead; DENY and CUSTOM policies are taken to restrict callers. One note per
rule, on the rule.

**How to fix.** Add `from: [{source: {namespaces: [...]}}]` (or principals) to the rule, naming
the namespaces the waypoint admits, or leave it as is if every workload may use the host.

Sources: istio/istio `pilot/pkg/serviceregistry/ambient/waypoints.go` (fetchWaypointForTarget:
AllowsAttachmentFromNamespace on the namespace of the bound object; makeAllowedRoutes),
`pilot/pkg/serviceregistry/kube/controller/ambient/waypoints.go` up to 1.29 (checked 1.24.0 and
1.30.3); istio/ztunnel `src/state.rs` fetch_service_waypoint (no check of the source
namespace); Gateway API `Listener.allowedRoutes` ("which Routes may be attached"); istio/istio
#57661.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, istio, reach
from egresslint.mesh.graph import AGENTGATEWAY_WAYPOINTS, ZTUNNEL_EGRESS, MeshGraph
from egresslint.model import Finding, Resource, as_list, as_map, listed

RULE = Rule(
    id="EGL116",
    name="allowed-routes-not-access-control",
    tag="bypass",
    level="note",
    summary="Waypoint allowedRoutes restricts attachment only; its external hosts admit every caller.",
    kinds=("AuthorizationPolicy", "Gateway", "ServiceEntry"),
    precision="medium",
    security_severity="4.0",
)

IDENTITY_FIELDS = (
    "principals",
    "notPrincipals",
    "namespaces",
    "notNamespaces",
    "serviceAccounts",
    "notServiceAccounts",
    "ipBlocks",
    "notIpBlocks",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "requestPrincipals",
    "notRequestPrincipals",
    "trustDomains",
    "notTrustDomains",
)
SOURCE_WHEN = ("source.", "remote.ip", "request.auth.")
RESTRICTING = ("Same", "Selector")


def _restriction(graph: MeshGraph, gw: Resource) -> str | None:
    """``Same`` or ``Selector`` when the listener istiod reads writes it explicitly."""
    cls = graph.gateway_class(gw)
    if (
        cls in AGENTGATEWAY_WAYPOINTS
        or cls == ZTUNNEL_EGRESS
        or not bypass.istio_managed(graph, gw)
    ):
        return None
    adm = bypass.admission(graph, gw)
    if adm.listener is None or not adm.known:
        return None
    listener = as_map(as_list(gw.spec.get("listeners"))[adm.listener])
    written = as_map(as_map(listener.get("allowedRoutes")).get("namespaces")).get("from")
    return written if written in RESTRICTING else None


def _names_caller(rule: Mapping[str, Any]) -> bool:
    for cond in as_list(rule.get("when")):
        key = str(as_map(cond).get("key", ""))
        if key.startswith(SOURCE_WHEN):
            return True
    froms = as_list(rule.get("from"))
    return bool(froms) and all(
        any(f in as_map(as_map(entry).get("source")) for f in IDENTITY_FIELDS) for entry in froms
    )


def _policies(graph: MeshGraph, se: Resource, gw: Resource, version: Any) -> list[Resource]:
    found = [p for res in (se, gw) for p in graph.policies_targeting(res)]
    found += istio.waypoint_class_policies(graph, version)
    return [
        p
        for p in dict.fromkeys(found)
        if p.kind == "AuthorizationPolicy" and istio.action(p) != "AUDIT" and not istio.dry_run(p)
    ]


def _covers(rule: Mapping[str, Any], hosts: list[str]) -> bool:
    """Whether the rule can match the ServiceEntry's traffic: no ``to``, or a ``to`` entry with
    no ``hosts``, or one whose ``hosts`` match one of the ServiceEntry's hosts."""
    ops = [as_map(as_map(t).get("operation")) for t in as_list(rule.get("to"))]
    if not ops:
        return True
    for op in ops:
        patterns = [str(h).lower() for h in as_list(op.get("hosts"))]
        if not patterns or any(reach.string_match(p, h) for p in patterns for h in hosts):
            return True
    return False


def _open_rule(policies: list[Resource], hosts: list[str]) -> tuple[Resource, int] | None:
    """The first ALLOW rule that names no caller and can match the hosts, when every policy is
    ALLOW."""
    if not policies or any(istio.action(p) != "ALLOW" for p in policies):
        return None
    for p in policies:
        for i, rule in enumerate(as_list(p.spec.get("rules"))):
            if isinstance(rule, Mapping) and not _names_caller(rule) and _covers(rule, hosts):
                return p, i
    return None


def _admitted(graph: MeshGraph, gw: Resource) -> list[str]:
    names = [n.name for n in graph.of_kind("Namespace") if bypass.admits(graph, gw, n.name)]
    return names or [gw.namespace]


def _finding(
    graph: MeshGraph, gw: Resource, written: str, ap: Resource, i: int, ses: list[Resource]
) -> Finding:
    hosts = listed(dict.fromkeys(h for se in ses for h in graph.se_hosts(se)))
    spaces = listed(_admitted(graph, gw))
    adm = bypass.admission(graph, gw)
    return RULE.at(
        ap,
        ("spec", "rules", i),
        f"{ap.ref} rule {i} names no caller, so every workload may reach {hosts} through "
        f"waypoint {gw.ref}, whose "
        f"allowedRoutes (from: {written}) only decides which namespaces may attach to the "
        "waypoint, not which workloads may send through it (istio/istio#57661). If only some should, add "
        f"from: [{{source: {{namespaces: [{spaces}]}}}}] (or principals) to this rule.",
        [
            related(gw, adm.path(), "restricts attachment, not callers"),
            *[related(se, ("metadata",), "bound to the waypoint") for se in ses[:3]],
        ],
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    seen: dict[tuple[Resource, int], tuple[Resource, str, list[Resource]]] = {}
    for gw in graph.waypoints():
        written = _restriction(graph, gw)
        if written is None:
            continue
        for se in graph.bound_to(gw):
            if not graph.is_external(se):
                continue
            policies = _policies(graph, se, gw, ctx.istio_version)
            found = _open_rule(policies, graph.se_hosts(se))
            if found is not None:
                seen.setdefault(found, (gw, written, []))[2].append(se)
    for (ap, i), (gw, written, ses) in seen.items():
        yield _finding(graph, gw, written, ap, i, ses)
