"""A NetworkPolicy lets application pods in an ambient namespace reach the whole internet,
undoing the egress lock-down that keeps traffic on the waypoint.

**Why it matters.** NetworkPolicies add up: one egress rule that admits public addresses (an
`ipBlock` such as `0.0.0.0/0`, even with private ranges in `except`, or a rule with no `to` at
all) lets the selected pods connect to any external host directly. Hosts without a bound
ServiceEntry pass through ztunnel untouched, so egress policy at the waypoint is bypassed.

**When it fires.** When the repository uses egress control, for egress-isolating
NetworkPolicies in ambient namespaces that run application pods, at each rule (or `ipBlock`)
that admits public addresses on a port other than DNS (53). Not for policies that select only
a waypoint's pods (the waypoint must reach the internet), and not in namespaces that only host
a waypoint or egress Gateway.

**How to fix.** Limit the rule to in-cluster CIDRs or namespace/pod selectors, or to the few
vendor CIDRs that must be reached directly on purpose; narrow `podSelector` to the pods that
need it; or exclude application pods and keep only the waypoint selected
(`gateway.networking.k8s.io/gateway-name`). With `solo-ztunnel-egress` there are no waypoint
pods (traffic exits from the ztunnel pod's network namespace): messages then name "the ztunnel
egress gateway" and only the first two fixes apply.

Sources: Kubernetes NetworkPolicy semantics (policies are additive); the waypoint egress
walkthrough (restrict application pods, not the waypoint); istio.io "Ambient and Kubernetes
NetworkPolicy".
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import bypass, netpol
from egresslint.mesh.graph import MeshGraph
from egresslint.mesh.selectors import selector_matches
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL107",
    name="netpol-opens-internet",
    tag="bypass",
    level="warning",
    summary="NetworkPolicy opens public addresses to ambient application pods, bypassing the waypoint.",
    kinds=("NetworkPolicy",),
    security_severity="6.5",
)


def _waypoint_only(graph: MeshGraph, np_: Resource) -> bool:
    """Selects the pods of a waypoint in its namespace and no application pod."""
    selector = np_.spec.get("podSelector")
    if any(
        selector_matches(selector, w.labels) for w in bypass.app_workloads(graph, np_.namespace)
    ):
        return False
    return any(
        graph.waypoint_pods_selected(np_, gw) for gw in bypass.waypoints_in(graph, np_.namespace)
    )


def _applies(graph: MeshGraph, np_: Resource) -> bool:
    return (
        netpol.isolates_egress(np_)
        and graph.is_ambient_namespace(np_.namespace)
        and bypass.is_app_namespace(graph, np_.namespace)
        and not _waypoint_only(graph, np_)
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    if not graph.egress_controlled():
        return
    proxy = bypass.egress_proxy_phrase(graph)
    narrow = "" if proxy == "the ztunnel egress gateway" else ", or select only the waypoint pods"
    for np_ in graph.of_kind("NetworkPolicy"):
        if not _applies(graph, np_):
            continue
        for path in bypass.internet_rules(np_):
            what = (
                "an ipBlock admitting public addresses"
                if path[-1] == "cidr"
                else "a rule without 'to'"
            )
            yield RULE.at(
                np_,
                path,
                f"{np_.ref} gives application pods in ambient namespace '{np_.namespace}' egress to "
                f"the internet ({what}): they can reach unregistered hosts directly, bypassing "
                f"{proxy}. Limit the rule to in-cluster or specific vendor CIDRs{narrow}.",
            )
