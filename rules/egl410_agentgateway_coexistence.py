"""An agentgateway waypoint is deployed beside `istio-waypoint` or `solo-ztunnel-egress`
Gateways, a combination the vendor has not verified.

**Why it matters.** Solo states: "Coexistence of agentgateway waypoints alongside community
istio-waypoint deployments or L4 ztunnel-native egress in the same cluster has not yet been
verified." L4 ztunnel-native and `istio-waypoint` egress may coexist; adding the alpha
agentgateway waypoint to that mix is untested and may behave unexpectedly.

**When it fires.** Once per run, at the first Gateway of an agentgateway waypoint class, when
the repository also holds a Gateway of class `istio-waypoint` or `solo-ztunnel-egress`.

**How to fix.** Keep agentgateway waypoint egress in a cluster of its own, or confirm the
combination with the vendor and suppress the finding with a justification.

Holds for Solo Istio 1.30+ (alpha). Source: Solo "Egress approaches" overview ("When to use
each approach").
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import modes
from egresslint.mesh.graph import AGENTGATEWAY_WAYPOINTS, ISTIO_WAYPOINT, ZTUNNEL_EGRESS
from egresslint.model import Finding

RULE = Rule(
    id="EGL410",
    name="agentgateway-coexistence",
    tag="unsupported-feature",
    level="warning",
    summary="agentgateway waypoint beside istio-waypoint or ztunnel egress: unverified by the vendor.",
    kinds=("Gateway",),
)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    agw = modes.gateways_of_class(graph, *AGENTGATEWAY_WAYPOINTS)
    others = modes.gateways_of_class(graph, ISTIO_WAYPOINT, ZTUNNEL_EGRESS)
    if not agw or not others:
        return
    first = agw[0]
    classes = sorted({graph.gateway_class(o) for o in others})
    yield RULE.at(
        first,
        ("spec", "gatewayClassName"),
        f"{first.ref} is an agentgateway waypoint in a repository that also deploys "
        f"{' and '.join(classes)} Gateways: Solo has not verified this coexistence. Keep "
        "agentgateway egress in its own cluster, or confirm the setup and suppress this finding.",
        [related(o, ("spec", "gatewayClassName"), "other egress mode") for o in others[:5]],
    )
