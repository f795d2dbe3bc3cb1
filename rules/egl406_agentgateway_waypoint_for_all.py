"""An `enterprise-agentgateway-waypoint` Gateway takes `istio.io/waypoint-for: service`, where the
vendor's documentation asks for `all`.

**Why it matters.** The vendor's agentgateway waypoint egress guide says: "Must use
`istio.io/waypoint-for: all` instead of `istio.io/waypoint-for: service`, because
ServiceEntries are not Kubernetes-native services". This follows the vendor's documentation
only: upstream Istio binds a ServiceEntry to a waypoint whose effective type is `service` or
`all` (`fetchWaypointForService`, used for ServiceEntries by `serviceEntryServiceBuilder`:
`pilot/pkg/serviceregistry/kube/controller/ambient/` at 1.24.0,
`pilot/pkg/serviceregistry/ambient/` at 1.30.3), so the binding itself is accepted. Hence a
note.

**When it fires.** At each Gateway of class `enterprise-agentgateway-waypoint` whose effective
`istio.io/waypoint-for` is `service`. The effective value is Istio's: the Gateway's label, else
its GatewayClass's label, else `service` (`waypoints.go`, same tags). `workload` and `none` are
EGL104's (Istio refuses the binding). Fixable: `egresslint fix` sets the label on the Gateway.

**How to fix.** Add the label `istio.io/waypoint-for: all` to the Gateway's metadata (or to
the GatewayClass, for all its Gateways).

Holds for the vendor's Istio 1.30+ (alpha). Source: Solo "Egress approaches" overview (L7
agentgateway waypoint components).
"""

from collections.abc import Iterator

from egresslint.lint.edits import Edit, set_label
from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import modes
from egresslint.mesh.graph import WAYPOINT_FOR, MeshGraph
from egresslint.model import Finding, Related, Resource

RULE = Rule(
    id="EGL406",
    name="agentgateway-waypoint-for-all",
    tag="unsupported-feature",
    level="note",
    summary="enterprise-agentgateway-waypoint Gateway with istio.io/waypoint-for: service; the "
    "vendor's documentation asks for all.",
    kinds=("Gateway", "GatewayClass"),
    fixable=True,
    security_severity="6.0",
)


def _source(graph: MeshGraph, gw: Resource) -> tuple[str, list[Related]]:
    """Where the effective value comes from, and the GatewayClass when it sets it."""
    if WAYPOINT_FOR in gw.labels:
        return "its label", []
    cls = graph.get("GatewayClass", "", graph.gateway_class(gw))
    if cls is not None and WAYPOINT_FOR in cls.labels:
        path = ("metadata", "labels", WAYPOINT_FOR)
        return "its GatewayClass's label", [related(cls, path, "sets the default for its Gateways")]
    return "the default", []


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for gw in modes.gateways_of_class(graph, modes.ENTERPRISE_AGENTGATEWAY):
        if graph.waypoint_for(gw) != "service":
            continue
        source, rel = _source(graph, gw)
        yield RULE.at(
            gw,
            modes.label_path(gw, WAYPOINT_FOR),
            f"{gw.ref} is an enterprise-agentgateway-waypoint with istio.io/waypoint-for: "
            f"service ({source}). The vendor's documentation asks for 'all' for agentgateway "
            "waypoint egress, because ServiceEntries are not Kubernetes-native services "
            "(upstream Istio binds ServiceEntries to 'service' waypoints too). Set the label "
            "istio.io/waypoint-for: all.",
            rel,
        )


def fix(finding: Finding) -> Edit | None:
    """Set the label `istio.io/waypoint-for: all` on the Gateway."""
    gw = finding.resource
    if gw is None or gw.kind != "Gateway":
        return None
    return set_label(gw, WAYPOINT_FOR, "all")
