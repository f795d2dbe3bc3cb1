"""An egress NetworkPolicy on ambient application pods does not admit TCP 15008 to the egress
waypoint's pods, so their calls to the hosts bound to that waypoint never arrive.

**Why it matters.** A call from an ambient pod to a host whose ServiceEntry is bound to a
waypoint does not leave on the host's port: ztunnel wraps it in HBONE and sends it to a pod of
the waypoint on TCP 15008, from a socket it opens inside the client pod's network namespace. The
client pod's egress NetworkPolicy applies to that connection. A lock-down that admits in-cluster
traffic only on the application ports (80, 443, 8080), or only to some namespaces, drops it:
the call times out and ztunnel logs "maybe a NetworkPolicy is blocking HBONE port 15008"
(ztunnel's maintainers call this the top feedback from users, istio/ztunnel#1229). EGL302
checks the other end (the waypoint's ingress).

**When it fires.** For each ambient application workload (or, with no workloads in the view, an
ambient namespace's namespace-wide policies) isolated for egress, and each egress waypoint (a
waypoint with proxy pods and a MESH_EXTERNAL ServiceEntry bound to it) that no egress rule can
reach on TCP 15008. A rule can reach it when its `ports` admit TCP 15008 (or all ports, or a
named port) and its `to` is absent or has a peer that may select the waypoint's pods: an
`ipBlock` always may (pod CIDRs are not in the repository); a `namespaceSelector` is matched
against the waypoint namespace's labels (only `kubernetes.io/metadata.name` when its Namespace
is not in the view), a `podSelector` against `gateway.networking.k8s.io/gateway-name` and
`spec.infrastructure.labels`, and a selector on any other label may match. It fires only when
the pods are meant to use the waypoint: a ServiceEntry bound to it lives in their namespace, an
AuthorizationPolicy on the waypoint or such a ServiceEntry admits their namespace or service
account, or the policy admits the waypoint's pods on other ports. A namespace that may not call
out at all stays silent. One finding per policy, on its `egress` list (the first isolating
policy that has one, else `policyTypes` of the first); policies that also select a waypoint's
own pods are left to EGL301/EGL302.

**How to fix.** Add an egress rule for HBONE to the waypoint's namespace, e.g.
`- to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: istio-egress}}}]`
with `ports: [{protocol: TCP, port: 15008}]`.

Holds since Istio 1.24 (checked 1.24.0 and 1.30.3). Sources: istio/istio
`pilot/pkg/serviceregistry/ambient/waypoints.go` (`HboneMtlsPort: 15008` for every waypoint
address; `pilot/pkg/serviceregistry/kube/controller/ambient/waypoints.go` up to 1.29) and
`manifests/charts/istio-control/istio-discovery/files/waypoint.yaml` (waypoint pod labels);
istio/ztunnel `src/proxy/outbound.rs` (build_request: the waypoint's workload address and HBONE
port), `src/inpod/config.rs` (InPodSocketFactory: sockets in the pod's network namespace),
`src/proxy.rs` (MaybeHBONENetworkPolicyError); Kubernetes NetworkPolicy semantics
(documentation: policies are additive, `ipBlock` is meant for cluster-external addresses);
istio.io "Ambient and Kubernetes NetworkPolicy" (documentation).
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, hbone, istio, netpol, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Path, Related, Resource, as_list, as_map, listed

RULE = Rule(
    id="EGL213",
    name="client-hbone-egress-blocked",
    tag="unreachable",
    level="warning",
    summary="An egress NetworkPolicy on ambient clients does not admit HBONE (TCP 15008) to the egress waypoint.",
    kinds=("NetworkPolicy", "Gateway", "ServiceEntry", "Namespace", "Deployment", "Pod"),
)

DNS_PORT = 53


@dataclass(frozen=True)
class _Client:
    """Pods of one workload (or of a namespace with no workloads in the view)."""

    namespace: str
    labels: Mapping[str, str]
    service_account: str | None
    owner: Resource


@dataclass
class _Hit:
    clients: list[Resource] = field(default_factory=list)
    waypoints: dict[Resource, list[Related]] = field(default_factory=dict)


def _targets(graph: MeshGraph) -> list[tuple[Resource, list[Resource]]]:
    """Egress waypoints with proxy pods, each with its bound MESH_EXTERNAL ServiceEntries."""
    out = []
    for gw in graph.waypoints():
        ses = [se for se in graph.bound_to(gw) if graph.is_external(se)]
        if ses and hbone.has_waypoint_pods(gw, graph):
            out.append((gw, ses))
    return out


def _clients(graph: MeshGraph) -> Iterator[_Client]:
    for wl in graph.workloads():
        if not bypass.is_waypoint_pod(wl) and bypass.pod_ambient(graph, wl):
            yield _Client(wl.namespace, wl.labels, wl.service_account, wl.resource)
    for ns in graph.ambient_namespaces():
        if not graph.workloads(ns.name) and not bypass.hosts_waypoint(graph, ns.name):
            yield _Client(ns.name, {}, None, ns)


# ---- is the client meant to use the waypoint? -----------------------------------------------
def _source_admits(source: Mapping[str, object], client: _Client) -> bool:
    if any(reach.string_match(str(n), client.namespace) for n in as_list(source.get("namespaces"))):
        return True
    if client.service_account is None:
        return False
    identity = f"cluster.local/ns/{client.namespace}/sa/{client.service_account}"
    short = f"{client.namespace}/{client.service_account}"
    return any(
        reach.string_match(str(p), identity) for p in as_list(source.get("principals"))
    ) or any(str(s) == short for s in as_list(source.get("serviceAccounts")))


def _authorizing(graph: MeshGraph, client: _Client, targets: list[Resource]) -> list[Related]:
    """ALLOW AuthorizationPolicies on the waypoint or its ServiceEntries that name the client."""
    found = []
    for res in targets:
        for ap in graph.policies_targeting(res):
            if ap.kind != "AuthorizationPolicy" or istio.action(ap) != "ALLOW":
                continue
            sources = [
                as_map(as_map(f).get("source"))
                for r in as_list(ap.spec.get("rules"))
                for f in as_list(as_map(r).get("from"))
            ]
            if any(_source_admits(s, client) for s in sources):
                found.append(
                    related(ap, ("spec", "rules"), "authorizes these pods at the waypoint")
                )
    return found


def _dns_only(rule: Mapping[str, object]) -> bool:
    ports = as_list(rule.get("ports"))
    return bool(ports) and all(as_map(p).get("port") == DNS_PORT for p in ports)


def _other_ports(isolating: list[Resource], target: netpol.PodTarget) -> list[Related]:
    """Rules that name peers selecting the waypoint's pods (on ports other than 15008)."""
    found = []
    for p in isolating:
        for i, rule in enumerate(as_list(p.spec.get("egress"))):
            rule = as_map(rule)
            if not as_list(rule.get("to")) or _dns_only(rule):
                continue
            if netpol.rule_selects_pod(rule, p.namespace, target) is True:
                why = "admits the waypoint's pods, but not on TCP 15008"
                found.append(related(p, ("spec", "egress", i), why))
    return found


