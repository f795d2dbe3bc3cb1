"""A ServiceEntry's restrictive `exportTo` is ignored in ambient: ztunnel and waypoints treat it
as `*`, so every namespace can use the host.

**Why it matters.** With sidecars, `exportTo: ["."]` hides a ServiceEntry from other
namespaces. ztunnel and waypoints do not implement `exportTo`: ambient pods in every namespace
resolve the host to the ServiceEntry's VIP and are routed to its waypoint. A team that scopes an
external host to its own namespace this way scopes nothing. Istio 1.31 adds mesh-level
`serviceEntryVisibility` for ambient; hidden ServiceEntries are then absent, not blocked.

**When it fires.** For ServiceEntries whose `exportTo` does not include `*`, when they are bound
to a waypoint (warning) or the repository has ambient namespaces (note).

**How to fix.** Restrict who may use the host with an AuthorizationPolicy at the waypoint
(`targetRefs` to the ServiceEntry, `from.source.namespaces` / `principals`), and keep direct
access blocked with an egress NetworkPolicy. Drop `exportTo` or keep it only for sidecar clients.

Sources: `networking/v1alpha3/service_entry.proto` (exportTo not supported by ztunnel and
waypoints); istio/api#3517; istio/istio#55163; istio.io "ServiceEntry visibility" (1.31).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.model import Finding, as_list

RULE = Rule(
    id="EGL112",
    name="se-exportto-ignored",
    tag="bypass",
    level="warning",
    summary="Restrictive ServiceEntry exportTo relied on in ambient, where ztunnel and waypoints ignore it.",
    kinds=("ServiceEntry",),
    security_severity="4.0",
)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    ambient = bool(graph.ambient_namespaces())
    for se in graph.of_kind("ServiceEntry"):
        export = se.spec.get("exportTo")
        if not isinstance(export, list) or not export or "*" in export:
            continue
        binding = graph.binding(se)
        bound = binding is not None and not binding.opted_out
        if not bound and not ambient:
            continue
        shown = ", ".join(str(e) for e in as_list(export))
        f = RULE.at(
            se,
            ("spec", "exportTo"),
            f"{se.ref} limits exportTo to [{shown}], but ztunnel and waypoints ignore exportTo: "
            "ambient pods in every namespace can use this host. Restrict callers with an "
            "AuthorizationPolicy at the waypoint (targetRefs to this ServiceEntry) instead.",
        )
        if not bound:
            f.level = "note"
        yield f
