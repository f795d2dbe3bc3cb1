"""An egress NetworkPolicy without `policyTypes` also isolates its pods for ingress: with no
ingress rules, nothing can connect to them, HBONE from the mesh included.

**Why it matters.** When `policyTypes` is omitted, Kubernetes fills it in: `Ingress` always,
and `Egress` when the policy has egress rules. A policy written as an egress lock-down with only
an `egress` list therefore becomes `[Ingress, Egress]`, and its empty ingress side denies every
inbound connection to the pods it selects. For ambient pods that includes every call from the
mesh, which arrives as HBONE on TCP 15008, and, on CNIs that enforce it, the kubelet's probes
(istio-cni SNATs them to 169.254.7.127). The Kubernetes API reference says so in as many words:
"If you want to write an egress-only policy, you must explicitly specify policyTypes
[ "Egress" ]".

**When it fires.** For a NetworkPolicy with no (or an empty) `policyTypes`, a non-empty
`egress` list and no `ingress` field, selecting ambient pods (in the view: workloads enrolled
in ambient; with no workloads in the view: a namespace enrolled in ambient that hosts no
waypoint), unless every such pod is already isolated for ingress by another policy that lists
`Ingress` or writes `ingress` (then this one changes nothing). An explicit `ingress: []` is
taken as a deliberate default-deny. A policy that cuts a waypoint off from HBONE is reported by
EGL302 instead (one finding for one cause).

**How to fix.** Add `policyTypes: [Egress]` to the policy. If ingress isolation is wanted,
write `policyTypes: [Ingress, Egress]` and the ingress rules (TCP 15008 for mesh callers).

Sources: Kubernetes `NetworkPolicySpec.policyTypes` (API reference) and
kubernetes/kubernetes `pkg/apis/networking/v1/defaults.go` (SetDefaults_NetworkPolicy:
`Ingress` always, `Egress` when `len(spec.Egress) != 0`); istio.io "Ambient and Kubernetes
NetworkPolicy" (documentation: HBONE arrives on port 15008; probes from 169.254.7.127).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, hbone, netpol
from egresslint.mesh.graph import MeshGraph, Workload
from egresslint.mesh.selectors import is_empty_selector
from egresslint.model import Finding, Resource, listed

RULE = Rule(
    id="EGL214",
    name="netpol-implied-ingress-isolation",
    tag="unreachable",
    level="warning",
    summary="Egress NetworkPolicy without policyTypes also denies all ingress to ambient pods.",
    kinds=("NetworkPolicy",),
)


def _isolates_explicitly(policy: Resource) -> bool:
    return netpol.isolates_ingress(policy) and not netpol.implied_ingress(policy)


def _isolated_elsewhere(graph: MeshGraph, policy: Resource, wl: Workload) -> bool:
    return any(
        p is not policy and _isolates_explicitly(p)
        for p in graph.network_policies_for(wl.namespace, wl.labels)
    )


def _exposed(graph: MeshGraph, policy: Resource) -> list[Resource] | None:
    """The ambient workloads this policy newly cuts off from all ingress ([] for a namespace
    with no workloads in the view, when it is enrolled, hosts no waypoint and is not isolated by
    another namespace-wide policy); None when it cuts off nothing."""
    selected = graph.pods_selected_by(policy)
    if selected:
        found = [
            w.resource
            for w in selected
            if not bypass.is_waypoint_pod(w)
            and bypass.pod_ambient(graph, w)
            and not _isolated_elsewhere(graph, policy, w)
        ]
        return found or None
    ns = policy.namespace
    if (
        graph.workloads(ns)
        or not graph.is_ambient_namespace(ns)
        or bypass.hosts_waypoint(graph, ns)
    ):
        return None
    others = [
        p
        for p in graph.in_namespace("NetworkPolicy", ns)
        if p is not policy and is_empty_selector(p.spec.get("podSelector"))
    ]
    return None if any(_isolates_explicitly(p) for p in others) else []


def _finding(policy: Resource, exposed: list[Resource]) -> Finding:
    who = (
        f"ambient pods ({listed(r.name for r in exposed)})"
        if exposed
        else f"the pods of ambient namespace '{policy.namespace}'"
    )
    return RULE.at(
        policy,
        ("spec",),
        f"{policy.ref} has egress rules but no policyTypes, so Kubernetes also sets Ingress and, "
        f"with no ingress rules, drops every connection to {who}: mesh callers (HBONE on TCP "
        "15008) cannot reach them. Add policyTypes: [Egress] (or list Ingress with the ingress "
        "rules you mean).",
        [related(r, ("metadata",), "selected by the policy") for r in exposed[:5]],
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for policy in graph.of_kind("NetworkPolicy"):
        if not netpol.implied_ingress(policy) or hbone.blocks_waypoint_ingress(graph, policy):
            continue
        exposed = _exposed(graph, policy)
        if exposed is not None:
            yield _finding(policy, exposed)
