"""An agentgateway `Allow` authorization makes its target deny-by-default, and no expression
admits clients that the repository's other configuration expects to use it.

**Why it matters.** "The presence of at least one `Allow` rule triggers a deny-by-default
policy": once any `Allow` (Enterprise)AgentgatewayPolicy targets the waypoint Gateway, every
request that no Allow expression matches is denied, for all hosts behind that waypoint. Teams
that add an Allow policy for one client often break the others.

**When it fires.** For a waypoint Gateway of an agentgateway class that reads these policies
(`enterprise-agentgateway-waypoint`; not istiod's `istio-agentgateway-waypoint`, which istiod
programs from Gateway API resources only: `AgwInputs` in istio/istio
`pilot/pkg/config/kube/agentgateway/agentgateway_controller.go`, 1.31.0-rc.0) with at least one
`Allow` policy, when client namespaces suggested elsewhere in the repository do not appear (as a
quoted string) in any Allow expression on it. Suggestions come from NetworkPolicies whose egress
rules admit the waypoint's namespace by `kubernetes.io/metadata.name`, and from
AuthorizationPolicies (ignored by agentgateway, but stating intent) that allow
`source.namespaces`/`principals` to ServiceEntries bound to it. Reported as a note: the
suggestion is a heuristic.

**How to fix.** Add an Allow expression for each client that must reach the waypoint (e.g.
`source.identity.namespace == "batch"`), or confirm that those clients must be denied.

Sources: agentgateway `controller/api/v1alpha1/shared/rbac.go` at v1.2.1 ("at least one
`Allow` rule triggers a deny-by-default policy") and `controller/api/v1alpha1/agentgateway/
rbac.go` at v1.4.1; for `EnterpriseAgentgatewayPolicy` on `enterprise-agentgateway-waypoint`
this follows the vendor's documentation (Solo "Egress approaches" overview: "When an Allow
policy is applied, all unmatched traffic is denied by default").
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import modes
from egresslint.mesh.graph import AGENTGATEWAY_WAYPOINTS, MeshGraph
from egresslint.model import Finding, Resource, as_list, as_map, enumerate_maps

RULE = Rule(
    id="EGL409",
    name="agentgateway-allow-default-deny",
    tag="unsupported-feature",
    level="note",
    summary="agentgateway Allow policy denies all unmatched traffic; expected clients are not admitted.",
    kinds=(*modes.AGW_POLICY_KINDS, "NetworkPolicy", "AuthorizationPolicy"),
    precision="low",
)

_NS_LABEL = "kubernetes.io/metadata.name"


def _netpol_clients(graph: MeshGraph, gw: Resource) -> set[str]:
    out = set()
    for np_ in graph.of_kind("NetworkPolicy"):
        if np_.namespace == gw.namespace:
            continue
        for _, rule in enumerate_maps(np_.spec.get("egress")):
            for _, peer in enumerate_maps(rule.get("to")):
                labels = as_map(as_map(peer.get("namespaceSelector")).get("matchLabels"))
                if labels.get(_NS_LABEL) == gw.namespace:
                    out.add(np_.namespace)
    return out


def _authz_clients(graph: MeshGraph, gw: Resource) -> set[str]:
    out: set[str] = set()
    for se in graph.bound_to(gw):
        for ap in graph.policies_targeting(se):
            for _, rule in enumerate_maps(ap.spec.get("rules")):
                for _, frm in enumerate_maps(rule.get("from")):
                    src = as_map(frm.get("source"))
                    out.update(n for n in as_list(src.get("namespaces")) if isinstance(n, str))
                    for p in as_list(src.get("principals")):
                        parts = str(p).split("/")
                        if len(parts) >= 3 and parts[-4:-3] == ["ns"]:
                            out.add(parts[-3])
    return {n for n in out if "*" not in n}


def _allow_policies(graph: MeshGraph, gw: Resource) -> list[tuple[Resource, str]]:
    out = []
    for pol in modes.agw_policies(graph):
        found = modes.agw_authorization(pol)
        if found is None or modes.agw_action(found[0]) != "Allow":
            continue
        if gw in modes.agw_targets(graph, pol):
            out.append((pol, " ".join(e for _, e in modes.agw_expressions(found[0]))))
    return out


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    readers = [c for c in AGENTGATEWAY_WAYPOINTS if modes.reads_agw_policies(c)]
    for gw in modes.gateways_of_class(graph, *readers):
        allows = _allow_policies(graph, gw)
        if not allows:
            continue
        text = " ".join(t for _, t in allows)
        expected = _netpol_clients(graph, gw) | _authz_clients(graph, gw)
        missing = sorted(n for n in expected if f'"{n}"' not in text and f"'{n}'" not in text)
        if not missing:
            continue
        pol = allows[0][0]
        yield RULE.at(
            pol,
            ("spec", "traffic", "authorization"),
            f"{pol.ref} is an Allow policy on {gw.ref}, so everything it does not match is denied; "
            f"no Allow expression there admits namespace(s) {', '.join(missing)}, which the "
            "repository's NetworkPolicies or AuthorizationPolicies expect to use this waypoint. "
            'Add e.g. source.identity.namespace == "<ns>" or confirm they must be denied.',
            [related(gw, ("metadata", "name"), "deny-by-default target")],
        )
