"""An agentgateway authorization uses `action: Deny`, which fails open when its expression
cannot be evaluated.

**Why it matters.** A CEL expression that fails to evaluate (a missing header or claim, a field
that is empty in the traffic phase such as the request body) does not match. For `Deny` that
means the request is **allowed**. agentgateway's own API documentation recommends `Require`
for conditions that must hold, because a `Require` that cannot be evaluated denies.

**When it fires.** At `traffic.authorization.action: Deny` of an AgentgatewayPolicy or
EnterpriseAgentgatewayPolicy. Reported as a note: a Deny on simple, always-present attributes
is fine. Silent when every `targetRefs` entry names a Gateway of a class that never reads these
kinds: istiod's own agentgateway classes (`istio-agentgateway`, `istio-agentgateway-waypoint`)
are programmed from Gateway API resources only (`AgwInputs` in istio/istio
`pilot/pkg/config/kube/agentgateway/agentgateway_controller.go`, 1.30.3 and 1.31.0-rc.0), so
the policy does nothing there at all.

**How to fix.** Express the condition positively with `action: Require` (all Require policies
must match), or make sure every attribute the expression reads is always present.

Sources: agentgateway's `AgentgatewayPolicy` API, `controller/api/v1alpha1/shared/rbac.go`
at v1.2.1 ("prefer to use `Require`") and `controller/api/v1alpha1/agentgateway/rbac.go` at
v1.4.1 ("expression failures fail to deny"); dev.to "Two agentgateway CEL gotchas". For
`EnterpriseAgentgatewayPolicy` this follows the vendor's documentation, whose
`traffic.authorization` has the same shape.
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import modes
from egresslint.model import Finding

RULE = Rule(
    id="EGL408",
    name="agentgateway-deny-fails-open",
    tag="unsupported-feature",
    level="note",
    summary="agentgateway Deny authorization fails open when its CEL expression errors; prefer Require.",
    kinds=modes.AGW_POLICY_KINDS,
    precision="medium",
)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for pol in modes.agw_policies(graph):
        found = modes.agw_authorization(pol)
        if found is None or modes.agw_action(found[0]) != "Deny":
            continue
        if modes.agw_policy_unread(graph, pol):
            continue
        yield RULE.at(
            pol,
            (*found[1], "action"),
            f"{pol.ref} uses action: Deny: an expression that fails to evaluate (missing header, "
            "claim or body field) does not match, so the request is allowed. Prefer "
            "action: Require with the positive condition.",
        )
