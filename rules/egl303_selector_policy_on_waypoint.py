"""A policy uses `selector` to aim at a waypoint's pods; waypoints ignore selector-based
policies, so it does nothing there.

**Why it matters.** Waypoints apply only AuthorizationPolicy (and RequestAuthentication,
Telemetry, WasmPlugin) attached with `targetRefs`; a `selector` policy is for the destination
ztunnel or a sidecar. A policy that selects the waypoint pods by their gateway-name label
therefore never reaches the waypoint: an ALLOW/DENY meant to control egress is silently
ignored. `istioctl analyze` reports this as IST0166 (IneffectiveSelector).

**When it fires.** For AuthorizationPolicy, RequestAuthentication, Telemetry and WasmPlugin
whose non-empty `selector` matches the pods of a waypoint Gateway in the same namespace: the
labels `gateway.networking.k8s.io/gateway-name` or the legacy `istio.io/gateway-name` with the
Gateway's name, or its `spec.infrastructure.labels`. (Managed waypoint pods of current Istio
carry only the first; a selector on the legacy label selects nothing at all, which is no better.)
Selectors that also match application workloads of the namespace are left alone. When the
selector names a Gateway by its `gateway.networking.k8s.io/gateway-name` label and the view
holds no Gateway in that namespace (its gateways are defined in another repository), the
finding is a note: for a waypoint the policy does nothing; a Gateway API gateway that is not a
waypoint applies selector policies only while istiod's `ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY`
is on (the default, `pilot/pkg/features/pilot.go`; `WorkloadPolicyMatcher.ShouldAttachPolicy`
in `pilot/pkg/model/policyattachment.go`: "waypoints never use selector", 1.24.0-1.30.3).

**How to fix.** Replace `selector` with
`targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: <waypoint>}]`, or target
the ServiceEntry (`kind: ServiceEntry, group: networking.istio.io`) to scope it to one host.

`solo-ztunnel-egress` Gateways have no pods and are skipped. Sources: authorization_policy.proto
(`selector` vs `targetRefs`); istioctl analyze IST0166 (`k8sgateway/workloadselector.go`);
istio/istio#54718.
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import reach
from egresslint.mesh.graph import ZTUNNEL_EGRESS, MeshGraph
from egresslint.mesh.selectors import is_empty_selector, selector_matches
from egresslint.model import Finding, Resource, as_map

RULE = Rule(
    id="EGL303",
    name="selector-policy-on-waypoint",
    tag="waypoint-restricted",
    level="warning",
    summary="Policy selects waypoint pods with `selector`; waypoints only apply targetRefs.",
    kinds=("AuthorizationPolicy", "RequestAuthentication", "Telemetry", "WasmPlugin", "Gateway"),
    istio_analyzer=("IST0166",),
)

_KINDS = ("AuthorizationPolicy", "RequestAuthentication", "Telemetry", "WasmPlugin")


def _pod_labels(gw: Resource) -> dict[str, str]:
    labels = {str(k): str(v) for k, v in as_map(gw.get("spec", "infrastructure", "labels")).items()}
    labels[reach.GATEWAY_NAME_LABEL] = gw.name
    return labels


def _selected_waypoint(graph: MeshGraph, policy: Resource) -> Resource | None:
    selector = policy.spec.get("selector")
    if not isinstance(selector, dict) or is_empty_selector(selector):
        return None
    if any(selector_matches(selector, w.labels) for w in graph.workloads(policy.namespace)):
        return None  # it also selects application pods, where it does apply
    for gw in graph.in_namespace("Gateway", policy.namespace):
        if not graph.is_waypoint(gw) or graph.gateway_class(gw) == ZTUNNEL_EGRESS:
            continue
        legacy = {reach.LEGACY_GATEWAY_NAME_LABEL: gw.name}
        if selector_matches(selector, _pod_labels(gw)) or selector_matches(selector, legacy):
            return gw
    return None


def _named_gateway_elsewhere(graph: MeshGraph, policy: Resource) -> str | None:
    """The Gateway a selector names by its gateway-name label, when the view holds no Gateway
    at all in the policy's namespace (its gateways are managed elsewhere; with gateways in the
    view, a name among none of them selects no pods)."""
    if graph.in_namespace("Gateway", policy.namespace):
        return None
    labels = as_map(as_map(policy.spec.get("selector")).get("matchLabels"))
    for key in (reach.GATEWAY_NAME_LABEL, reach.LEGACY_GATEWAY_NAME_LABEL):
        name = labels.get(key)
        if isinstance(name, str) and graph.get("Gateway", policy.namespace, name) is None:
            return name
    return None


def _elsewhere(policy: Resource, name: str) -> Finding:
    finding = RULE.at(
        policy,
        ("spec", "selector"),
        f"{policy.ref} uses 'selector' to aim at the pods of Gateway '{name}', which is not in "
        "the linted files: if it is a waypoint, the policy has no effect (waypoints apply only "
        "targetRefs policies); a Gateway API gateway applies it only while istiod's "
        "ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY is on. Use 'targetRefs: [{kind: Gateway, "
        f"group: gateway.networking.k8s.io, name: {name}}}]' instead.",
    )
    finding.level = "note"
    return finding


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for policy in graph.of_kind(*_KINDS):
        if policy.spec.get("targetRef") or policy.spec.get("targetRefs"):
            continue  # targetRefs win: the selector is ignored (ShouldAttachPolicy)
        gw = _selected_waypoint(graph, policy)
        if gw is None:
            name = _named_gateway_elsewhere(graph, policy)
            if name is not None:
                yield _elsewhere(policy, name)
            continue
        yield RULE.at(
            policy,
            ("spec", "selector"),
            f"{policy.ref} uses 'selector' to aim at the pods of waypoint {gw.ref}, but waypoints "
            "ignore selector-based policies: it has no effect on traffic through the waypoint. "
            f"Use 'targetRefs: [{{kind: Gateway, group: gateway.networking.k8s.io, name: "
            f"{gw.name}}}]' (or target the ServiceEntry) instead.",
            [related(gw, ("metadata",), "the waypoint")],
        )