def _evidence(
    graph: MeshGraph, client: _Client, isolating: list[Resource], gw: Resource, ses: list[Resource]
) -> list[Related]:
    own = [se for se in ses if se.namespace == client.namespace]
    found = [
        related(se, ("metadata",), f"registered in namespace '{client.namespace}'")
        for se in own[:3]
    ]
    found += _authorizing(graph, client, [gw, *ses])
    found += _other_ports(isolating, hbone.waypoint_target(graph, gw))
    return found


# ---- findings -------------------------------------------------------------------------------
def _anchor(graph: MeshGraph, isolating: list[Resource]) -> Resource | None:
    """Where the missing rule goes: the first isolating policy with egress rules (else the
    first), among those that select no waypoint's pods."""
    candidates = [p for p in isolating if not hbone.selects_waypoint(graph, p)]
    with_rules = [p for p in candidates if as_list(p.spec.get("egress"))]
    return (with_rules or candidates or [None])[0]


def _collect(graph: MeshGraph) -> dict[Resource, _Hit]:
    targets = _targets(graph)
    hits: dict[Resource, _Hit] = {}
    if not targets:
        return hits
    for client in _clients(graph):
        policies = graph.network_policies_for(client.namespace, client.labels)
        isolating = [p for p in policies if netpol.isolates_egress(p)]
        anchor = _anchor(graph, isolating)
        if anchor is None:
            continue
        for gw, ses in targets:
            if hbone.client_reaches(graph, isolating, gw) is not False:
                continue
            evidence = _evidence(graph, client, isolating, gw, ses)
            if evidence:
                hit = hits.setdefault(anchor, _Hit())
                if client.owner not in hit.clients:
                    hit.clients.append(client.owner)
                hit.waypoints.setdefault(gw, evidence)
    return hits


def _path(policy: Resource) -> Path:
    return ("spec", "egress") if "egress" in policy.spec else ("spec", "policyTypes")


def _owner(res: Resource) -> str:
    return f"namespace {res.name}" if res.kind == "Namespace" else res.name


def _hbone_rule(namespace: str) -> str:
    return (
        f"to: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {namespace}}}}}}}]"
        " and ports: [{protocol: TCP, port: 15008}]"
    )


def _finding(graph: MeshGraph, policy: Resource, hit: _Hit) -> Finding:
    gws = list(hit.waypoints)
    hosts = [h for gw in gws for se in graph.bound_to(gw) for h in graph.se_hosts(se)]
    rel = [related(gw, ("spec", "listeners"), "takes HBONE on TCP 15008") for gw in gws]
    rel += [r for gw in gws for r in hit.waypoints[gw][:3]]
    return RULE.at(
        policy,
        _path(policy),
        f"{policy.ref} isolates ambient pods ({listed(_owner(c) for c in hit.clients)}) for egress, "
        f"and no egress rule admits TCP 15008 to the pods of waypoint "
        f"{listed(gw.ref for gw in gws)}: ztunnel tunnels their calls to "
        f"{listed(dict.fromkeys(hosts))} there over HBONE from the pods' network namespace, so "
        f"the calls time out. Add an egress rule with {_hbone_rule(gws[0].namespace)}.",
        rel,
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for policy, hit in _collect(graph).items():
        yield _finding(graph, policy, hit)
