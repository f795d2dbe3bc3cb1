"""The L4 `solo-ztunnel-egress` Gateway is not the single cluster-wide one in `istio-system`, or
a ServiceEntry bound to it does not say so.

**Why it matters.** ztunnel-native egress is backed by the ztunnel DaemonSet, not by a proxy
per Gateway: Solo documents it as "a single cluster-wide resource in `istio-system`". A second
Gateway of that class, or one in another namespace, is not a supported setup. ServiceEntries
in other namespaces find it only with `istio.io/use-waypoint-namespace: istio-system`; without
it the waypoint is looked up in their own namespace, is not found, and traffic goes direct.

**When it fires.** At each `solo-ztunnel-egress` Gateway outside `istio-system`, and at every
such Gateway after the first. With `--mode solo-ztunnel-egress` and no Gateway in the
repository, also at bound ServiceEntries outside `istio-system` whose
`istio.io/use-waypoint-namespace` is not `istio-system` (when the Gateway is in the repository,
EGL102 waypoint-not-found reports a wrong namespace with the same advice).

**How to fix.** Keep exactly one Gateway of class `solo-ztunnel-egress`, in `istio-system`, and
label bound ServiceEntries elsewhere with `istio.io/use-waypoint-namespace: istio-system`.

Holds for Solo Istio 1.30+. Source: Solo "Egress approaches" overview (L4 ztunnel-native
components).
"""

from collections.abc import Iterator

from egresslint.lint.edits import Edit, set_label
from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import modes
from egresslint.mesh.graph import USE_WAYPOINT_NS, ZTUNNEL_EGRESS, MeshGraph
from egresslint.model import Finding

RULE = Rule(
    id="EGL403",
    name="ztunnel-egress-gateway-placement",
    tag="unsupported-feature",
    level="warning",
    summary="solo-ztunnel-egress Gateway not the single one in istio-system, or bound without use-waypoint-namespace.",
    fixable=True,
    kinds=("Gateway", "ServiceEntry"),
)


def _gateways(graph: MeshGraph) -> Iterator[Finding]:
    gateways = modes.gateways_of_class(graph, ZTUNNEL_EGRESS)
    for i, gw in enumerate(gateways):
        if gw.namespace != modes.ROOT_NAMESPACE:
            path = ("metadata", "namespace") if "namespace" in gw.metadata else ("metadata",)
            yield RULE.at(
                gw,
                path,
                f"{gw.ref} uses class solo-ztunnel-egress outside istio-system: the L4 egress "
                "gateway is a single cluster-wide resource in istio-system. Move it there and "
                "label bound ServiceEntries with istio.io/use-waypoint-namespace: istio-system.",
            )
        elif i > 0:
            first = gateways[0]
            yield RULE.at(
                gw,
                ("metadata", "name"),
                f"{gw.ref} is a second solo-ztunnel-egress Gateway; the L4 egress gateway is a "
                f"single cluster-wide resource. Keep only {first.ref} and bind all ServiceEntries "
                "to it.",
                [related(first, ("metadata", "name"), "the first solo-ztunnel-egress Gateway")],
            )


def _service_entries(graph: MeshGraph) -> Iterator[Finding]:
    if graph.mode_override != ZTUNNEL_EGRESS or graph.of_kind("Gateway"):
        return
    for se in graph.of_kind("ServiceEntry"):
        b = graph.binding(se)
        if b is None or b.opted_out or se.namespace == modes.ROOT_NAMESPACE:
            continue
        if not modes.ztunnel_namespace_unstated(graph, b):
            continue
        yield RULE.at(
            b.owner,
            modes.label_path(b.owner, USE_WAYPOINT_NS),
            f"{b.owner.ref} binds {se.ref} to waypoint '{b.name}' in namespace {b.namespace}, "
            "but the solo-ztunnel-egress gateway lives in istio-system: add the label "
            "istio.io/use-waypoint-namespace: istio-system, or the binding finds nothing and "
            "traffic goes direct.",
            [] if b.owner is se else [related(se, ("metadata",), "inherits the binding")],
        )


def check(ctx: Context) -> Iterator[Finding]:
    yield from _gateways(ctx.graph)
    yield from _service_entries(ctx.graph)


def fix(finding: Finding) -> Edit | None:
    """A binding outside istio-system: set `istio.io/use-waypoint-namespace: istio-system`."""
    owner = finding.resource
    path = finding.path[len(owner.base_path) :] if owner is not None else ()
    if owner is None or path[:2] == ("metadata", "name"):
        return None
    return set_label(owner, USE_WAYPOINT_NS, modes.ROOT_NAMESPACE)
