"""A `MESH_EXTERNAL` ServiceEntry has no effective waypoint while the repository controls
egress, so its traffic leaves without egress control.

**Why it matters.** In ambient mode ztunnel sends traffic for a ServiceEntry that is not bound
to a waypoint straight from the application pod to the external host: no AuthorizationPolicy at
a waypoint, no TLS origination, no L7 telemetry. L4 policy is enforced by the *destination*
ztunnel, and an external host has none. Opting out with `istio.io/use-waypoint: none` on the
ServiceEntry while its namespace binds a waypoint does the same for that one host.

**When it fires.** Only where the repository shows evidence of egress control (answered once
for every rule, `egresslint/mesh/bypass.py` `egress_evidence`): an egress waypoint (a waypoint
some MESH_EXTERNAL ServiceEntry is bound to, by its own label or its namespace's) or the
vendor's ztunnel egress gateway (`solo-ztunnel-egress`, or ztunnel `egressPolicies` that deny),
a MESH_EXTERNAL ServiceEntry bound to a waypoint outside the view, `--mode`, and, where the mesh
runs ambient, an explicit egress gateway (a dedicated Gateway API or classic Istio gateway that
carries external hosts, `egresslint/mesh/gateways.py`), an egress lock-down NetworkPolicy, an
AuthorizationPolicy on a ServiceEntry or egress gateway, or `REGISTRY_ONLY` mesh config or Helm
values. An application waypoint that only Services or namespaces of workloads use is not
evidence. It fires for ServiceEntries with `location: MESH_EXTERNAL` (the default) whose own
label and namespace label leave them unbound. ServiceEntries in sidecar-injected namespaces are
skipped, and so are ServiceEntries without hosts: Istio's validation rejects them ("service
entry must have at least one host"), and the schema or validation rules report that. A
ServiceEntry whose every host an explicit egress gateway carries is left to EGL115: there the
gateway, not a waypoint binding, is the control, and whether clients can go around it depends on
mesh routes and NetworkPolicy, not on the label.

**How to fix.** Label the ServiceEntry (or its namespace) with
`istio.io/use-waypoint: <gateway-name>`, plus `istio.io/use-waypoint-namespace: <ns>` when the
waypoint lives in another namespace. Remove a `none` opt-out unless the host is meant to bypass
egress control. The message names only egress gateways, and of those only ones whose HBONE
listener admits the ServiceEntry's namespace (`allowedRoutes.namespaces.from`, default `Same`,
see EGL103); otherwise it proposes moving the ServiceEntry into the egress waypoint's namespace
or opening the listener (`from: All`, or `Selector`). Where the only egress gateways are explicit
ones, it proposes carrying the host through one of them (a route there whose backendRef names
the host) or binding it to an egress waypoint.

Holds since Istio 1.22 (label-based binding); egress through waypoints is GA since 1.24.
Sources: istio/istio `pilot/pkg/serviceregistry/kube/controller/ambient/waypoints.go` (1.24.0)
and `pilot/pkg/serviceregistry/ambient/waypoints.go` (1.30.3): `fetchWaypointForTarget` reads
the object's own `istio.io/use-waypoint` label (`none` opts out), else its namespace's, and
refuses namespaces the waypoint does not admit; `pkg/config/validation/validation.go`
`ValidateServiceEntry` (1.24.0-1.30.3, at least one host); istio/ztunnel `src/proxy/outbound.rs`
`build_request` (1.24.0, 1.30.3): a destination address that is no known service goes out as
passthrough TCP. Explicit egress gateways: see EGL115 and `egresslint/mesh/gateways.py`.
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, gateways
from egresslint.mesh.graph import USE_WAYPOINT, MeshGraph
from egresslint.model import Finding, Related, Resource, listed

RULE = Rule(
    id="EGL101",
    name="se-not-bound-to-waypoint",
    tag="bypass",
    level="warning",
    summary="MESH_EXTERNAL ServiceEntry without an effective waypoint: traffic leaves uncontrolled.",
    kinds=("ServiceEntry", "Namespace", "Gateway"),
    security_severity="7.5",
)

_LABEL = ("metadata", "labels", USE_WAYPOINT)


def _label_text(se: Resource, gw: Resource) -> str:
    if gw.namespace == se.namespace:
        return f"istio.io/use-waypoint: {gw.name}"
    return f"istio.io/use-waypoint: {gw.name} and istio.io/use-waypoint-namespace: {gw.namespace}"


def _advice(se: Resource, graph: MeshGraph) -> tuple[str, list[Related]]:
    """How to bind the ServiceEntry: only to waypoints that would accept it (the advice depends
    only on the namespace, so it is worked out once per namespace)."""
    return graph.memo(("EGL101.advice", se.namespace), lambda: _advice_now(se, graph))


def _advice_now(se: Resource, graph: MeshGraph) -> tuple[str, list[Related]]:
    egress = set(bypass.egress_gateways(graph))
    admitting = [g for g in bypass.service_waypoints_admitting(graph, se.namespace) if g in egress]
    if len(admitting) == 1:
        return (
            f"Add the label {_label_text(se, admitting[0])} to the ServiceEntry or its namespace.",
            [],
        )
    if admitting:
        names = listed(sorted(g.ref.split(" ", 1)[1] for g in admitting))
        return (
            f"Bind it to one of the waypoints that admit namespace '{se.namespace}' ({names}) "
            "with istio.io/use-waypoint (and istio.io/use-waypoint-namespace when it lives "
            "elsewhere) on the ServiceEntry or its namespace.",
            [],
        )
    others = [g for g in bypass.service_waypoints(graph) if g in egress]
    if not others:
        return _no_waypoint_advice(graph)
    gw = graph.memo("EGL101.first_waypoint", lambda: min(others, key=lambda g: g.ref))
    adm = bypass.admission(graph, gw)
    home = graph.namespace(gw.namespace)
    if home is not None and home.labels.get(USE_WAYPOINT) == gw.name:
        move = f"(its namespace label binds it to {gw.name})"
    else:
        move = f"and label it istio.io/use-waypoint: {gw.name}"
    return (
        f"No waypoint admits namespace '{se.namespace}' (waypoint {gw.ref} accepts bindings "
        f"only from {_admitted(adm, gw)}): move the ServiceEntry into namespace '{gw.namespace}' "
        f"{move}, or open the waypoint's HBONE listener "
        f"(allowedRoutes.namespaces.from: All, or Selector matching namespace '{se.namespace}') "
        f"and add the labels {_label_text(se, gw)}.",
        [related(gw, adm.path(), "does not admit the ServiceEntry's namespace")],
    )


def _no_waypoint_advice(graph: MeshGraph) -> tuple[str, list[Related]]:
    label = (
        "the label istio.io/use-waypoint: <egress waypoint> (and istio.io/use-waypoint-namespace "
        "when it lives elsewhere) to the ServiceEntry or its namespace"
    )
    dedicated = gateways.explicit_gateways(graph)
    if not dedicated:
        return f"Add {label}.", []
    gw = dedicated[0].gateway
    return (
        f"Carry it through egress gateway {gw.ref} (a route there whose backendRef names the "
        f"host, with client namespaces locked down), or add {label}.",
        [related(gw, ("metadata",), "the explicit egress gateway")],
    )


def _admitted(adm: bypass.Admission, gw: Resource) -> str:
    if adm.from_ == "Selector":
        return "namespaces matching its allowedRoutes selector"
    return f"its own namespace '{gw.namespace}'"


def _hosts(se: Resource, graph: MeshGraph) -> str:
    return listed(graph.se_hosts(se))


def _unbound(se: Resource, graph: MeshGraph) -> Finding:
    path = ("metadata", "labels") if "labels" in se.metadata else ("metadata",)
    ns = graph.namespace(se.namespace)
    rel = [related(ns, ("metadata",), "namespace has no istio.io/use-waypoint label")] if ns else []
    advice, more = _advice(se, graph)
    return RULE.at(
        se,
        path,
        f"{se.ref} registers {_hosts(se, graph)} but is bound to no waypoint: ambient pods reach "
        f"it directly, bypassing egress policy. {advice}",
        rel + more,
    )


def _opted_out(se: Resource, graph: MeshGraph) -> Finding:
    ns = graph.namespace(se.namespace)
    rel = []
    if ns is not None and ns.labels.get(USE_WAYPOINT, "none") != "none":
        rel.append(related(ns, _LABEL, "the namespace binds this waypoint"))
    owner = "its namespace's" if USE_WAYPOINT not in se.labels else "its own"
    target = se if USE_WAYPOINT in se.labels else (ns or se)
    return RULE.at(
        se,
        _LABEL if target is se else ("metadata",),
        f"{se.ref} opts out of egress control ({owner} label istio.io/use-waypoint: none): "
        f"traffic to {_hosts(se, graph)} goes directly from the pods. Remove the opt-out or bind "
        "the ServiceEntry to the egress waypoint.",
        rel,
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    if not bypass.egress_controlled(graph):
        return
    for se in graph.of_kind("ServiceEntry"):
        if not graph.is_external(se) or graph.is_sidecar_namespace(se.namespace):
            continue
        if not graph.se_hosts(se):
            continue  # rejected by validation (no host): EGL003 reports it
        if gateways.carries_all_hosts(graph, se):
            continue  # an explicit egress gateway carries it: EGL115 judges the paths around it
        binding = graph.binding(se)
        if binding is None:
            yield _unbound(se, graph)
        elif binding.opted_out:
            yield _opted_out(se, graph)
