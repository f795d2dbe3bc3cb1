"""A namespace is labelled for ambient (`istio.io/dataplane-mode: ambient`) but the sidecar
injector also selects it, so its pods get sidecars and ztunnel never captures their traffic.

**Why it matters.** The sidecar injector's webhook selects a namespace by
`istio-injection: enabled`, or by `istio.io/rev` when `istio-injection` is absent; it does not
look at `istio.io/dataplane-mode`. Pods created there get a sidecar, and istio-cni never enrols
a pod that has one ("Ztunnel and sidecar for a single pod is currently not supported; opt
out"). Their traffic therefore never reaches ztunnel: the egress waypoint, the ambient
AuthorizationPolicies and the ztunnel egress gateway do not see it, and the sidecars send it by
their own configuration, usually straight to the external host. The ambient label states an
intent that the injection label silently defeats; egresslint's other rules treat the namespace
as sidecar-injected, as the cluster does.

**What is checked.** Every Namespace labelled `istio.io/dataplane-mode: ambient` with
`istio-injection: enabled`, or with `istio.io/rev` and no `istio-injection` label. The finding
is at the ambient label, with the injection label and the workloads of the repository whose
pods get sidecars (not `hostNetwork`, no `sidecar.istio.io/inject: "false"` label or
annotation) as related locations. `istioctl analyze` reports the same namespaces as IST0123
(NamespaceMultipleInjectionLabels), and also `istio-injection: enabled` together with
`istio.io/rev` (the revision label is ignored; the choice between two sidecar revisions is no
egress matter) and an injection label together with `istio.io/dataplane-mode: none` (no
contradiction: the pods are meant to stay out of ambient): this rule stays silent on both.
With `istio-injection` set to anything but `enabled` nothing is injected, and the rule, like
the analyzer, stays silent.

**How to fix.** To use ambient, remove `istio-injection` and `istio.io/rev` from the
namespace and restart its pods so they come back without sidecars; to keep sidecars, remove
`istio.io/dataplane-mode: ambient`.

Sources (istio/istio, 1.30.3):
`manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml` (the webhook's
namespace selectors); `pkg/kube/inject/inject.go` (`injectRequired`: hostNetwork and
`sidecar.istio.io/inject`); `cni/pkg/util/enablement_selector.go` (`Matches`: pods with the
`sidecar.istio.io/status` annotation are not enrolled);
`pkg/config/analysis/analyzers/injection/injection.go` (IST0123).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh.graph import DATAPLANE_MODE, MeshGraph, Workload
from egresslint.model import Finding, Resource, as_map, listed

RULE = Rule(
    id="EGL121",
    name="ambient-namespace-sidecar-injected",
    tag="bypass",
    level="warning",
    summary="Namespace labelled for ambient is also selected by the sidecar injector.",
    kinds=("Namespace",),
    security_severity="5.5",
    istio_analyzer=("IST0123",),
)

INJECTION, REVISION, INJECT = "istio-injection", "istio.io/rev", "sidecar.istio.io/inject"


def injector_label(labels: dict[str, str]) -> str | None:
    """The namespace label by which the sidecar injector's webhook selects the namespace."""
    if labels.get(INJECTION) == "enabled":
        return INJECTION
    if INJECTION not in labels and REVISION in labels:
        return REVISION
    return None


def _injected(wl: Workload) -> bool:
    """Whether the injector adds a sidecar to the workload's pods (``injectRequired``)."""
    if wl.host_network:
        return False
    meta = as_map(wl.resource.get(*wl.template_path, "metadata"))
    value = as_map(meta.get("annotations")).get(INJECT)
    value = wl.labels.get(INJECT, value)
    return value != "false"


def _finding(graph: MeshGraph, ns: Resource, label: str) -> Finding:
    workloads = [w for w in graph.workloads(ns.name) if _injected(w)]
    pods = "its pods"
    if workloads:
        pods = f"the pods of {listed(w.resource.ref for w in workloads)}"
    injector = "the sidecar injector"
    if label == REVISION:
        injector += f" of revision '{ns.labels[label]}'"
    remove = " and ".join(k for k in (INJECTION, REVISION) if k in ns.labels)
    return RULE.at(
        ns,
        ("metadata", "labels", DATAPLANE_MODE),
        f"{ns.ref} is labelled {DATAPLANE_MODE}: ambient, but {label}: {ns.labels[label]} makes "
        f"{injector} add sidecars to {pods}, and istio-cni does not enrol pods that have one: "
        "ztunnel never captures their traffic, so the egress waypoint and ambient policies "
        f"never apply to it (istioctl analyze reports IST0123). Remove {remove} to use ambient "
        "(and restart the pods), or remove the ambient label to keep sidecars.",
        [
            related(ns, ("metadata", "labels", label), "selects the namespace for injection"),
            *(
                related(w.resource, (*w.template_path, "metadata"), "pods get a sidecar")
                for w in workloads[:10]
            ),
        ],
    )


def check(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.graph.of_kind("Namespace"):
        if ns.labels.get(DATAPLANE_MODE) != "ambient":
            continue
        label = injector_label(ns.labels)
        if label is not None:
            yield _finding(ctx.graph, ns, label)
