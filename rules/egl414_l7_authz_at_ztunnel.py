"""An AuthorizationPolicy enforced by ztunnel (a `selector` or namespace-wide policy in an
ambient namespace, or any policy without `targetRefs` in the root namespace) uses L7
attributes ztunnel cannot evaluate.

**Why it matters.** Policies without `targetRefs` are enforced by the destination ztunnel,
which sees only L4. In the root namespace (`istio-system`) such a policy reaches further: without
a selector it is global (every ambient workload of the mesh), with one it applies to the
workloads it selects in every namespace. Istio then rewrites them: in an `ALLOW` policy every rule that contains an
L7 attribute is dropped (if all are, the policy allows nothing and denies every connection to
the selected workloads); in a `DENY` policy the L7 parts are removed and the L4 rest is
enforced (stricter than written), or the rule does nothing when no L4 part remains. The status
`ZtunnelAccepted=UnsupportedValue` says so, but Git never sees it.

**When it fires.** For AuthorizationPolicies without `targetRefs` in a namespace labelled
`istio.io/dataplane-mode: ambient` (not sidecar-injected), or in the root namespace when the
view shows ambient workloads it reaches (an ambient namespace or a waypoint for a global policy;
a selected workload in an ambient namespace for a selector policy), at the first L7 attribute
of each rule: `to.operation.hosts/methods/paths` (and `not*`), `from.source.requestPrincipals` /
`remoteIpBlocks` (and `not*`), and `when` keys other than `source.ip`, `source.namespace`,
`source.principal`, `destination.ip`, `destination.port`.

**How to fix.** Attach the policy to a waypoint with `targetRefs` (Gateway, Service or
ServiceEntry) so it is enforced at L7, or keep only L4 attributes in selector policies.

Sources: istio.io "Layer 4 policy" and "Layer 7 features"; istio/istio
`pilot/pkg/serviceregistry/kube/controller/ambient/authorization.go` (1.24.0-1.29.x) and
`pilot/pkg/serviceregistry/ambient/authorization.go` (1.30.0-1.30.3): handleRule, and
convertAuthorizationPolicy (`scope = Scope_GLOBAL` when `rootns == obj.Namespace` and there is
no selector); `workloads.go` buildWorkloadPolicies (selector policies of the root namespace
match workloads of every namespace). Behaviour of DENY per the code (older docs say all traffic
is dropped).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio, modes
from egresslint.mesh.graph import GATEWAY_NAME_LABELS
from egresslint.model import Finding, Resource, as_map

RULE = Rule(
    id="EGL414",
    name="l7-authz-at-ztunnel",
    tag="unsupported-feature",
    level="warning",
    summary="Selector or namespace-wide AuthorizationPolicy with L7 attributes: ztunnel drops them.",
    kinds=("AuthorizationPolicy", "Namespace"),
    security_severity="5.5",
)


def _selects_waypoint(ap: Resource) -> bool:
    labels = as_map(as_map(ap.spec.get("selector")).get("matchLabels"))
    return any(key in labels for key in GATEWAY_NAME_LABELS)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for ap in graph.of_kind("AuthorizationPolicy"):
        if _selects_waypoint(ap) or istio.action(ap) not in ("ALLOW", "DENY"):
            continue
        scope = istio.ztunnel_scope(graph, ap)
        if scope is None:
            continue
        if istio.action(ap) == "ALLOW":
            effect = "the rule is dropped, so its traffic is denied (fail closed)"
        else:
            effect = "the L7 part is dropped, so the rule denies more than written or nothing"
        seen: set[object] = set()
        for path, name in modes.ztunnel_l7_fields(ap):
            if path[2] in seen:
                continue
            seen.add(path[2])
            yield RULE.at(
                ap,
                path,
                f"{ap.ref} applies to the {scope} through ztunnel, which cannot evaluate "
                f"'{name}': {effect}. Attach the policy to a waypoint with targetRefs, or keep "
                "only L4 attributes.",
            )
