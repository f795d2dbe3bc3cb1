"""A NetworkPolicy isolates the waypoint's pods for ingress without admitting TCP port 15008,
so clients cannot open HBONE tunnels to the waypoint.

**Why it matters.** In ambient mode a client's ztunnel reaches the waypoint over HBONE, an mTLS
tunnel to TCP port 15008 on the waypoint pod. Istio respects NetworkPolicy: when the waypoint
pods are isolated for ingress (a namespace-wide default-deny, or a policy selecting the
waypoint by `gateway.networking.k8s.io/gateway-name`) and no ingress rule allows port 15008,
every connection to the waypoint is dropped, so every egress call through it fails.

**How it decides.** Kubernetes semantics: a policy isolates for ingress when `policyTypes`
lists `Ingress`, or when `policyTypes` is absent (ingress is then always implied). Among the
policies of the waypoint's namespace whose `podSelector` matches the waypoint pods (the
`gateway.networking.k8s.io/gateway-name` label and `spec.infrastructure.labels`), some ingress
rule must allow TCP 15008 (or all ports, or a named port). Which peers a rule admits is not
judged here, so a rule admitting 15008 from any peer silences the rule.

**How to fix.** Add an ingress rule to the waypoint (or exclude the waypoint from the
default-deny), for example `ingress: [{ports: [{protocol: TCP, port: 15008}]}]` with `from`
selecting the client namespaces.

L4 `solo-ztunnel-egress` has no waypoint pods and is skipped. Sources: istio.io "Ambient and
Kubernetes NetworkPolicy" (allow port 15008); the waypoint egress walkthrough ("keep the
Waypoint pod unrestricted").
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import hbone
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL302",
    name="waypoint-hbone-ingress-blocked",
    tag="waypoint-restricted",
    level="error",
    summary="NetworkPolicy on the waypoint pods does not admit HBONE (TCP 15008) ingress.",
    kinds=("NetworkPolicy", "Gateway"),
)

HBONE_PORT = hbone.HBONE_PORT


def _path(np_: Resource) -> tuple[str, ...]:
    for key in ("ingress", "policyTypes", "podSelector"):
        if key in np_.spec:
            return ("spec", key)
    return ("spec",)


def _check_waypoint(graph: MeshGraph, gw: Resource) -> Finding | None:
    # shared with EGL214 and EGL215, which leave the policies reported here to this rule
    isolating = hbone.ingress_blocked(graph, gw)
    if not isolating:
        return None
    first = isolating[0]
    bound = graph.bound_to(gw)
    rel = [related(gw, ("spec", "listeners"), "the waypoint listens for HBONE on 15008")]
    rel += [
        related(p, ("spec", "podSelector"), "also isolates the waypoint") for p in isolating[1:]
    ]
    rel += [related(se, ("metadata", "labels"), "egresses through this waypoint") for se in bound]
    return RULE.at(
        first,
        _path(first),
        f"{first.ref} isolates the pods of waypoint {gw.ref} for ingress and no ingress rule "
        f"admits TCP port {HBONE_PORT}: clients cannot reach the waypoint over HBONE, so every "
        "call through it fails. Allow ingress on TCP 15008 from the client namespaces, or exclude "
        "the waypoint pods from this policy.",
        rel,
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for gw in graph.waypoints():
        hit = _check_waypoint(graph, gw)
        if hit is not None:
            yield hit
