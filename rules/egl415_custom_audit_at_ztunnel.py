"""An AuthorizationPolicy with `action: CUSTOM` or `AUDIT` has no `targetRefs` in an ambient
namespace, so ztunnel would have to enforce it, and ztunnel supports only ALLOW and DENY.

**Why it matters.** ztunnel rejects other actions ("ztunnel does not support the CUSTOM
action", status `ZtunnelAccepted=UnsupportedValue`) and the policy is not applied: the external
authorizer is never called (CUSTOM), or nothing is audited (AUDIT). For egress, a CUSTOM policy
meant to gate outbound calls silently lets them through.

**When it fires.** At `spec.action` of CUSTOM/AUDIT AuthorizationPolicies without `targetRefs`
in a namespace labelled `istio.io/dataplane-mode: ambient` (not sidecar-injected).

**How to fix.** Attach the policy to a waypoint with `targetRefs` (the Gateway, Service or
ServiceEntry); waypoints support CUSTOM and AUDIT.

Sources: `pilot/pkg/serviceregistry/ambient/authorization.go`; istio.io "Migrate policies"
(ambient).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio, modes
from egresslint.model import Finding

RULE = Rule(
    id="EGL415",
    name="custom-audit-at-ztunnel",
    tag="unsupported-feature",
    level="warning",
    summary="CUSTOM/AUDIT AuthorizationPolicy without targetRefs in an ambient namespace: ztunnel ignores it.",
    kinds=("AuthorizationPolicy", "Namespace"),
    security_severity="5.0",
)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for ap in graph.of_kind("AuthorizationPolicy"):
        act = istio.action(ap)
        if act not in ("CUSTOM", "AUDIT") or modes.has_target_refs(ap):
            continue
        if not graph.is_ambient_namespace(ap.namespace):
            continue
        yield RULE.at(
            ap,
            ("spec", "action"),
            f"{ap.ref} uses action {act} without targetRefs in an ambient namespace: ztunnel "
            "supports only ALLOW and DENY and does not apply it. Attach it to a waypoint with "
            "targetRefs.",
        )
