"""An AuthorizationPolicy uses HTTP attributes for traffic that goes through the L4
`solo-ztunnel-egress` gateway, which cannot see them.

**Why it matters.** ztunnel-native egress enforces source identity, destination port and
address only. HTTP methods, paths, hosts, request principals, `remoteIpBlocks` and `when`
keys other than `source.ip`/`source.namespace`/`source.principal`/`destination.ip`/
`destination.port` (`connection.sni` included: only a waypoint evaluates it) are not visible at
L4: in an ALLOW policy such a rule never matches, so the traffic it was meant to
allow is denied; in a DENY policy the HTTP part is dropped, so the rule is broader or does
nothing. Either way the policy does not do what it says.

**When it fires.** For policies whose `targetRefs` name a ServiceEntry bound to a Gateway of
class `solo-ztunnel-egress`, or that Gateway itself: one finding per policy rule
(`spec.rules[i]`), listing its HTTP-only fields and pointing at the first.

**How to fix.** Keep L4 fields only (`from.source.principals`, `namespaces`, `to.operation.ports`,
`when` on `source.*`/`destination.*`), or move hosts that need HTTP rules to an L7 egress
waypoint (`istio-waypoint`) and bind their ServiceEntry to it.

Sources: Solo "Egress approaches" overview (L4 ztunnel-native: "rules match on source identity
only and do not support HTTP-level attributes"); istio.io "Layer 4 policy" (L7 attributes at
ztunnel).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, modes, reach
from egresslint.mesh.graph import ZTUNNEL_EGRESS, MeshGraph
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL401",
    name="http-authz-on-ztunnel-egress",
    tag="unsupported-feature",
    level="warning",
    summary="AuthorizationPolicy with HTTP attributes on L4 ztunnel egress traffic, which cannot match them.",
    kinds=("AuthorizationPolicy", "ServiceEntry", "Gateway"),
    security_severity="5.0",
)


def _ztunnel_target(graph: MeshGraph, target: Resource) -> Resource | None:
    """The solo-ztunnel-egress Gateway behind a policy target, if any."""
    if target.kind == "Gateway":
        return target if graph.gateway_class(target) == ZTUNNEL_EGRESS else None
    if target.kind == "ServiceEntry" and graph.mode_of(target) == ZTUNNEL_EGRESS:
        return graph.waypoint_of(target)
    return None


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for ap in graph.of_kind("AuthorizationPolicy"):
        for target, _ in graph.policy_targets(ap):
            gw = _ztunnel_target(graph, target)
            if gw is None and not (
                target.kind == "ServiceEntry" and graph.mode_of(target) == ZTUNNEL_EGRESS
            ):
                continue
            rel = [related(target, ("metadata",), "policy target on L4 ztunnel egress")]
            if gw is not None and gw is not target:
                rel.append(related(gw, ("spec", "gatewayClassName"), "L4 egress gateway"))
            verdict = (
                "never matches (the traffic is denied)"
                if istio.action(ap) == "ALLOW"
                else "is dropped"
            )
            for index, path, names in reach.fields_by_rule(modes.ztunnel_l7_fields(ap)):
                attrs = "attribute" if len(names) == 1 else "attributes"
                yield RULE.at(
                    ap,
                    path,
                    f"{ap.ref} spec.rules[{index}] matches on HTTP {attrs} {reach.quoted(names)} "
                    f"for {target.ref}, which egresses through the L4 solo-ztunnel-egress gateway: "
                    f"the rule {verdict}. Use source identity and ports only, or bind the host to "
                    "an istio-waypoint for L7 rules.",
                    rel,
                )
            break
