"""`outboundTrafficPolicy: REGISTRY_ONLY` is relied on for ambient workloads, but ztunnel does
not honor it: unregistered hosts pass straight through.

**Why it matters.** With sidecars, `REGISTRY_ONLY` (mesh config or a `Sidecar` resource) blocks
hosts that have no ServiceEntry. ztunnel has no such mode: traffic to a destination it does not
know is passed through as plain TCP, and `Sidecar` resources do not apply to ambient pods at
all. A mesh that set `REGISTRY_ONLY` before moving to ambient silently loses its default-deny.

**When it fires.** For `REGISTRY_ONLY` in a `Sidecar` in an ambient namespace (or in the root
namespace `istio-system` while the repository has ambient namespaces); and, while the
repository has ambient namespaces, in mesh config: the `istio` ConfigMap's `data.mesh`, an
`IstioOperator`'s `spec.meshConfig`, a Sail `Istio`'s `spec.values.meshConfig`, or a Helm values
file's `meshConfig`. Where egress NetworkPolicies already lock down the ambient application
pods concerned (every ambient application namespace for mesh config and the root-namespace
`Sidecar`; the `Sidecar`'s own namespace otherwise), `REGISTRY_ONLY` is not what keeps them
off unregistered hosts: the finding is then a note.

**How to fix.** Enforce the default-deny for ambient pods with an egress NetworkPolicy that
admits only DNS and in-cluster destinations (external hosts then reachable only through the
waypoint); keep `REGISTRY_ONLY` only for sidecar workloads.

Sources: istio/ztunnel `src/proxy/outbound.rs` `build_request` (1.24.0, 1.30.3): a destination
that is no known service is sent as passthrough TCP, and ztunnel's source has no notion of
`REGISTRY_ONLY` or `Sidecar` at those tags; istio/istio `pilot/pkg/serviceregistry/kube/
controller/ambient/` (1.24.0) and `pilot/pkg/serviceregistry/ambient/` (1.30.3) never read
`outboundTrafficPolicy`; istio/istio#54281 (REGISTRY_ONLY not honored by ztunnel);
istio/api#3517 (Sidecar unused in ambient); istioctl IST0167.
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import bypass
from egresslint.mesh.graph import ROOT_NAMESPACE, MeshGraph
from egresslint.model import Finding, Resource, Span, ValuesDoc

RULE = Rule(
    id="EGL113",
    name="registry-only-ineffective-in-ambient",
    tag="bypass",
    level="warning",
    summary="outboundTrafficPolicy REGISTRY_ONLY relied on for ambient pods; ztunnel ignores it.",
    kinds=("Sidecar", "ConfigMap", "IstioOperator", "Istio"),
    security_severity="6.0",
)

_WHY = (
    "ztunnel does not honor REGISTRY_ONLY, so ambient pods reach unregistered hosts directly. "
    "Block direct egress of ambient pods with an egress NetworkPolicy (DNS and in-cluster only) "
    "instead."
)
_LOCKED = (
    "ztunnel does not honor REGISTRY_ONLY, but egress NetworkPolicies already keep {who} off "
    "unregistered hosts; the setting only affects sidecar pods."
)


def _sidecar(graph: MeshGraph, sc: Resource, ambient: bool) -> Finding | None:
    if graph.is_ambient_namespace(sc.namespace):
        where = f"namespace '{sc.namespace}' is ambient and Sidecar resources do not apply to ambient pods"
        locked = bypass.namespace_locked_down(graph, sc.namespace)
        who = f"the ambient pods of namespace '{sc.namespace}'"
    elif sc.namespace == ROOT_NAMESPACE and ambient:
        where = "the mesh has ambient namespaces, which this root-namespace default does not reach"
        locked = bypass.ambient_locked_down(graph)
        who = "every ambient application namespace"
    else:
        return None
    why = _LOCKED.format(who=who) if locked else _WHY
    found = RULE.at(
        sc, ("spec", *bypass.MESH_MODE), f"{sc.ref} sets REGISTRY_ONLY, but {where}: {why}"
    )
    if locked:
        found.level = "note"
    return found


def _mesh_text_span(cm: Resource) -> Span:
    """The line of ``REGISTRY_ONLY`` inside the ``data.mesh`` block, else the key."""
    span = cm.locate(("data", "mesh"))
    text = cm.get("data", "mesh")
    lines = text.splitlines() if isinstance(text, str) else []
    for i, line in enumerate(lines):
        if "REGISTRY_ONLY" in line:
            line_no = span.line + 1 + i  # block scalar content starts below the key
            if line_no <= span.end_line:
                col = line.index("REGISTRY_ONLY")
                return Span(line_no, 1, line_no, col + len("REGISTRY_ONLY") + 1)
    return span


def _mesh_config(setting: bypass.MeshSetting, why: str) -> Finding:
    owner, path = setting.owner, setting.path
    if isinstance(owner, ValuesDoc):
        message = f"{owner.ref} sets meshConfig.outboundTrafficPolicy.mode REGISTRY_ONLY: {why}"
        return Finding(RULE.id, message, owner.file, owner.locate(path), None, path)
    if owner.kind == "ConfigMap":
        found = RULE.at(
            owner, path, f"{owner.ref} mesh config sets outboundTrafficPolicy REGISTRY_ONLY: {why}"
        )
        found.span = _mesh_text_span(owner)
        return found
    return RULE.at(
        owner, path, f"{owner.ref} sets meshConfig outboundTrafficPolicy REGISTRY_ONLY: {why}"
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    ambient = bool(graph.ambient_namespaces())
    for sc in graph.of_kind("Sidecar"):
        if bypass.registry_only(sc.spec):
            found = _sidecar(graph, sc, ambient)
            if found is not None:
                yield found
    if not ambient:
        return
    locked = bypass.ambient_locked_down(graph)
    why = _LOCKED.format(who="every ambient application namespace") if locked else _WHY
    for setting in bypass.registry_only_settings(graph):
        found = _mesh_config(setting, why)
        if locked:
            found.level = "note"
        yield found
