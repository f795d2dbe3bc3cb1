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
to a waypoint or a waypoint Gateway, for each `from.source.principals` entry
(`<trust-domain>/ns/<ns>/sa/<sa>`) whose service account is used by such workloads, and each
`from.source.namespaces` entry naming a namespace none of whose workloads is captured. Where
the workload or its namespace opts out explicitly (`istio.io/dataplane-mode: none`), the
finding is at that label, once, with every policy that allow-lists it as a related location:
the policy states the intent, the opt-out defeats it. Otherwise (hostNetwork, a namespace
never enrolled) it is at the policy entry. Sidecar-injected pods are reported as notes: their
egress follows the sidecar's configuration, which this linter does not model.

**How to fix.** Enrol the workload in ambient (remove the `none` label, `hostNetwork` or sidecar
injection, label the namespace `istio.io/dataplane-mode: ambient`), or remove it from the
policy and control its egress another way.

Sources: `cni/pkg/util/enablement_selector.go` `Matches` (a pod with a sidecar is never
enrolled), 1.30.3; hostNetwork pods get no CNI call from the kubelet (Kubernetes), and istiod
marks them `HOST_NETWORK` (`pilot/pkg/serviceregistry/ambient/workloads.go`, 1.30.3);
istio-cni `ambient.enablementSelectors`; istio.io "Add workloads to the mesh".
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, istio
from egresslint.mesh.graph import DATAPLANE_MODE, MeshGraph, Workload
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


@dataclass
class _OptOut:
    """An explicit opt-out label and the policy entries it defeats."""

    owner: Resource
    path: Path
    workload: Workload
    allowed_by: list[tuple[Resource, Path, str, Resource]] = field(default_factory=list)


def _opt_out(graph: MeshGraph, wl: Workload) -> tuple[Resource, Path] | None:
    """The explicit ``istio.io/dataplane-mode: none`` that keeps ``wl`` out, if that is why."""
    if wl.host_network or graph.is_sidecar_namespace(wl.namespace):
        return None
    if wl.labels.get(DATAPLANE_MODE) == "none":
        return wl.resource, (*wl.template_path, "metadata", "labels", DATAPLANE_MODE)
    ns = graph.namespace(wl.namespace)
    if (
        ns is not None
        and ns.labels.get(DATAPLANE_MODE) == "none"
        and DATAPLANE_MODE not in wl.labels
    ):
        return ns, ("metadata", "labels", DATAPLANE_MODE)
    return None


def _who(o: _OptOut) -> str:
    if o.owner is o.workload.resource:
        return f"{o.owner.ref} opts its pods"
    return f"{o.owner.ref} opts its workloads (such as {o.workload.resource.ref})"


def _at_opt_out(o: _OptOut) -> Finding:
    ap, path, text, target = o.allowed_by[0]
    others = len(o.allowed_by) - 1
    more = f" (and {others} more {'policy' if others == 1 else 'policies'})" if others else ""
    return RULE.at(
        o.owner,
        o.path,
        f"{_who(o)} out of ambient with istio.io/dataplane-mode: none, but {ap.ref} allows "
        f"'{text}' to use egress target "
        f"{target.ref}{more}: ztunnel never captures this traffic, so it does not pass the "
        "waypoint and the allow-list entry never applies. Remove the opt-out, or remove the "
        "workload from the policy.",
        [related(a, p, "allow-lists the opted-out workload") for a, p, _, _ in o.allowed_by[:10]],
    )


def _entry_findings(
    graph: MeshGraph, ap: Resource, target: Resource, opt_outs: dict[tuple[int, Path], _OptOut]
) -> Iterator[Finding]:
    for path, text, ns, sa in _entries(ap):
        wls = graph.workloads(ns) if sa is None else graph.service_account_users(ns, sa)
        wls = [w for w in wls if not bypass.is_waypoint_pod(w)]
        hits = _uncaptured(graph, wls)
        # a namespace entry is about the namespace: report it only when none of its pods is captured
        if not hits or (sa is None and len(hits) != len(wls)):
            continue
        rest = []
        for hit in hits:
            found = _opt_out(graph, hit[0])
            if found is None:
                rest.append(hit)
                continue
            key = (id(found[0]), found[1])
            opt = opt_outs.setdefault(key, _OptOut(found[0], found[1], hit[0]))
            opt.allowed_by.append((ap, path, text, target))
        if rest:
            yield _finding(ap, target, path, text, rest)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    opt_outs: dict[tuple[int, Path], _OptOut] = {}
    for ap in graph.of_kind("AuthorizationPolicy"):
        if istio.action(ap) != "ALLOW":
            continue
        target = _egress_target(graph, ap)
        if target is not None:
            yield from _entry_findings(graph, ap, target, opt_outs)
    for opt in opt_outs.values():
        yield _at_opt_out(opt)
