"""A resource of a kind egresslint reads does not match its API schema.

**Why it matters.** The Kubernetes API server rejects such an object (Istio, Gateway API and
agentgateway CRDs are structural and reject unknown fields), so the configuration you reviewed
is not what runs; with some clients the unknown field is silently dropped instead.

**What is checked.** The schemas in `schemas/kinds/` are derived from the upstream CRDs of
Istio (ServiceEntry, DestinationRule, VirtualService, AuthorizationPolicy, ...), Gateway API
(Gateway, GatewayClass, HTTPRoute) and agentgateway, plus small hand-written schemas for the
core kinds egresslint reads (Namespace, NetworkPolicy, workloads). Unknown kinds are ignored.
The message names the field, what was expected, and the closest valid name or value.

**How to fix.** Correct the field as the message says, e.g. `resolution: DNS_LOOKUP` ->
`resolution: DNS`, or `hostz:` -> `hosts:`.
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import schema
from egresslint.model import Finding

RULE = Rule(
    id="EGL003",
    name="schema-violation",
    tag="invalid",
    level="error",
    summary="A resource does not match the API schema of its kind; the API server rejects it.",
    precision="very-high",
)


def check(ctx: Context) -> Iterator[Finding]:
    for res in ctx.graph.resources:
        for path, message in schema.errors(res):
            end = "" if message.endswith((".", "?")) else "."
            yield RULE.at(res, path, f"{res.ref}: {message}{end}")
