"""An `enterprise-agentgateway-waypoint` Gateway does not declare `istio.io/waypoint-for: all`.

**Why it matters.** Solo's agentgateway waypoint egress requires the Gateway to take all
traffic types: "Must use `istio.io/waypoint-for: all` instead of `istio.io/waypoint-for:
service`, because ServiceEntries are not Kubernetes-native services". With the default
(`service`) or another value, ServiceEntries bound to it are not captured as documented and
egress may bypass the waypoint's policy.

**When it fires.** At each Gateway of class `enterprise-agentgateway-waypoint` whose effective
`istio.io/waypoint-for` (the Gateway label, else its GatewayClass label, else `service`) is not
`all`. Fixable: `egresslint fix` sets the label.

**How to fix.** Add the label `istio.io/waypoint-for: all` to the Gateway's metadata.

Holds for Solo Istio 1.30+ (alpha). Source: Solo "Egress approaches" overview (L7 agentgateway
waypoint components).
"""

from collections.abc import Iterator

from egresslint.lint.edits import Edit, set_label
from egresslint.lint.rule import Context, Rule
from egresslint.mesh import modes
from egresslint.mesh.graph import WAYPOINT_FOR
from egresslint.model import Finding

RULE = Rule(
    id="EGL406",
    name="agentgateway-waypoint-for-all",
    tag="unsupported-feature",
    level="warning",
    summary="enterprise-agentgateway-waypoint Gateway without istio.io/waypoint-for: all.",
    kinds=("Gateway", "GatewayClass"),
    fixable=True,
    security_severity="6.0",
)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for gw in modes.gateways_of_class(graph, "enterprise-agentgateway-waypoint"):
        value = graph.waypoint_for(gw)
        if value == "all":
            continue
        source = "its label" if WAYPOINT_FOR in gw.labels else "the default"
        yield RULE.at(
            gw,
            modes.label_path(gw, WAYPOINT_FOR),
            f"{gw.ref} is an enterprise-agentgateway-waypoint with istio.io/waypoint-for: "
            f"{value} ({source}): agentgateway egress needs 'all', because ServiceEntries are "
            "not Kubernetes-native services. Set the label istio.io/waypoint-for: all.",
        )


def fix(finding: Finding) -> Edit | None:
    """Set the label `istio.io/waypoint-for: all` on the Gateway."""
    gw = finding.resource
    if gw is None or gw.kind != "Gateway":
        return None
    return set_label(gw, WAYPOINT_FOR, "all")
