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
file's `meshConfig`.

**How to fix.** Enforce the default-deny for ambient pods with an egress NetworkPolicy that
admits only DNS and in-cluster destinations (external hosts then reachable only through the
waypoint); keep `REGISTRY_ONLY` only for sidecar workloads.

Sources: istio/istio#54281 (REGISTRY_ONLY not honored by ztunnel); ztunnel
`src/proxy/outbound.rs` (passthrough); istio/api#3517 (Sidecar unused in ambient); istioctl
IST0167.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from egresslint.lint.rule import Context, Rule
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Path, Resource, Span, ValuesDoc, as_map

RULE = Rule(
    id="EGL113",
    name="registry-only-ineffective-in-ambient",
    tag="bypass",
    level="warning",
    summary="outboundTrafficPolicy REGISTRY_ONLY relied on for ambient pods; ztunnel ignores it.",
    kinds=("Sidecar", "ConfigMap", "IstioOperator", "Istio"),
    security_severity="6.0",
)

ROOT_NS = "istio-system"
_WHY = (
    "ztunnel does not honor REGISTRY_ONLY, so ambient pods reach unregistered hosts directly. "
    "Block direct egress of ambient pods with an egress NetworkPolicy (DNS and in-cluster only) "
    "instead."
)


def _registry_only(mesh: Any) -> bool:
    mode = as_map(as_map(mesh).get("outboundTrafficPolicy")).get("mode")
    return isinstance(mode, str) and mode.upper() == "REGISTRY_ONLY"


_MODE: Path = ("outboundTrafficPolicy", "mode")


def _sidecars(graph: MeshGraph, ambient: bool) -> Iterator[Finding]:
    for sc in graph.of_kind("Sidecar"):
        if not _registry_only(sc.spec):
            continue
        if graph.is_ambient_namespace(sc.namespace):
            where = f"namespace '{sc.namespace}' is ambient and Sidecar resources do not apply to ambient pods"
        elif sc.namespace == ROOT_NS and ambient:
            where = (
                "the mesh has ambient namespaces, which this root-namespace default does not reach"
            )
        else:
            continue
        yield RULE.at(sc, ("spec", *_MODE), f"{sc.ref} sets REGISTRY_ONLY, but {where}: {_WHY}")


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


def _configmaps(graph: MeshGraph) -> Iterator[Finding]:
    for cm in graph.in_namespace("ConfigMap", ROOT_NS):
        if cm.name != "istio" and not cm.name.startswith("istio-"):
            continue
        text = cm.get("data", "mesh")
        try:
            mesh = yaml.safe_load(text) if isinstance(text, str) else None
        except yaml.YAMLError:
            continue
        if _registry_only(mesh):
            f = RULE.at(
                cm,
                ("data", "mesh"),
                f"{cm.ref} mesh config sets outboundTrafficPolicy REGISTRY_ONLY: {_WHY}",
            )
            f.span = _mesh_text_span(cm)
            yield f


def _operators(graph: MeshGraph) -> Iterator[Finding]:
    for res in graph.of_kind("IstioOperator", "Istio"):
        base: Path = (
            ("spec", "meshConfig")
            if res.kind == "IstioOperator"
            else ("spec", "values", "meshConfig")
        )
        if _registry_only(res.get(*base)):
            yield RULE.at(
                res,
                (*base, *_MODE),
                f"{res.ref} sets meshConfig outboundTrafficPolicy REGISTRY_ONLY: {_WHY}",
            )


def _values(doc: ValuesDoc) -> Finding | None:
    mesh = doc.get("meshConfig")
    if not isinstance(mesh, Mapping) or not _registry_only(mesh):
        return None
    path = ("meshConfig", *_MODE)
    return Finding(
        RULE.id,
        f"{doc.ref} sets meshConfig.outboundTrafficPolicy.mode REGISTRY_ONLY: {_WHY}",
        doc.file,
        doc.locate(path),
        None,
        path,
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    ambient = bool(graph.ambient_namespaces())
    yield from _sidecars(graph, ambient)
    if not ambient:
        return
    yield from _configmaps(graph)
    yield from _operators(graph)
    for doc in graph.values_documents():
        found = _values(doc)
        if found is not None:
            yield found
