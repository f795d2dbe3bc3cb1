"""Facts about the three egress modes, API shapes and version gates used by the mode-aware rules.

Rules EGL402-EGL449 (unsupported-feature) and EGL501-EGL549 (invalid) share these helpers.
Everything here reads resources defensively: any shape of input gives an answer, never an
exception.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..model import Path, Resource, as_list, as_map, enumerate_maps
from . import istio
from .graph import (
    AGENTGATEWAY_WAYPOINTS,
    ISTIO_WAYPOINT,
    ROOT_NAMESPACE,
    ZTUNNEL_EGRESS,
    Binding,
    MeshGraph,
)

AGW_POLICY_KINDS = ("AgentgatewayPolicy", "EnterpriseAgentgatewayPolicy")
ENTERPRISE_AGENTGATEWAY = "enterprise-agentgateway-waypoint"
# The agentgateway classes istiod programs itself (`istio-agentgateway` in 1.30,
# `istio-agentgateway-waypoint` from the 1.31 prereleases). For them istiod reads Gateway API
# resources (routes, BackendTLSPolicy, XBackendTrafficPolicy), ServiceEntry, WorkloadEntry,
# InferencePool and core objects only (`AgwInputs` in
# pilot/pkg/config/kube/agentgateway/agentgateway_controller.go, 1.30.3 and 1.31.0-rc.0):
# never AuthorizationPolicy ("Authz/Authn are not use for agentgateway"), VirtualService,
# DestinationRule, nor either (Enterprise)AgentgatewayPolicy kind.
ISTIOD_AGENTGATEWAY_CLASSES = ("istio-agentgateway", "istio-agentgateway-waypoint")
Version = tuple[int, int, int]

# ztunnel's L4 `when` keys (authorization.go); connection.sni and remote.ip are waypoint-only.
ZTUNNEL_WHEN_KEYS = frozenset(
    {"source.ip", "source.namespace", "source.principal", "destination.ip", "destination.port"}
)
_OPERATION_L7 = ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")
_SOURCE_L7 = ("requestPrincipals", "notRequestPrincipals", "remoteIpBlocks", "notRemoteIpBlocks")


def version_text(version: Version) -> str:
    return ".".join(str(p) for p in version)


def ztunnel_l7_fields(policy: Resource) -> Iterator[tuple[Path, str]]:
    """Attributes ztunnel cannot enforce in an AuthorizationPolicy: (path, field name)."""
    return istio.policy_fields(policy, _OPERATION_L7, _SOURCE_L7, ZTUNNEL_WHEN_KEYS)


def has_target_refs(policy: Resource) -> bool:
    return bool(as_list(policy.spec.get("targetRefs"))) or isinstance(
        policy.spec.get("targetRef"), Mapping
    )


def target_refs(policy: Resource) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """Each ``targetRef``/``targetRefs[i]`` mapping of a policy, with its path."""
    single = policy.spec.get("targetRef")
    if isinstance(single, Mapping):
        yield ("spec", "targetRef"), single
    for i, ref in enumerate_maps(policy.spec.get("targetRefs")):
        yield ("spec", "targetRefs", i), ref


def ses_in_mode(graph: MeshGraph, *modes: str) -> Iterator[Resource]:
    """ServiceEntries whose egress mode (waypoint class, else ``--mode``) is one of ``modes``."""
    for se in graph.of_kind("ServiceEntry"):
        if graph.mode_of(se) in modes:
            yield se


def gateways_of_class(graph: MeshGraph, *classes: str) -> list[Resource]:
    return [gw for gw in graph.of_kind("Gateway") if graph.gateway_class(gw) in classes]


def is_agentgateway(mode: str | None) -> bool:
    return mode in AGENTGATEWAY_WAYPOINTS


def agw_policies(graph: MeshGraph) -> list[Resource]:
    return graph.of_kind(*AGW_POLICY_KINDS)


def reads_agw_policies(gateway_class: str) -> bool:
    """Whether Gateways of this class may read (Enterprise)AgentgatewayPolicy: not istiod's own
    agentgateway classes (see ``ISTIOD_AGENTGATEWAY_CLASSES``)."""
    return gateway_class not in ISTIOD_AGENTGATEWAY_CLASSES


def agw_policy_unread(graph: MeshGraph, policy: Resource) -> bool:
    """Whether every ``targetRefs`` entry of a policy names a Gateway in the repository whose
    class never reads (Enterprise)AgentgatewayPolicy: nothing applies the policy."""
    refs = list(target_refs(policy))
    targets = agw_targets(graph, policy)
    return (
        bool(refs)
        and len(targets) == len(refs)
        and all(
            t.kind == "Gateway" and not reads_agw_policies(graph.gateway_class(t)) for t in targets
        )
    )


def agw_authorization(policy: Resource) -> tuple[Mapping[str, Any], Path] | None:
    """The ``spec.traffic.authorization`` block of an (Enterprise)AgentgatewayPolicy."""
    authz = policy.get("spec", "traffic", "authorization")
    if isinstance(authz, Mapping):
        return authz, ("spec", "traffic", "authorization")
    return None


def agw_action(authz: Mapping[str, Any]) -> str:
    value = authz.get("action", "Allow")
    return value if isinstance(value, str) else "Allow"


def agw_expressions(authz: Mapping[str, Any]) -> list[tuple[int, str]]:
    exprs = as_list(as_map(authz.get("policy")).get("matchExpressions"))
    return [(i, e) for i, e in enumerate(exprs) if isinstance(e, str)]


def agw_targets(graph: MeshGraph, policy: Resource) -> list[Resource]:
    """Resources a policy's ``targetRefs`` name in its namespace (all kinds)."""
    out = []
    for _, ref in target_refs(policy):
        kind, name = ref.get("kind"), ref.get("name")
        if isinstance(kind, str) and isinstance(name, str):
            found = graph.get(kind, policy.namespace, name)
            if found is not None:
                out.append(found)
    return out


