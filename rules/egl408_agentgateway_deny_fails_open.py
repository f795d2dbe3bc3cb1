"""An agentgateway authorization uses `action: Deny`, which fails open when its expression
cannot be evaluated.

**Why it matters.** A CEL expression that fails to evaluate (a missing header or claim, a field
that is empty in the traffic phase such as the request body) does not match. For `Deny` that
means the request is **allowed**. agentgateway's own API documentation recommends `Require`
for conditions that must hold, because a `Require` that cannot be evaluated denies.

**When it fires.** At `traffic.authorization.action: Deny` of an (Enterprise)AgentgatewayPolicy.
Reported as a note: a Deny on simple, always-present attributes is fine.

**How to fix.** Express the condition positively with `action: Require` (all Require policies
must match), or make sure every attribute the expression reads is always present.

Sources: agentgateway `controller/api/v1alpha1/shared/rbac.go` ("prefer Require"); dev.to
"Two agentgateway CEL gotchas" (one fails open).
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
    for pol in modes.agw_policies(ctx.graph):
        found = modes.agw_authorization(pol)
        if found is None or modes.agw_action(found[0]) != "Deny":
            continue
        yield RULE.at(
            pol,
            (*found[1], "action"),
            f"{pol.ref} uses action: Deny: an expression that fails to evaluate (missing header, "
            "claim or body field) does not match, so the request is allowed. Prefer "
            "action: Require with the positive condition.",
        )
