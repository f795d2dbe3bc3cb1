"""An ALLOW AuthorizationPolicy without rules targets an egress ServiceEntry or waypoint, so it
denies every call.

**Why it matters.** An ALLOW policy allows what its rules match. With no `rules` at all (for
example `spec: {targetRefs: [...]}`) it matches nothing, and because an ALLOW policy now
applies to the target, everything not allowed is denied: this is Istio's documented
"allow-nothing" policy. On an egress ServiceEntry or waypoint it blocks the external host for
every client. `rules: [{}]` is the opposite: one empty rule matches every request (allow-all).

**When it fires.** For an ALLOW policy (the default action) with no rules or `rules: []` whose
`targetRefs` name a ServiceEntry bound to a waypoint or a waypoint Gateway. Policies for
agentgateway waypoints are skipped (they ignore AuthorizationPolicy).

**How to fix.** Add rules naming the allowed clients (`from.source.principals` or
`namespaces`). If denying everything is intended, say so with a comment and suppress the
finding, or use `action: DENY` with `rules: [{}]`, which states the intent.

Sources: authorization_policy.proto (allow-nothing / allow-all examples).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL211",
    name="allow-nothing-on-egress",
    tag="unreachable",
    level="warning",
    summary="ALLOW AuthorizationPolicy without rules on an egress target denies every call.",
    kinds=("AuthorizationPolicy", "ServiceEntry", "Gateway"),
)


def _egress_target(graph: MeshGraph, target: Resource) -> Resource | None:
    """The waypoint a policy target stands for, when the policy takes effect at it."""
    gw = reach.egress_gateway(graph, target)
    if gw is None or graph.gateway_class(gw) in reach.AGENTGATEWAY_CLASSES:
        return None
    return gw


def _has_no_rules(ap: Resource) -> bool:
    rules = ap.spec.get("rules")
    return rules is None or rules == []


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for ap in graph.of_kind("AuthorizationPolicy"):
        if istio.action(ap) != "ALLOW" or not _has_no_rules(ap):
            continue
        for target, i in graph.policy_targets(ap):
            gw = _egress_target(graph, target)
            if gw is None:
                continue
            rel = [related(target, ("metadata",), "egress target")]
            if gw is not target:
                rel.append(related(gw, ("metadata",), "the waypoint it is bound to"))
            path = ("spec", "rules") if "rules" in ap.spec else ("spec", "targetRefs", i)
            yield RULE.at(
                ap,
                path,
                f"{ap.ref} is an ALLOW policy without rules on {target.ref}: it allows nothing, so "
                "every call to this egress target is denied. Add rules naming the allowed clients "
                "(use 'rules: [{}]' only if everyone may call it).",
                rel,
            )
            break