def ztunnel_namespace_unstated(graph: MeshGraph, binding: Binding) -> bool:
    """With ``--mode solo-ztunnel-egress`` and no Gateway in the view, a binding that does
    not name istio-system: EGL403 reports it (the gateway's single home), not EGL102."""
    return (
        graph.mode_override == ZTUNNEL_EGRESS
        and not graph.of_kind("Gateway")
        and binding.namespace != ROOT_NAMESPACE
        and binding.owner.namespace != ROOT_NAMESPACE
    )


def label_path(res: Resource, label: str) -> Path:
    """Path to a label when the resource carries it, else to its labels or metadata."""
    if label in res.labels:
        return ("metadata", "labels", label)
    return ("metadata", "labels") if "labels" in res.metadata else ("metadata",)


def _policy_tls(
    policy: Any, base: tuple[Any, ...]
) -> Iterator[tuple[Mapping[str, Any], tuple[Any, ...]]]:
    pol = as_map(policy)
    if isinstance(pol.get("tls"), Mapping):
        yield pol["tls"], (*base, "tls")
    for i, setting in enumerate_maps(pol.get("portLevelSettings")):
        if isinstance(setting.get("tls"), Mapping):
            yield setting["tls"], (*base, "portLevelSettings", i, "tls")


def tls_blocks(dr: Resource) -> Iterator[tuple[Mapping[str, Any], tuple[Any, ...]]]:
    yield from _policy_tls(dr.spec.get("trafficPolicy"), ("spec", "trafficPolicy"))
    for s, subset in enumerate_maps(dr.spec.get("subsets")):
        yield from _policy_tls(subset.get("trafficPolicy"), ("spec", "subsets", s, "trafficPolicy"))


def mode_unknown(graph: MeshGraph) -> bool:
    """Whether some ServiceEntry is bound to a waypoint whose mode cannot be told.

    True when no ``--mode`` is given, the repository holds no waypoint, and at least one
    ServiceEntry (or its namespace) names a waypoint: mode-dependent rules then stay silent.
    """
    if graph.mode_override or graph.waypoints():
        return False
    for se in graph.of_kind("ServiceEntry"):
        b = graph.binding(se)
        if b is not None and not b.opted_out and graph.waypoint_of(se) is None:
            return True
    return False


__all__ = [
    "AGENTGATEWAY_WAYPOINTS",
    "ISTIO_WAYPOINT",
    "ZTUNNEL_EGRESS",
]
