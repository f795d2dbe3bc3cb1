"""`istio.io/use-waypoint` names a Gateway that does not exist in the namespace Istio looks in,
so traffic silently goes direct.

**Why it matters.** The label only states an intent. When the named waypoint is missing (or
not ready) ztunnel does not fail the request: it sends traffic straight to the destination,
skipping every policy attached to the waypoint. The ServiceEntry's status shows
`istio.io/WaypointBound=False` (`WaypointIsNotReady`), which nobody reads in Git.

**Where Istio looks.** In the namespace of the object that carries the label, unless
`istio.io/use-waypoint-namespace` names another one. The label value is just the Gateway name;
`namespace/name` is not parsed.

**When it fires.** When the repository contains waypoint or egress Gateways (otherwise the
Gateways are assumed to live in another repository and nothing can be said) and the named
Gateway is not among them in the resolved namespace. The message suggests the closest existing
name, and a `istio.io/use-waypoint-namespace` label when a Gateway of that name exists
elsewhere.

**How to fix.** Correct the name, add `istio.io/use-waypoint-namespace: <ns>`, or create the
Gateway.

Sources: istio.io "Configure waypoint proxies"; `pilot/pkg/serviceregistry/ambient/waypoints.go`.
"""

import difflib
from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh.graph import USE_WAYPOINT, USE_WAYPOINT_NS, Binding, MeshGraph
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL102",
    name="waypoint-not-found",
    tag="bypass",
    level="error",
    summary="istio.io/use-waypoint names a Gateway that does not exist; traffic silently goes direct.",
    kinds=("ServiceEntry", "Namespace", "Service", "Gateway"),
    security_severity="8.0",
)


def _hint(binding: Binding, graph: MeshGraph) -> str:
    waypoints = graph.waypoints()
    elsewhere = sorted(gw.namespace for gw in waypoints if gw.name == binding.name)
    if elsewhere:
        return (
            f" A Gateway named '{binding.name}' exists in namespace '{elsewhere[0]}': add the label "
            f"{USE_WAYPOINT_NS}: {elsewhere[0]}."
        )
    names = [gw.name for gw in waypoints if gw.namespace == binding.namespace]
    close = difflib.get_close_matches(binding.name, names, n=1)
    if close:
        return f" Did you mean '{close[0]}'?"
    return f" Known waypoints: {', '.join(sorted(f'{g.namespace}/{g.name}' for g in waypoints))}."


def _owners(graph: MeshGraph) -> Iterator[Resource]:
    yield from graph.of_kind("Namespace")
    for kind in ("ServiceEntry", "Service"):
        for res in graph.of_kind(kind):
            if USE_WAYPOINT in res.labels:
                yield res


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    if not graph.waypoints():
        return
    for owner in _owners(graph):
        binding = graph.binding(owner)
        if binding is None or binding.opted_out or binding.inherited:
            continue
        if graph.get("Gateway", binding.namespace, binding.name) is not None:
            continue
        bound = (
            [
                se
                for se in graph.in_namespace("ServiceEntry", owner.name)
                if USE_WAYPOINT not in se.labels
            ]
            if owner.kind == "Namespace"
            else []
        )
        yield RULE.at(
            owner,
            binding.label_path,
            f"{owner.ref} uses waypoint '{binding.name}' but no Gateway '{binding.name}' exists in "
            f"namespace '{binding.namespace}': traffic bypasses the waypoint."
            + _hint(binding, graph),
            [related(se, ("metadata",), "inherits this binding") for se in bound[:10]],
        )
