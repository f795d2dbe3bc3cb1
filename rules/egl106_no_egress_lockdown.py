"""Ambient application pods may reach external addresses directly: no egress NetworkPolicy
keeps them off the internet, so anything not registered and bound bypasses egress control.

**Why it matters.** In ambient mode ztunnel passes traffic to destinations it does not know
(no ServiceEntry) straight through as plain TCP; `outboundTrafficPolicy: REGISTRY_ONLY` is not
honored. A waypoint controls only hosts whose ServiceEntry is bound to it. The only hard stop
against the rest is an egress NetworkPolicy on the application pods that allows DNS and
in-cluster destinations (the waypoint over HBONE 15008) and nothing outside the cluster.
ztunnel's outbound sockets live in the pod's network namespace, so such a policy applies.
With `solo-ztunnel-egress` (no proxy pods) registered traffic exits from the ztunnel pod's
network namespace, so the lock-down of application pods does not block it; messages then name
"the ztunnel egress gateway" instead of the waypoint.

**When it fires.** Only when the repository uses egress control (waypoints, an egress Gateway
class or `--mode`). For every workload whose pods are enrolled in ambient (namespace label, or
pod label `istio.io/dataplane-mode: ambient`), unless the NetworkPolicies selecting its pods
block TCP 443 and 80 to public addresses. Namespaces that only host a waypoint or egress
Gateway are left alone: the waypoint must stay unrestricted. The finding is on the Namespace
(where a namespace-wide `podSelector: {}` policy belongs), or on the workload when its
namespace is not in the repository. With no workloads in the repository at all, ambient
namespaces without such a policy are reported as notes. Policies that open the internet on
purpose are reported by EGL107 instead.

**How to fix.** Add a NetworkPolicy in the namespace with `podSelector: {}`,
`policyTypes: [Egress]` and egress rules for DNS and in-cluster CIDRs or namespace selectors
only.

Sources: ztunnel `src/proxy/outbound.rs` (passthrough of unknown destinations); istio/istio
#54281 (REGISTRY_ONLY not honored); istio.io "Ambient and Kubernetes NetworkPolicy"; the
waypoint egress walkthrough ("Deny application pods from reaching IP addresses outside the
cluster").
"""

from collections import defaultdict
from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass
from egresslint.mesh.graph import DATAPLANE_MODE, MeshGraph, Workload
from egresslint.model import Finding, Resource, listed

RULE = Rule(
    id="EGL106",
    name="no-egress-lockdown",
    tag="bypass",
    level="warning",
    summary="Ambient application pods have no egress NetworkPolicy blocking direct external access.",
    kinds=("Namespace", "NetworkPolicy", "Deployment", "StatefulSet", "DaemonSet", "Pod"),
    security_severity="6.5",
)


def _fix(graph: MeshGraph) -> str:
    return (
        "Add a NetworkPolicy with podSelector: {}, policyTypes: [Egress] and egress rules for DNS "
        "and in-cluster destinations only, so external hosts are reachable only through "
        f"{bypass.egress_proxy_phrase(graph)}."
    )


def _unprotected(graph: MeshGraph, wl: Workload) -> list[int]:
    if bypass.is_waypoint_pod(wl) or not bypass.pod_ambient(graph, wl):
        return []
    policies = graph.network_policies_for(wl.namespace, wl.labels)
    if any(bypass.opens_internet(p) for p in policies):
        return []  # reported by EGL107 at the rule that opens it
    return bypass.open_external_ports(graph, wl.namespace, wl.labels)


def _backstop(graph: MeshGraph) -> bool:
    """Whether Helm values configure ztunnel egressPolicies (a default-deny backstop)."""
    for doc in graph.values_documents():
        nested = doc.get("ztunnel")
        if "egressPolicies" in doc.body or (
            isinstance(nested, dict) and "egressPolicies" in nested
        ):
            return True
    return False


def _on_namespace(ns: Resource, wls: list[Workload], ports: set[int], fix: str) -> Finding:
    path = ("metadata", "labels", DATAPLANE_MODE)
    names = listed(w.resource.name for w in wls)
    return RULE.at(
        ns,
        path if DATAPLANE_MODE in ns.labels else ("metadata",),
        f"{ns.ref} runs ambient workloads ({names}) that can open TCP "
        f"{'/'.join(map(str, sorted(ports)))} to external addresses directly: hosts without a "
        f"bound ServiceEntry pass through ztunnel uncontrolled. {fix}",
        [
            related(w.resource, (*w.template_path, "metadata"), "pods not locked down")
            for w in wls[:10]
        ],
    )


def _on_workload(wl: Workload, ports: list[int], fix: str) -> Finding:
    return RULE.at(
        wl.resource,
        (*wl.template_path, "metadata", "labels"),
        f"{wl.resource.ref} runs ambient pods that can open TCP {'/'.join(map(str, ports))} to "
        f"external addresses directly (no egress NetworkPolicy in namespace "
        f"'{wl.namespace}' blocks it). {fix}",
    )


def _without_workloads(graph: MeshGraph) -> Iterator[Finding]:
    for ns in graph.ambient_namespaces():
        if bypass.hosts_waypoint(graph, ns.name):
            continue
        if bypass.open_external_ports(graph, ns.name, {}):
            f = RULE.at(
                ns,
                ("metadata", "labels", DATAPLANE_MODE),
                f"{ns.ref} is enrolled in ambient and has no egress NetworkPolicy blocking "
                f"external addresses (no workloads in the repository to check). {_fix(graph)}",
            )
            f.level = "note"
            yield f


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    if not graph.egress_controlled():
        return
    if not graph.workloads():
        yield from _without_workloads(graph)
        return
    by_ns: dict[str, list[tuple[Workload, list[int]]]] = defaultdict(list)
    for wl in graph.workloads():
        ports = _unprotected(graph, wl)
        if ports:
            by_ns[wl.namespace].append((wl, ports))
    note = _backstop(graph)
    fix = _fix(graph)
    for name, items in by_ns.items():
        ns = graph.namespace(name)
        if ns is not None and graph.is_ambient_namespace(name):
            wls, ports = [w for w, _ in items], {p for _, ps in items for p in ps}
            found = [_on_namespace(ns, wls, ports, fix)]
        else:
            found = [_on_workload(w, ps, fix) for w, ps in items]
        for f in found:
            if note:
                f.level = "note"
            yield f
