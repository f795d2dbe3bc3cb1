"""An (Enterprise)AgentgatewayPolicy has a shape its CRD rejects: targets, sections or target
kinds.

**Why it matters.** The agentgateway CRDs enforce these rules with CEL validations that a plain
JSON-schema check (EGL003) does not run, so the policy looks fine in review but the API server
refuses it, and the egress authorization or rate limit it carries never exists.

**What is checked.** Exactly one of `targetRefs` / `targetSelectors`; at least one of
`traffic`, `frontend`, `backend`; a `traffic` policy only targets `Gateway`, `HTTPRoute`,
`GRPCRoute`, `ListenerSet` or `InferencePool` (never a `ServiceEntry`: target the waypoint
Gateway and select the host in CEL); a `frontend` policy only targets a `Gateway`; all
`targetRefs` of one policy have the same kind.

**How to fix.** Target the agentgateway waypoint Gateway and match the destination with
`request.host` / `destination.hostname` in the expression.

Sources: agentgateway `controller/api/v1alpha1/agentgateway/agentgateway_policy_types.go`
(XValidation rules). The Enterprise CRD is assumed to follow the open-source one.
"""

from collections.abc import Iterator
from typing import Any

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import modes
from egresslint.model import Finding, Resource, as_list

RULE = Rule(
    id="EGL505",
    name="agentgateway-policy-shape",
    tag="invalid",
    level="error",
    summary="(Enterprise)AgentgatewayPolicy with invalid targets or sections.",
    kinds=modes.AGW_POLICY_KINDS,
    precision="high",
)

TRAFFIC_KINDS = ("Gateway", "HTTPRoute", "GRPCRoute", "ListenerSet", "InferencePool")
Problem = tuple[tuple[Any, ...], str]


def _sections(pol: Resource) -> Iterator[Problem]:
    spec = pol.spec
    refs, selectors = (
        bool(as_list(spec.get("targetRefs"))),
        bool(as_list(spec.get("targetSelectors"))),
    )
    if refs == selectors:
        what = "both" if refs else "neither"
        yield ("spec",), f"set exactly one of targetRefs and targetSelectors, not {what}"
    if not any(spec.get(k) is not None for k in ("traffic", "frontend", "backend")):
        yield ("spec",), "set at least one of traffic, frontend, backend"


def _targets(pol: Resource) -> Iterator[Problem]:
    kinds = set()
    for path, ref in modes.target_refs(pol):
        kind = ref.get("kind")
        kinds.add(kind)
        if pol.spec.get("traffic") is not None and kind not in TRAFFIC_KINDS:
            hint = (
                " (target the waypoint Gateway and match the host in CEL)"
                if kind == "ServiceEntry"
                else ""
            )
            yield (*path, "kind"), f"a traffic policy cannot target kind {kind!r}{hint}"
        elif pol.spec.get("frontend") is not None and kind != "Gateway":
            yield (*path, "kind"), f"a frontend policy only targets a Gateway, not {kind!r}"
    if len(kinds) > 1:
        yield ("spec", "targetRefs"), "all targetRefs of one policy must have the same kind"


def check(ctx: Context) -> Iterator[Finding]:
    for pol in modes.agw_policies(ctx.graph):
        for path, message in (*_sections(pol), *_targets(pol)):
            yield RULE.at(pol, path, f"{pol.ref}: {message}.")
