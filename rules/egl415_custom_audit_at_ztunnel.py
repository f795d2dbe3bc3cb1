"""An AuthorizationPolicy with `action: CUSTOM` or `AUDIT` has no `targetRefs` in an ambient
namespace or in the root namespace, so ztunnel would have to enforce it, and ztunnel supports
only ALLOW and DENY.

**Why it matters.** ztunnel rejects other actions ("ztunnel does not support the CUSTOM
action", status `ZtunnelAccepted=UnsupportedValue`) and the policy is not applied: the external
authorizer is never called (CUSTOM), or nothing is audited (AUDIT). For egress, a CUSTOM policy
meant to gate outbound calls silently lets them through.

**When it fires.** At `spec.action` of CUSTOM/AUDIT AuthorizationPolicies without `targetRefs`
in a namespace labelled `istio.io/dataplane-mode: ambient` (not sidecar-injected), or in the
root namespace (`istio-system`), where such a policy is meant for the whole mesh (no selector)
or for the workloads it selects in every namespace: when the view shows ambient workloads it
reaches (an ambient namespace or a waypoint for a global policy; a selected workload in an
ambient namespace for a selector policy). Sidecars still apply it; ambient workloads do not.

**How to fix.** Attach the policy to a waypoint with `targetRefs` (the Gateway, Service or
ServiceEntry); waypoints support CUSTOM and AUDIT.

Sources: istio/istio `pilot/pkg/serviceregistry/kube/controller/ambient/authorization.go`
(1.24.0-1.29.x) and `pilot/pkg/serviceregistry/ambient/authorization.go` (1.30.0-1.30.3):
convertAuthorizationPolicy ("ztunnel does not support the %s action"; root-namespace policies
without a selector are GLOBAL); `workloads.go` buildWorkloadPolicies (root-namespace selector
policies match every namespace); istio.io "Migrate policies" (ambient).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio
from egresslint.mesh.graph import ROOT_NAMESPACE
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
        if act not in ("CUSTOM", "AUDIT"):
            continue
        scope = istio.ztunnel_scope(graph, ap)
        if scope is None:
            continue
        where = "in an ambient namespace" if ap.namespace != ROOT_NAMESPACE else f"for the {scope}"
        yield RULE.at(
            ap,
            ("spec", "action"),
            f"{ap.ref} uses action {act} without targetRefs {where}: ztunnel supports only "
            f"ALLOW and DENY and does not apply it{_effect(act)}. Attach it to a waypoint with "
            "targetRefs.",
        )


def _effect(act: str) -> str:
    if act == "CUSTOM":
        return " (the external authorizer is never asked for ambient workloads)"
    return " (nothing of ambient workloads is audited)"
