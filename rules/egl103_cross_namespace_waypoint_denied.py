"""A binding to a waypoint in another namespace is refused by the waypoint's `allowedRoutes`,
so the traffic silently goes direct.

**Why it matters.** `istio.io/use-waypoint-namespace` only says where to look. Istio also asks
the waypoint whether it accepts the binding: it reads the Gateway listener on port 15008 with
protocol `HBONE` (or the listener an `ambient.istio.io/waypoint-inbound-binding` annotation
names) and its `allowedRoutes.namespaces.from`. Absent, or `Same`, admits only the Gateway's own
namespace; `Selector` admits namespaces whose labels match (every namespace carries
`kubernetes.io/metadata.name: <name>`); `All` admits every namespace. A refused binding gets the
status `istio.io/WaypointBound=False` (`AttachmentDenied`) and ztunnel sends the traffic
straight to the destination, skipping every egress policy on the waypoint.

**When it fires.** For each object carrying `istio.io/use-waypoint` (a Namespace, or a
ServiceEntry/Service with its own label) whose waypoint exists in the repository in another
namespace and does not admit the binding namespace. When the namespace is not in the repository
and only its labels could make a `Selector` match, the finding is a note. Gateways of classes
other than `istio-waypoint` and the agentgateway waypoint classes are reported as notes: their
controller may bind another listener.

**How to fix.** On the waypoint's HBONE listener set `allowedRoutes.namespaces.from: All`, or
`from: Selector` with a selector that matches the namespace (for one namespace:
`matchLabels: {kubernetes.io/metadata.name: <ns>}`), or label the namespace to match the
existing selector.

Holds since Istio 1.23 (cross-namespace waypoints). Sources: istio.io "Configure waypoint
proxies" (cross-namespace waypoint use); `pilot/pkg/serviceregistry/ambient/waypoints.go`
(`makeAllowedRoutes`, `AllowsAttachmentFromNamespace`).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass
from egresslint.mesh.graph import USE_WAYPOINT, USE_WAYPOINT_NS, MeshGraph
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL103",
    name="cross-namespace-waypoint-denied",
    tag="bypass",
    level="error",
    summary="Cross-namespace waypoint binding not admitted by the listener's allowedRoutes; traffic goes direct.",
    kinds=("ServiceEntry", "Namespace", "Service", "Gateway"),
    security_severity="8.0",
)


def _owners(graph: MeshGraph) -> Iterator[Resource]:
    yield from graph.of_kind("Namespace")
    for kind in ("ServiceEntry", "Service"):
        for res in graph.of_kind(kind):
            if USE_WAYPOINT in res.labels:
                yield res


def _why(adm: bypass.Admission, gw: Resource) -> str:
    if adm.listener is None:
        return f"it has no HBONE listener on port 15008, so only namespace '{gw.namespace}' is admitted"
    if adm.from_ == "Selector":
        return "its HBONE listener's allowedRoutes selector does not match the namespace's labels"
    if adm.from_ == "Same":
        return (
            f"its HBONE listener admits only namespace '{gw.namespace}' "
            "(allowedRoutes.namespaces.from is Same or unset)"
        )
    return f"its HBONE listener's allowedRoutes.namespaces.from is '{adm.from_}'"


def _finding(graph: MeshGraph, owner: Resource, gw: Resource, home: str) -> Finding:
    adm = bypass.admission(graph, gw)
    path = (
        "metadata",
        "labels",
        USE_WAYPOINT_NS if USE_WAYPOINT_NS in owner.labels else USE_WAYPOINT,
    )
    rel = [related(gw, adm.path(), "decides which namespaces may bind")]
    if owner.kind == "Namespace":
        rel += [
            related(se, ("metadata",), "inherits this binding")
            for se in graph.in_namespace("ServiceEntry", owner.name)
            if USE_WAYPOINT not in se.labels
        ][:10]
    return RULE.at(
        owner,
        path,
        f"{owner.ref} binds to waypoint {gw.ref}, but {_why(adm, gw)}: the binding is refused "
        "(AttachmentDenied) and traffic goes directly to the destination. Set "
        "allowedRoutes.namespaces.from: All on the waypoint's HBONE listener, or from: Selector "
        f"with a selector matching namespace '{home}' (e.g. kubernetes.io/metadata.name: {home}).",
        rel,
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for owner in _owners(graph):
        binding = graph.binding(owner)
        if binding is None or binding.opted_out or binding.inherited:
            continue
        home = owner.name if owner.kind == "Namespace" else owner.namespace
        gw = graph.get("Gateway", binding.namespace, binding.name)
        if gw is None or gw.namespace == home:
            continue
        verdict = bypass.admits(graph, gw, home)
        if verdict is True:
            continue
        adm = bypass.admission(graph, gw)
        certain = verdict is False and adm.known and bypass.istio_managed(graph, gw)
        if not certain and adm.listener is None and not bypass.istio_managed(graph, gw):
            continue  # another controller's Gateway without an HBONE listener: nothing known
        finding = _finding(graph, owner, gw, home)
        if not certain:
            finding.level = "note"
        yield finding
