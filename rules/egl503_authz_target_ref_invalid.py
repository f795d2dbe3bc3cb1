"""An AuthorizationPolicy `targetRef`/`targetRefs` entry names a kind, group or namespace that
Istio does not accept, or is combined with `selector`.

**Why it matters.** Istio's validation rejects the policy (or, for a GatewayClass outside the
root namespace, never attaches it), so the egress authorization you reviewed does not exist.

**What is checked.** Allowed targets are `Gateway` and `GatewayClass` (group
`gateway.networking.k8s.io`), `Service` (group `""` or `core`) and `ServiceEntry` (group
`networking.istio.io`). `namespace` must not be set (cross-namespace references are not
supported). `selector` and `targetRefs` are mutually exclusive. A `GatewayClass` target is only
valid in the root namespace (`istio-system` assumed).

**How to fix.** Use one of the allowed kinds with its group, in the policy's own namespace;
drop `selector` when using `targetRefs` (waypoints ignore selectors anyway).

Sources: `security/v1beta1/authorization_policy.proto`; `istio/istio`
`pkg/config/validation/validation.go` (`validatePolicyTargetReference`); `policies.go`.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import modes
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL503",
    name="authz-target-ref-invalid",
    tag="invalid",
    level="error",
    summary="AuthorizationPolicy targetRef with a kind/group/namespace Istio rejects, or with selector.",
    kinds=("AuthorizationPolicy",),
    precision="very-high",
    istio_analyzer=("IST0106",),
)

ALLOWED = {
    "Gateway": ("gateway.networking.k8s.io",),
    "GatewayClass": ("gateway.networking.k8s.io",),
    "Service": ("", "core"),
    "ServiceEntry": ("networking.istio.io",),
}


def _ref_problems(ap: Resource, ref: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    kind, group = ref.get("kind"), ref.get("group", "")
    if not isinstance(kind, str) or kind not in ALLOWED:
        yield (
            "kind",
            f"kind {kind!r} is not a valid target; use Gateway, GatewayClass, Service or ServiceEntry",
        )
    elif group not in ALLOWED[str(kind)]:
        want = " or ".join(repr(g) for g in ALLOWED[str(kind)])
        yield "group", f"kind {kind} needs group {want}, not {group!r}"
    if "namespace" in ref:
        yield (
            "namespace",
            "targetRef namespace must not be set (cross-namespace targets are not supported)",
        )
    if kind == "GatewayClass" and ap.namespace != modes.ROOT_NAMESPACE:
        yield (
            "kind",
            f"a GatewayClass target is only valid in the root namespace ({modes.ROOT_NAMESPACE})",
        )


def check(ctx: Context) -> Iterator[Finding]:
    for ap in ctx.graph.of_kind("AuthorizationPolicy"):
        if modes.has_target_refs(ap) and ap.spec.get("selector") is not None:
            yield RULE.at(
                ap,
                ("spec", "selector"),
                f"{ap.ref}: selector and targetRefs cannot both be set; drop selector (waypoints "
                "ignore it).",
            )
        for path, ref in modes.target_refs(ap):
            for key, message in _ref_problems(ap, ref):
                where = (*path, key) if key in ref else path
                yield RULE.at(ap, where, f"{ap.ref}: {message}.")
