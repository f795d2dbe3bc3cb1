"""An agentgateway `Allow` authorization lists an identity expression and a request expression
separately, as if they were combined with AND; they are OR-ed.

**Why it matters.** In `traffic.authorization.policy.matchExpressions` of an
(Enterprise)AgentgatewayPolicy, an `Allow` policy matches when **any** expression is true. A
policy written as "caller is `ai/assistant`" plus "method is `GET`" therefore allows every
`GET` from anyone, and anything the assistant sends. This is a documented, real-world gotcha.

**When it fires.** For an `Allow` (the default action) policy where one expression tests only
the caller (`source.*`, `jwt.*`) and another only the request (`request.*`): at the request
expression.

**How to fix.** Combine the conditions into one expression with `&&`, e.g.
`source.identity.serviceAccount == "assistant" && request.method == "GET"`, or use
`action: Require` for conditions that must always hold.

Sources: agentgateway `controller/api/v1alpha1/shared/rbac.go` (Allow: "any" expression);
dev.to "Two agentgateway CEL gotchas" (Allow entries are OR-ed).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import modes
from egresslint.model import Finding

RULE = Rule(
    id="EGL407",
    name="agentgateway-allow-expressions-ored",
    tag="unsupported-feature",
    level="warning",
    summary="Allow authorization with separate identity and request expressions: they are OR-ed, not AND-ed.",
    kinds=modes.AGW_POLICY_KINDS,
    precision="medium",
    security_severity="6.5",
)

_IDENTITY = ("source.", "jwt.")
_REQUEST = ("request.",)


def _refers(expr: str, prefixes: tuple[str, ...]) -> bool:
    return any(p in expr for p in prefixes)


def check(ctx: Context) -> Iterator[Finding]:
    for pol in modes.agw_policies(ctx.graph):
        found = modes.agw_authorization(pol)
        if found is None or modes.agw_action(found[0]) != "Allow":
            continue
        authz, base = found
        exprs = modes.agw_expressions(authz)
        identity_only = [i for i, e in exprs if _refers(e, _IDENTITY) and not _refers(e, _REQUEST)]
        if not identity_only:
            continue
        for i, expr in exprs:
            if _refers(expr, _REQUEST) and not _refers(expr, _IDENTITY):
                yield RULE.at(
                    pol,
                    (*base, "policy", "matchExpressions", i),
                    f"{pol.ref} allows '{expr}' as a separate expression from the caller check "
                    f"at matchExpressions[{identity_only[0]}]: Allow expressions are OR-ed, so "
                    "any caller passes this one. Join the conditions with && in one expression.",
                )
