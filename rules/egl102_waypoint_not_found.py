"""`istio.io/use-waypoint` names a Gateway that does not exist in the namespace Istio looks in,
so traffic silently goes direct.

**Why it matters.** The label only states an intent. When the named waypoint is missing (or
not ready) ztunnel does not fail the request: it sends traffic straight to the destination,
skipping every policy attached to the waypoint. The ServiceEntry's status shows
`istio.io/WaypointBound=False` (`WaypointIsNotReady`), which nobody reads in Git.

**Where Istio looks.** In the namespace of the object that carries the label, unless
`istio.io/use-waypoint-namespace` names another one. The label value is just the Gateway name;
`namespace/name` is not parsed.

**When it fires.** When the named Gateway is not in the resolved namespace and that namespace
is part of the view (its Namespace object or any resource in it is linted), whether or not
any other waypoint exists: a deleted waypoint still leaves its namespace's label in place. The
message suggests the closest existing name, a `istio.io/use-waypoint-namespace` label when a
Gateway of that name exists elsewhere, and names the render that renamed the Gateway when a
kustomize `namePrefix`/`nameSuffix` did (kustomize does not rewrite label values).

**When it cannot tell.** When the resolved namespace is not in the view at all (an application
repository binding to a platform waypoint defined elsewhere), the finding is a note that says
so. Declare such Gateways in the configuration (`external: {gateways: [ns/name]}`) to silence
it, or `complete: true` to judge them as missing. With `--mode solo-ztunnel-egress` and no
Gateway in the view, EGL403 reports a binding outside `istio-system` instead.

**How to fix.** Correct the name, add `istio.io/use-waypoint-namespace: <ns>`, or create the
Gateway. `egresslint fix` adds the namespace label when exactly one Gateway of that name exists
in another namespace and admits the binding's namespace (its HBONE listener's
`allowedRoutes`).

Sources: istio.io "Configure waypoint proxies"; `pilot/pkg/serviceregistry/ambient/waypoints.go`.
"""

import difflib
from collections.abc import Iterator

from egresslint.lint.edits import Edit, set_label
from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, modes
from egresslint.mesh.graph import USE_WAYPOINT, USE_WAYPOINT_NS, Binding, MeshGraph
from egresslint.model import Finding, Related, Resource, listed

RULE = Rule(
    id="EGL102",
    name="waypoint-not-found",
    tag="bypass",
    level="error",
    summary="istio.io/use-waypoint names a Gateway that does not exist; traffic silently goes direct.",
    kinds=("ServiceEntry", "Namespace", "Service", "Gateway"),
    security_severity="8.0",
    fixable=True,
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
    if not waypoints:
        return (
            " No waypoint Gateway is defined in the linted files: create it, or remove the label."
        )
    return f" Known waypoints: {listed(sorted(f'{g.namespace}/{g.name}' for g in waypoints))}."


def _renamed(binding: Binding, graph: MeshGraph) -> tuple[str, list[Related]]:
    """A Gateway of the binding's namespace that a render renamed from the label's value."""
    for gw in graph.in_namespace("Gateway", binding.namespace):
        origin = gw.origin
        if origin is not None and origin.source_name == binding.name and gw.name != binding.name:
            why = (
                f" The render renamed Gateway '{binding.name}' to '{gw.name}' and kustomize does "
                "not rewrite label values: set the label to the rendered name in this overlay "
                "(a patch), or drop the name prefix/suffix for the Gateway."
            )
            return why, [related(gw, ("metadata", "name"), "the renamed waypoint")]
    return "", []


def _owners(graph: MeshGraph) -> Iterator[Resource]:
    yield from graph.of_kind("Namespace")
    for kind in ("ServiceEntry", "Service"):
        for res in graph.of_kind(kind):
            if USE_WAYPOINT in res.labels:
                yield res


def _inheriting(owner: Resource, graph: MeshGraph) -> list[Related]:
    if owner.kind != "Namespace":
        return []
    bound = [
        se for se in graph.in_namespace("ServiceEntry", owner.name) if USE_WAYPOINT not in se.labels
    ]
    return [related(se, ("metadata",), "inherits this binding") for se in bound[:10]]


def _unknown(owner: Resource, binding: Binding) -> Finding:
    finding = RULE.at(
        owner,
        binding.label_path,
        f"{owner.ref} uses waypoint '{binding.name}' in namespace '{binding.namespace}', which "
        "is not in the linted files: egresslint cannot tell whether that Gateway exists (if it "
        "does not, traffic bypasses the waypoint). Lint it together with the files that define "
        f"namespace '{binding.namespace}', or declare the Gateway under external.gateways in "
        "the configuration.",
    )
    finding.level = "note"
    return finding


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for owner in _owners(graph):
        binding = graph.binding(owner)
        if binding is None or binding.opted_out or binding.inherited:
            continue
        status = graph.gateway_status(binding.namespace, binding.name)
        if status in ("present", "external") or modes.ztunnel_namespace_unstated(graph, binding):
            continue
        if status == "unknown":
            yield _unknown(owner, binding)
            continue
        renamed, rel = _renamed(binding, graph)
        yield RULE.at(
            owner,
            binding.label_path,
            f"{owner.ref} uses waypoint '{binding.name}' but no Gateway '{binding.name}' exists in "
            f"namespace '{binding.namespace}': traffic bypasses the waypoint."
            + (renamed or _hint(binding, graph)),
            [*rel, *_inheriting(owner, graph)],
        )


def fix(finding: Finding, graph: MeshGraph) -> Edit | None:
    """Add `istio.io/use-waypoint-namespace` when exactly one Gateway of the label's name
    exists in another namespace, and that waypoint admits the binding's namespace."""
    owner = finding.resource
    binding = graph.binding(owner) if owner is not None else None
    if owner is None or binding is None or binding.inherited or USE_WAYPOINT_NS in owner.labels:
        return None
    home = owner.name if owner.kind == "Namespace" else owner.namespace
    named = [gw for gw in graph.waypoints() if gw.name == binding.name and gw.namespace != home]
    if len(named) != 1 or bypass.admits(graph, named[0], home) is not True:
        return None
    return set_label(owner, USE_WAYPOINT_NS, named[0].namespace)
