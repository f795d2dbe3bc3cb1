"""An egress AuthorizationPolicy allow-lists a workload whose traffic ztunnel never captures,
so that workload does not go through the waypoint the policy is written for.

**Why it matters.** Egress through a waypoint or the ztunnel egress gateway works only for pods
enrolled in ambient: ztunnel captures their outbound TCP and sends what is bound to a waypoint
there. Pods with `hostNetwork: true`, pods labelled `istio.io/dataplane-mode: none`, pods in
namespaces not enrolled in ambient, and sidecar-injected pods (sidecars win over ambient) are
not captured. Their connections leave by their own path, so the allow-list entry for them never
takes effect, and their egress escapes the policy: direct to the host, or blocked by a
NetworkPolicy lock-down, depending on the cluster.

**When it fires.** For ALLOW AuthorizationPolicies whose `targetRefs` name a ServiceEntry bound
to a waypoint or a waypoint Gateway, at each `from.source.principals` entry
(`<trust-domain>/ns/<ns>/sa/<sa>`) whose service account is used by such workloads, and at each
`from.source.namespaces` entry naming a namespace none of whose workloads is captured. Sidecar-injected pods are reported as
notes: their egress follows the sidecar's configuration, which this linter does not model.

**How to fix.** Enrol the workload in ambient (remove `hostNetwork`, the `none` label or sidecar
injection, label the namespace `istio.io/dataplane-mode: ambient`), or remove it from the
policy and control its egress another way.

Sources: `cni/pkg/util/enablement_selector.go` (hostNetwork and sidecar pods never enrolled);
istio-cni `ambient.enablementSelectors`; istio.io "Add workloads to the mesh".
"""

import re
from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, istio
from egresslint.mesh.graph import MeshGraph, Workload
from egresslint.model import Finding, Path, Resource, as_list, as_map, enumerate_maps

RULE = Rule(
    id="EGL108",
    name="workload-outside-dataplane",
    tag="bypass",
    level="warning",
    summary="Egress AuthorizationPolicy allow-lists a workload that ztunnel does not capture.",
    kinds=("AuthorizationPolicy", "Deployment", "StatefulSet", "DaemonSet", "Pod", "Namespace"),
    security_severity="5.5",
)

_PRINCIPAL = re.compile(r"^(?:[^/]*/)?ns/([^/*]+)/sa/([^/*]+)$")


def _egress_target(graph: MeshGraph, ap: Resource) -> Resource | None:
    for target, _ in graph.policy_targets(ap):
        if target.kind == "Gateway" and graph.is_waypoint(target):
            return target
        if target.kind == "ServiceEntry" and graph.waypoint_of(target) is not None:
            return target
    return None


def _uncaptured(graph: MeshGraph, wls: list[Workload]) -> list[tuple[Workload, str, Path]]:
    out = []
    for wl in wls:
        found = bypass.not_captured_reason(graph, wl)
        if found is not None:
            out.append((wl, *found))
    return out


def _entries(ap: Resource) -> Iterator[tuple[Path, str, str, str | None]]:
    """(path, text, namespace, service account or None) for every source identity entry."""
    for r, rule in enumerate_maps(ap.spec.get("rules")):
        for f, frm in enumerate_maps(rule.get("from")):
            source = as_map(frm.get("source"))
            base: Path = ("spec", "rules", r, "from", f, "source")
            for k, value in enumerate(as_list(source.get("principals"))):
                match = _PRINCIPAL.match(value) if isinstance(value, str) else None
                if match:
                    yield (*base, "principals", k), value, match.group(1), match.group(2)
            for k, value in enumerate(as_list(source.get("namespaces"))):
                if isinstance(value, str) and "*" not in value:
                    yield (*base, "namespaces", k), value, value, None


def _finding(
    ap: Resource, target: Resource, path: Path, text: str, hits: list[tuple[Workload, str, Path]]
) -> Finding:
    wl, why, _ = hits[0]
    more = f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""
    f = RULE.at(
        ap,
        path,
        f"{ap.ref} allows '{text}' to use egress target {target.ref}, but {wl.resource.ref} "
        f"{why}{more}: ztunnel never captures its traffic, so it does not pass the waypoint and "
        "this rule never applies to it. Enrol the workload in ambient or remove it from the policy.",
        [related(w.resource, p, reason) for w, reason, p in hits[:10]],
    )
    if all("sidecar" in reason for _, reason, _ in hits):
        f.level = "note"
    return f


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for ap in graph.of_kind("AuthorizationPolicy"):
        if istio.action(ap) != "ALLOW":
            continue
        target = _egress_target(graph, ap)
        if target is None:
            continue
        for path, text, ns, sa in _entries(ap):
            wls = graph.workloads(ns) if sa is None else graph.service_account_users(ns, sa)
            wls = [w for w in wls if not bypass.is_waypoint_pod(w)]
            hits = _uncaptured(graph, wls)
            # a namespace entry is about the namespace: report it only when none of its pods is captured
            if hits and (sa is not None or len(hits) == len(wls)):
                yield _finding(ap, target, path, text, hits)
