"""A `DYNAMIC_DNS` wildcard ServiceEntry bound to a waypoint has a `TLS` port, but istiod's
`ENABLE_WILDCARD_HOST_SERVICE_ENTRIES_FOR_TLS` flag is off, so the waypoint drops that port.

**Why it matters.** Istio 1.29 added SNI-routed TLS for wildcard hosts with `resolution:
DYNAMIC_DNS` behind a feature flag that is off by default, because the waypoint then trusts
the client's SNI (release note `se-wildcard-tls-host`, 1.29.0; `pilot/pkg/features/
experimental.go`). Validation accepts the TLS port either way, but with the flag off istiod
builds neither the waypoint's cluster nor its inbound filter chain for it ("skipping waypoint
VIP cluster for TLS protocol ... since the feature is disabled", `buildWaypointInboundVIP` in
`pilot/pkg/networking/core/cluster_waypoint.go`; `listener_waypoint.go`; 1.29.0 to 1.30.3):
ztunnel still sends the connection to the waypoint, which has nothing for it, and every TLS
call to the wildcard's hosts fails.

**When it fires.** From Istio 1.29 (`--istio-version`; before it validation rejects TLS with
DYNAMIC_DNS, which EGL501 reports), for each port with protocol `TLS` of a MESH_EXTERNAL
`DYNAMIC_DNS` ServiceEntry bound to an Envoy waypoint, unless the view turns the flag on: an
istiod environment variable in Helm values (`env` or `pilot.env`, also under `spec.values` of
an `IstioOperator` or Sail `Istio`), an `IstioOperator` `spec.components.pilot.k8s.env` entry,
or the `istiod` Deployment's container `env`, read as Go's `strconv.ParseBool` reads it.
Warning when the view sets the flag off or carries istiod's install configuration without it;
a note when the view has no install configuration at all (istiod may be installed elsewhere
with the flag on).

**How to fix.** Set `ENABLE_WILDCARD_HOST_SERVICE_ENTRIES_FOR_TLS: "true"` in istiod's
environment (`pilot.env`) if you accept SNI-based routing from trusted clients; or list the
TLS hosts by name in a `resolution: DNS` ServiceEntry; or send plain HTTP to an HTTP port and
let the waypoint originate TLS.

Sources: the istio/istio files and release note named above.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import bypass, istio, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Path, Resource, ValuesDoc, as_list, as_map, enumerate_maps

RULE = Rule(
    id="EGL218",
    name="wildcard-tls-flag-off",
    tag="unreachable",
    level="warning",
    summary="DYNAMIC_DNS wildcard TLS port while istiod's wildcard-TLS flag is off: the waypoint drops it.",
    kinds=("ServiceEntry", "IstioOperator", "Istio", "Deployment"),
)

FLAG = "ENABLE_WILDCARD_HOST_SERVICE_ENTRIES_FOR_TLS"
SINCE = (1, 29, 0)
_INSTALL_KINDS = ("IstioOperator", "Istio")

Setting = tuple[Resource | ValuesDoc, Path, Any]  # where the flag is set, and its value


def _values_env(node: Any, path: Path, depth: int) -> Iterator[tuple[Path, Any]]:
    """``env.<FLAG>`` anywhere in a values mapping (``env``, ``pilot.env``, bounded depth)."""
    if not isinstance(node, Mapping) or depth < 0:
        return
    env = node.get("env")
    if isinstance(env, Mapping) and FLAG in env:
        yield (*path, "env", FLAG), env[FLAG]
    for key, value in node.items():
        if key != "env" and isinstance(value, Mapping):
            yield from _values_env(value, (*path, key), depth - 1)


def _env_list(res: Resource, base: Path) -> Iterator[Setting]:
    for i, entry in enumerate_maps(res.get(*base)):
        if entry.get("name") == FLAG:
            yield res, (*base, i, "value"), entry.get("value")


def _istiod_containers(dep: Resource) -> Iterator[Setting]:
    containers = as_list(dep.get("spec", "template", "spec", "containers"))
    for c, container in enumerate(containers):
        if isinstance(container, Mapping) and container.get("name") == "discovery":
            yield from _env_list(dep, ("spec", "template", "spec", "containers", c, "env"))


def _settings(graph: MeshGraph) -> Iterator[Setting]:
    for doc in graph.values_documents():
        for path, value in _values_env(doc.body, (), 4):
            yield doc, path, value
    for res in graph.of_kind(*_INSTALL_KINDS):
        for path, value in _values_env(res.get("spec", "values"), ("spec", "values"), 4):
            yield res, path, value
        if res.kind == "IstioOperator":
            yield from _env_list(res, ("spec", "components", "pilot", "k8s", "env"))
    for dep in graph.of_kind("Deployment"):
        if dep.name.startswith("istiod"):
            yield from _istiod_containers(dep)


def _has_install(graph: MeshGraph) -> bool:
    """The view carries istiod's install configuration (values, an operator resource, the
    istiod Deployment), so a flag it does not set is off."""
    if graph.of_kind(*_INSTALL_KINDS):
        return True
    if any(d.name.startswith("istiod") for d in graph.of_kind("Deployment")):
        return True
    return any(
        isinstance(as_map(doc.body).get(k), Mapping)
        for doc in graph.values_documents()
        for k in ("pilot", "meshConfig", "global")
    )


def flag(graph: MeshGraph) -> tuple[bool | None, Setting | None]:
    """The flag as the view sets it (first setting read as a boolean), else None."""
    for setting in _settings(graph):
        parsed = bypass.parse_bool(setting[2])
        if parsed is not None:
            return parsed, setting
    return None, None


def _tls_ports(graph: MeshGraph, se: Resource) -> list[int]:
    if istio.resolution(se) != "DYNAMIC_DNS" or not graph.is_external(se):
        return []
    b = graph.binding(se)
    if b is None or b.opted_out or not reach.envoy_applies(graph, se):
        return []
    if graph.is_sidecar_namespace(se.namespace):
        return []
    return [i for i, port in graph.ports(se) if istio.protocol(port) == "TLS"]


def _why(on: bool | None, setting: Setting | None, installed: bool) -> tuple[str, bool]:
    """Why the flag is off (completing "... because ..."), and whether that is sure."""
    if setting is not None:
        return f"{setting[0].ref} sets {FLAG} to {setting[2]!r}", True
    if installed:
        return (
            f"the istiod install configuration in the view does not set {FLAG} (off by default)",
            True,
        )
    return f"{FLAG} is off by default and the view does not set it", False


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    if ctx.istio_version < SINCE:
        return
    on, setting = graph.memo("EGL218.flag", lambda: flag(graph))
    if on:
        return
    why, sure = _why(on, setting, _has_install(graph))
    for se in graph.of_kind("ServiceEntry"):
        for i in _tls_ports(graph, se):
            port = as_list(se.spec.get("ports"))[i]
            finding = RULE.at(
                se,
                ("spec", "ports", i, "protocol"),
                f"{se.ref} routes TLS port {istio.port_number(port)} of its wildcard hosts through "
                f"its waypoint by SNI, but {why}: istiod then builds no waypoint cluster or filter "
                "chain for the port, and every TLS connection to these hosts fails. Set "
                f'{FLAG}: "true" in istiod\'s environment (pilot.env) if clients are trusted, or '
                "list the TLS hosts by name with resolution DNS.",
            )
            if not sure:
                finding.level = "note"
            yield finding
