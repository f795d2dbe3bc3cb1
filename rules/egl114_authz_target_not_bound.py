"""An AuthorizationPolicy targets a ServiceEntry (or Service) that has no effective waypoint,
or that does not exist, so its egress control silently applies nowhere.

**Why it matters.** A policy with `targetRefs` to a ServiceEntry or Service is enforced only by
the waypoint that target is bound to; ztunnel ignores `targetRefs` policies. When the target is
bound to no waypoint (no `istio.io/use-waypoint` on it or its namespace, or the opt-out
`none`), or its binding does not take effect (the waypoint does not exist in the namespace Istio
looks in, its HBONE listener's `allowedRoutes` refuses the namespace, or its
`istio.io/waypoint-for` is `workload`/`none`), istiod marks the policy
`WaypointAccepted=False` with reason `AncestorNotBound`; when no such target exists in the
policy's namespace, the reason is `TargetNotFound`. Nothing in Git shows it: the reviewed
policy exists, but the calls it was meant to restrict go out unchecked.

**When it fires.** For each `targetRef`/`targetRefs` entry of kind `ServiceEntry` or `Service`
(with the right group and no `namespace`, otherwise EGL503 applies) whose target is missing
from the policy's namespace, or whose binding certainly does not take effect: no binding, an
opt-out, or a waypoint that refuses it. A binding to a waypoint Gateway that does not exist is
reported once, by EGL102 at the label (the line to fix), not again here; a waypoint in a
namespace the view does not contain is not judged. A target without any binding whose
Namespace is not in the view, and a missing `Service` (often rendered by a chart), are
reported as notes.

**How to fix.** Bind the target to the egress waypoint (`istio.io/use-waypoint`, plus
`istio.io/use-waypoint-namespace` for a waypoint in another namespace that admits it), fix the
binding the related resources show, or correct the `targetRefs` name; a policy may only target
resources in its own namespace.

Holds since Istio 1.24 (policies attached to ServiceEntries at waypoints; Services since
1.22). Sources: `istio/istio` `pilot/pkg/serviceregistry/ambient/policies.go` and
`pilot/pkg/model/service.go` (`AncestorNotBound`, `TargetNotFound`);
`security/v1beta1/authorization_policy.proto` (targetRefs, ztunnel ignores them).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, modes
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Path, Related, Resource

RULE = Rule(
    id="EGL114",
    name="authz-target-not-bound",
    tag="bypass",
    level="warning",
    summary="AuthorizationPolicy targets a ServiceEntry/Service with no effective waypoint (or none at all): it applies nowhere.",
    kinds=("AuthorizationPolicy", "ServiceEntry", "Service", "Namespace", "Gateway"),
    security_severity="7.0",
)

_GROUPS = {"ServiceEntry": ("networking.istio.io",), "Service": ("", "core")}

_FIXES = {
    "unbound": "Bind it to the egress waypoint with istio.io/use-waypoint (on it or its namespace)",
    "opted-out": "Remove the opt-out and bind it to the egress waypoint",
    "missing": "Correct the waypoint name or istio.io/use-waypoint-namespace",
    "refused": "Fix the binding so the waypoint accepts it",
}


def _ref_target(ref: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of a ServiceEntry/Service reference EGL503 does not reject."""
    kind, name, group = ref.get("kind"), ref.get("name"), ref.get("group", "")
    if not isinstance(kind, str) or kind not in _GROUPS or not isinstance(name, str):
        return None
    if "namespace" in ref or group not in _GROUPS[kind]:
        return None
    return kind, name


def _not_found(ap: Resource, path: Path, kind: str, name: str, graph: MeshGraph) -> Finding:
    elsewhere = sorted(r.namespace for r in graph.of_kind(kind) if r.name == name)
    if elsewhere:
        hint = (
            f"A {kind} '{name}' exists in namespace '{elsewhere[0]}': a policy only attaches to "
            "targets in its own namespace, so move the policy there."
        )
    else:
        hint = f"Correct the name, or add the {kind}."
    finding = RULE.at(
        ap,
        path,
        f"{ap.ref} targets {kind} '{name}', which does not exist in namespace '{ap.namespace}' "
        f"(TargetNotFound): the policy applies nowhere and its egress control is silently "
        f"missing. {hint}",
    )
    if kind == "Service" and not elsewhere:
        finding.level = "note"
    return finding


def _related(target: Resource, problem: bypass.BindingProblem) -> list[Related]:
    rel = [related(target, ("metadata",), "the policy target")]
    if problem.owner is not None and problem.owner is not target:
        rel.append(related(problem.owner, problem.path, "the binding that does not take effect"))
    elif problem.owner is not None:
        rel[0] = related(target, problem.path, "the policy target and its binding")
    if problem.gateway is not None:
        rel.append(related(problem.gateway, ("metadata",), "the waypoint refusing the binding"))
    return rel


def _not_bound(
    ap: Resource, path: Path, target: Resource, problem: bypass.BindingProblem, graph: MeshGraph
) -> Finding:
    finding = RULE.at(
        ap,
        path,
        f"{ap.ref} targets {target.ref}, which {problem.what}: the policy is attached to no "
        "waypoint (WaypointAccepted=False, AncestorNotBound) and its egress control silently "
        f"does not apply. {_FIXES.get(problem.cause, _FIXES['refused'])}, or target the "
        "waypoint Gateway instead.",
        _related(target, problem),
    )
    if problem.cause == "unbound" and graph.namespace(target.namespace) is None:
        finding.level = "note"  # the namespace (and its labels) is not in the repository
    return finding


def _check_policy(graph: MeshGraph, ap: Resource) -> Iterator[Finding]:
    for path, ref in modes.target_refs(ap):
        found = _ref_target(ref)
        if found is None:
            continue
        kind, name = found
        target = graph.get(kind, ap.namespace, name)
        if target is None:
            yield _not_found(ap, path, kind, name, graph)
            continue
        problem = bypass.binding_problem(graph, target)
        if problem is not None and problem.cause != "missing":  # EGL102 reports that
            yield _not_bound(ap, path, target, problem, graph)


def check(ctx: Context) -> Iterator[Finding]:
    for ap in ctx.graph.of_kind("AuthorizationPolicy"):
        yield from _check_policy(ctx.graph, ap)
