"""An ingress NetworkPolicy on ambient pods does not admit the kubelet probe address
169.254.7.127: on CNIs that enforce policy on it, their health probes fail.

**Why it matters.** istio-cni source-NATs the kubelet's TCP connections to an ambient pod (HTTP,
TCP and gRPC probes) to the link-local address 169.254.7.127 (IPv6
fd16:9254:7127:1337:ffff:ffff:ffff:ffff), so that the pod's redirection rules recognise and pass
them. Kubernetes lets traffic from the pod's own node through any ingress policy, but after the
SNAT the probe no longer comes from the node's address: depending on the CNI, a policy that
isolates the pods for ingress now drops it, and pods that were healthy start failing their
probes when they join the mesh. Istio's documentation recommends allow-listing the address.
Whether a given CNI drops it is documented per CNI, not decided here: hence a note.

**When it fires.** For each workload enrolled in ambient with an HTTP, TCP or gRPC probe (or,
with no workloads in the view, an ambient namespace's namespace-wide policies), when a policy
that explicitly isolates its pods for ingress (`policyTypes` lists `Ingress`, or an `ingress`
field is written) selects them and no ingress rule of the policies selecting them admits the
address (a rule without `from`, or an `ipBlock` covering 169.254.7.127/32 or the IPv6 address).
Ports are not judged. Ingress isolation that is only implied by a missing `policyTypes` is
EGL214's, and a policy that cuts a waypoint off from HBONE is EGL302's. One finding per policy.

**How to fix.** Add an ingress rule `- from: [{ipBlock: {cidr: 169.254.7.127/32}}]` (the
documentation's example), or a separate policy with it that selects the same pods. If istio-cni
runs with another `HOST_PROBE_SNAT_IP`, admit that address instead.

Holds since Istio 1.22 (checked 1.22.0, 1.24.0, 1.26.0, 1.28.0, 1.30.3). Sources: istio/istio
`cni/pkg/nodeagent/options.go` (DefaultHostProbeSNATIP, HOST_PROBE_SNAT_IP),
`cni/pkg/iptables/iptables.go` AppendHostRules and `cni/pkg/nftables/nftables.go` (the SNAT),
`cni/pkg/nodeagent/meshdataplane_linux.go` AddPodToMesh (only ambient pods join the probe
ipset); istio.io "Ambient and Kubernetes NetworkPolicy" (documentation: "Ambient, health
probes, and Kubernetes NetworkPolicy"); Kubernetes `NetworkPolicySpec.ingress` (documentation:
traffic from the pod's local node is allowed).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, hbone, netpol, probes
from egresslint.mesh.graph import MeshGraph
from egresslint.mesh.selectors import is_empty_selector
from egresslint.model import Finding, Path, Resource, listed

RULE = Rule(
    id="EGL215",
    name="ambient-probes-not-admitted",
    tag="unreachable",
    level="note",
    summary="Ingress NetworkPolicy on ambient pods does not admit the kubelet probe address 169.254.7.127.",
    kinds=("NetworkPolicy", "Namespace", "Deployment", "StatefulSet", "DaemonSet", "Pod"),
    precision="medium",
)


@dataclass
class _Hit:
    owners: list[Resource] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)


def _anchor(graph: MeshGraph, policies: list[Resource]) -> Resource | None:
    """The first explicitly ingress-isolating policy, when the probe address gets through none."""
    isolating = [p for p in policies if netpol.isolates_ingress(p)]
    explicit = [p for p in isolating if not netpol.implied_ingress(p)]
    if not explicit or netpol.ingress_admits_source(isolating, probes.PROBE_ADDRESSES):
        return None
    first = explicit[0]
    return None if hbone.blocks_waypoint_ingress(graph, first) else first


def _record(
    hits: dict[Resource, _Hit], anchor: Resource, owner: Resource, found: list[str]
) -> None:
    hit = hits.setdefault(anchor, _Hit())
    hit.owners.append(owner)
    hit.probes += found


def _collect(graph: MeshGraph) -> dict[Resource, _Hit]:
    hits: dict[Resource, _Hit] = {}
    for wl in graph.workloads():
        if bypass.is_waypoint_pod(wl) or not bypass.pod_ambient(graph, wl):
            continue
        found = probes.network_probes(wl)
        anchor = _anchor(graph, graph.network_policies_for(wl.namespace, wl.labels))
        if found and anchor is not None:
            _record(hits, anchor, wl.resource, [f"{wl.resource.name}: {p}" for p in found])
    for ns in graph.ambient_namespaces():
        if graph.workloads(ns.name) or bypass.hosts_waypoint(graph, ns.name):
            continue
        wide = [
            p
            for p in graph.in_namespace("NetworkPolicy", ns.name)
            if is_empty_selector(p.spec.get("podSelector"))
        ]
        anchor = _anchor(graph, wide)
        if anchor is not None:
            _record(hits, anchor, ns, [])
    return hits


def _path(policy: Resource) -> Path:
    for key in ("ingress", "policyTypes"):
        if key in policy.spec:
            return ("spec", key)
    return ("spec", "podSelector")


def _finding(policy: Resource, hit: _Hit) -> Finding:
    if hit.probes:
        who = f"ambient pods with kubelet probes ({listed(hit.probes, 3)})"
    else:
        who = f"the pods of ambient namespace '{policy.namespace}' (no workloads in the view)"
    return RULE.at(
        policy,
        _path(policy),
        f"{policy.ref} isolates {who} for ingress and admits no connection from 169.254.7.127, "
        "the address istio-cni gives kubelet probes of ambient pods: on CNIs that enforce "
        "policy on that address the probes fail. Add an ingress rule "
        f"{probes.ALLOW_RULE}.",
        [
            related(o, ("metadata",), "enrolled in ambient" if o.kind == "Namespace" else "probed")
            for o in hit.owners[:5]
        ],
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for policy, hit in _collect(graph).items():
        yield _finding(policy, hit)
