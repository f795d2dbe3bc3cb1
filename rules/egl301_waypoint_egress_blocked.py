"""A NetworkPolicy that selects the waypoint's pods does not let them reach a registered
external host, so the egress proxy itself is cut off.

**Why it matters.** With waypoint egress the connection to the external host leaves from the
waypoint pod. The source documents are explicit: keep the waypoint pod unrestricted and apply
egress restrictions only to application pods. A namespace-wide default-deny (`podSelector: {}`)
in the waypoint's namespace, or a policy that selects the waypoint by
`gateway.networking.k8s.io/gateway-name`, and that does not allow the ServiceEntry's target
port (after `targetPort`), or DNS for `resolution: DNS` hosts, makes every call through the
waypoint fail while the application pods are blocked from going direct: nothing gets out.

**How it decides.** Kubernetes NetworkPolicy semantics: the waypoint pods are isolated for
egress when any selecting policy has `Egress` in `policyTypes`; then the union of the egress
rules must allow TCP to the target port of an address outside the cluster (an `ipBlock` such as
`0.0.0.0/0`, or the ServiceEntry's own addresses), and port 53 for DNS resolution.

**How to fix.** Exclude the waypoint from the restricting policy, e.g.
`podSelector: {matchExpressions: [{key: gateway.networking.k8s.io/gateway-name,
operator: DoesNotExist}]}`, or add an egress rule for the waypoint that allows the external
ports.

L4 `solo-ztunnel-egress` has no waypoint pods and is not checked here. Sources: the waypoint
egress walkthrough ("Do not restrict the external access of the Waypoint pod itself");
istio.io "Ambient and Kubernetes NetworkPolicy".
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, netpol
from egresslint.mesh.graph import ZTUNNEL_EGRESS, MeshGraph
from egresslint.model import Finding, Resource, listed

RULE = Rule(
    id="EGL301",
    name="waypoint-egress-blocked",
    tag="waypoint-restricted",
    level="error",
    summary="A NetworkPolicy on the waypoint pods blocks a registered external host or DNS.",
    kinds=("NetworkPolicy", "Gateway", "ServiceEntry"),
)


def _policy_path(np_: Resource) -> tuple[str, ...]:
    return ("spec", "egress") if "egress" in np_.spec else ("spec", "policyTypes")


def _blocked_ports(se: Resource, policies: list[Resource]) -> list[int]:
    addresses = istio.se_addresses(se) or [None]
    blocked = []
    for _, port in MeshGraph.ports(se):
        target = istio.target_port(port)
        if target is None:
            continue
        if not any(netpol.external_egress(policies, target, "TCP", a).allowed for a in addresses):
            blocked.append(target)
    return blocked


def _check_waypoint(graph: MeshGraph, gw: Resource) -> Iterator[Finding]:
    policies = [
        p
        for p in graph.in_namespace("NetworkPolicy", gw.namespace)
        if graph.waypoint_pods_selected(p, gw)
    ]
    isolating = [p for p in policies if netpol.isolates_egress(p)]
    if not isolating:
        return
    first = isolating[0]
    others = [
        related(p, ("spec", "podSelector"), "also selects the waypoint pods") for p in isolating[1:]
    ]
    for se in graph.bound_to(gw):
        blocked = _blocked_ports(se, isolating)
        needs_dns = istio.resolution(se) in ("DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS")
        no_dns = needs_dns and not netpol.dns_allowed(isolating)
        if not blocked and not no_dns:
            continue
        parts = [f"TCP port(s) {', '.join(map(str, blocked))}"] if blocked else []
        what = " and ".join(parts + (["DNS (port 53)"] if no_dns else []))
        yield RULE.at(
            first,
            _policy_path(first),
            f"{first.ref} selects the pods of waypoint {gw.ref} and does not allow egress to "
            f"{what} for {se.ref} ({listed(graph.se_hosts(se))}): the waypoint cannot reach the "
            "external host. Exclude the waypoint pods from this policy or allow those ports.",
            [
                related(se, ("spec", "ports"), "bound to the waypoint"),
                related(gw, ("metadata",), "the waypoint"),
                *others,
            ],
        )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for gw in graph.waypoints():
        if graph.gateway_class(gw) != ZTUNNEL_EGRESS:
            yield from _check_waypoint(graph, gw)
