"""An EnvoyFilter is aimed at an `istio-waypoint` egress waypoint, where its support is
uncertain.

**Why it matters.** Istio's documents disagree: the L7-features page lists EnvoyFilter on
waypoints as Alpha (via `targetRefs`), while the policy-migration guide says "EnvoyFilter
resources are not supported on waypoints" and are silently ignored. Even where applied, an
EnvoyFilter patches generated Envoy configuration whose shape changes between releases, so the
egress control it adds may disappear on upgrade without any error.

**When it fires.** At the `targetRefs` entry (or `workloadSelector`) of an EnvoyFilter naming
an `istio-waypoint` Gateway, the `istio-waypoint` GatewayClass, or selecting the waypoint's
pods by `gateway.networking.k8s.io/gateway-name`. Reported as a note.

**How to fix.** Prefer first-class APIs: AuthorizationPolicy, HTTPRoute/VirtualService,
DestinationRule, Telemetry. Keep an EnvoyFilter only with a test that proves it still applies
after each upgrade.

Sources: istio.io "Layer 7 features in ambient" and "Migrate policies" (EnvoyFilter on
waypoints); Istio release note 58032.
"""

from collections.abc import Iterator, Mapping

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import modes
from egresslint.mesh.graph import GATEWAY_NAME_LABELS, ISTIO_WAYPOINT, MeshGraph
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL413",
    name="envoyfilter-on-waypoint",
    tag="unsupported-feature",
    level="note",
    summary="EnvoyFilter aimed at an istio-waypoint: documented as unsupported or Alpha, fragile.",
    kinds=("EnvoyFilter", "Gateway"),
)


def _target(graph: MeshGraph, ef: Resource) -> tuple[Resource | None, tuple[object, ...]] | None:
    for path, ref in modes.target_refs(ef):
        kind, name = ref.get("kind"), ref.get("name")
        if kind == "GatewayClass" and name == ISTIO_WAYPOINT:
            return None, path
        gw = graph.get("Gateway", ef.namespace, str(name)) if kind == "Gateway" else None
        if gw is not None and graph.gateway_class(gw) == ISTIO_WAYPOINT:
            return gw, path
    labels = ef.get("spec", "workloadSelector", "labels")
    if isinstance(labels, Mapping):
        for key in GATEWAY_NAME_LABELS:
            gw = graph.get("Gateway", ef.namespace, str(labels.get(key)))
            if gw is not None and graph.gateway_class(gw) == ISTIO_WAYPOINT:
                return gw, ("spec", "workloadSelector")
    return None


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for ef in graph.of_kind("EnvoyFilter"):
        found = _target(graph, ef)
        if found is None:
            continue
        gw, path = found
        what = gw.ref if gw is not None else "every istio-waypoint (GatewayClass)"
        rel = [related(gw, ("metadata", "name"), "istio-waypoint")] if gw is not None else []
        yield RULE.at(
            ef,
            path,
            f"{ef.ref} patches {what}: EnvoyFilter on waypoints is documented as Alpha in one "
            "place and unsupported (silently ignored) in another, and breaks across upgrades. "
            "Prefer AuthorizationPolicy, routes or DestinationRule, or test it after each upgrade.",
            rel,
        )
