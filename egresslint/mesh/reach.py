"""Shared questions of the unreachable and waypoint-restricted rules.

Which egress proxy enforces Istio's own APIs for a ServiceEntry, whether a ServiceEntry or a
waypoint only carries opaque (non-HTTP) traffic, and Istio's string matching for
AuthorizationPolicy values (exact, ``prefix*``, ``*suffix``, ``*``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ..model import Path, Resource, as_list, listed
from . import istio
from .graph import AGENTGATEWAY_WAYPOINTS, ISTIO_WAYPOINT, ZTUNNEL_EGRESS, Binding, MeshGraph

# Classes whose proxies do not apply DestinationRule / AuthorizationPolicy as Envoy does.
NON_ENVOY_CLASSES = (ZTUNNEL_EGRESS, *AGENTGATEWAY_WAYPOINTS)
AGENTGATEWAY_CLASSES = AGENTGATEWAY_WAYPOINTS
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
LEGACY_GATEWAY_NAME_LABEL = "istio.io/gateway-name"
AUTOALLOCATE = "networking.istio.io/enable-autoallocate-ip"


def envoy_applies(graph: MeshGraph, se: Resource) -> bool:
    """False when the ServiceEntry egresses through ztunnel-native or an agentgateway waypoint."""
    return graph.mode_of(se) not in NON_ENVOY_CLASSES


def port_protocols(se: Resource) -> list[str]:
    return [istio.protocol(port) for _, port in MeshGraph.ports(se)]


def is_opaque(se: Resource) -> bool:
    """Every port is declared HTTPS/TLS/TCP (or another non-HTTP protocol); unset means sniffing."""
    protocols = port_protocols(se)
    return bool(protocols) and all(p in istio.OPAQUE_PROTOCOLS for p in protocols)


def _other_users(graph: MeshGraph) -> set[Resource]:
    """Waypoints a Kubernetes Service, or a namespace with workloads, is bound to (one pass
    over Services and Namespaces, instead of one per waypoint asked about)."""
    used: set[Resource] = set()
    for svc in graph.of_kind("Service"):
        gw = graph.waypoint_of(svc)
        if gw is not None:
            used.add(gw)
    for ns in graph.of_kind("Namespace"):
        gw = graph.waypoint_of(ns)
        if gw is not None and graph.workloads(ns.name):
            used.add(gw)
    return used


def opaque_waypoint(graph: MeshGraph, gw: Resource) -> list[Resource]:
    """The ServiceEntries bound to an Envoy waypoint when all of them are opaque and nothing
    else (a Kubernetes Service, a namespace with workloads) is known to use it; else [].
    Answered once per waypoint (asked per policy)."""
    return graph.memo(("reach.opaque_waypoint", gw), lambda: _opaque_waypoint(graph, gw))


def _opaque_waypoint(graph: MeshGraph, gw: Resource) -> list[Resource]:
    if graph.gateway_class(gw) in NON_ENVOY_CLASSES:
        return []
    bound = graph.bound_to(gw)
    if not bound or not all(is_opaque(se) for se in bound):
        return []
    if gw in graph.memo("reach.other_users", lambda: _other_users(graph)):
        return []
    return bound


def egress_gateway(graph: MeshGraph, target: Resource) -> Resource | None:
    """The waypoint behind a policy target: the Gateway itself, or the one an SE is bound to."""
    if target.kind == "Gateway":
        return target if graph.is_waypoint(target) else None
    if target.kind == "ServiceEntry":
        return graph.waypoint_of(target)
    return None


def is_envoy_waypoint(graph: MeshGraph, gw: Resource) -> bool:
    cls = graph.gateway_class(gw)
    return cls not in NON_ENVOY_CLASSES and (cls == ISTIO_WAYPOINT or graph.is_waypoint(gw))


def string_match(pattern: str, value: str) -> bool:
    """Istio's StringMatch for policy values: exact, ``*``, ``prefix*`` or ``*suffix``."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return pattern == value


def pattern_covers(broad: str, narrow: str) -> bool:
    """Whether every value ``narrow`` can match is also matched by ``broad``."""
    if broad == "*" or broad == narrow:
        return True
    if "*" not in narrow:
        return string_match(broad, narrow)
    if broad.endswith("*") and narrow.endswith("*") and not narrow.startswith("*"):
        return narrow[:-1].startswith(broad[:-1])
    if broad.startswith("*") and narrow.startswith("*") and not narrow.endswith("*"):
        return narrow[1:].endswith(broad[1:])
    return False


def all_excluded(values: Iterable[object], excluded: Iterable[object]) -> bool:
    """Every pattern of ``values`` is fully covered by some pattern of ``excluded``."""
    vals = [v for v in values if isinstance(v, str)]
    exc = [e for e in excluded if isinstance(e, str)]
    return bool(vals) and bool(exc) and all(any(pattern_covers(e, v) for e in exc) for v in vals)


def no_vip(se: Resource) -> tuple[str, Path] | None:
    """Why istiod allocates no VIP for a ServiceEntry (NONE, wildcard host, opt-out label),
    with the field that says so; None when it does (``addresses`` are not looked at)."""
    res = istio.resolution(se)
    if res == "NONE":
        if "resolution" in se.spec:
            return "has resolution NONE, which gets no auto-allocated address", (
                "spec",
                "resolution",
            )
        return "has no resolution (NONE by default), which gets no auto-allocated address", (
            "spec",
        )
    if res != "DYNAMIC_DNS":
        for i, host in enumerate(as_list(se.spec.get("hosts"))):
            if isinstance(host, str) and host.startswith("*"):
                return (
                    f"has the wildcard host '{host}' with resolution {res}, which gets no address",
                    ("spec", "hosts", i),
                )
    if se.labels.get(AUTOALLOCATE) == "false":
        return "opts out of address auto-allocation", ("metadata", "labels", AUTOALLOCATE)
    return None


def bound_without_vip(graph: MeshGraph, se: Resource) -> tuple[Binding, str, Path] | None:
    """A ServiceEntry bound to a waypoint (outside sidecar namespaces) that has no VIP for
    ztunnel to capture: its binding, why, and the field (EGL110's condition)."""
    binding = graph.binding(se)
    if binding is None or binding.opted_out or graph.is_sidecar_namespace(se.namespace):
        return None
    if as_list(se.spec.get("addresses")):
        return None
    found = no_vip(se)
    return None if found is None else (binding, *found)


def fields_by_rule(fields: Iterable[tuple[Path, str]]) -> list[tuple[int, Path, list[str]]]:
    """Group policy fields (paths under ``spec.rules[i]``) by rule: (i, first path, names)."""
    groups: dict[int, tuple[Path, list[str]]] = {}
    for path, name in fields:
        index = path[2] if len(path) > 2 and isinstance(path[2], int) else -1
        first, names = groups.setdefault(index, (path, []))
        if name not in names:
            names.append(name)
    return [(i, first, names) for i, (first, names) in groups.items()]


def quoted(names: Iterable[str]) -> str:
    return listed(f"'{n}'" for n in names)


# ---- host names as Istio's validation reads them ------------------------------------------
_DNS_LABEL = re.compile(r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_WILDCARD_LABEL = re.compile(r"\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_GO_INT = re.compile(r"[+-]?[0-9]+")


def host_name_problem(host: str) -> str | None:
    """Why Istio's ``agent.ValidateWildcardDomain`` rejects a ServiceEntry host, or None: at
    most 255 characters and not empty, a first label that is a DNS-1123 label or a wildcard
    prefix (``*``, ``*foo``, ``*-foo``), DNS-1123 labels after it (the last may be empty, as in
    ``istio.io.``), and a top-level label that is not all digits (so an IP address is no host).
    pkg/config/validation/agent/validation.go and pkg/config/labels/instance.go, 1.24.0-1.30.3.
    """
    if not host:
        return "an empty host name"
    if len(host) > 255:
        return "longer than 255 characters"
    first, _, rest = host.partition(".")
    if len(first) > 63 or not _WILDCARD_LABEL.fullmatch(first):
        return f"label '{first}' is not a DNS-1123 label"
    if not rest:
        return None
    labels = rest.split(".")
    if _GO_INT.fullmatch(labels[-1]):
        return f"top-level label '{labels[-1]}' is all digits"
    for i, label in enumerate(labels):
        if i == len(labels) - 1 and label == "":
            return None
        if len(label) > 63 or not _DNS_LABEL.fullmatch(label):
            return f"label '{label}' is not a DNS-1123 label"
    return None


def is_dns_label(name: str) -> bool:
    """Istio's ``labels.IsDNS1123Label`` (letters of either case, digits, inner dashes)."""
    return len(name) <= 63 and bool(_DNS_LABEL.fullmatch(name))


def backend_tls_policy(graph: MeshGraph, se: Resource) -> bool:
    """A BackendTLSPolicy in the ServiceEntry's namespace targets it by name (the waypoint then
    originates TLS from the policy, whatever a DestinationRule says)."""
    return any(
        isinstance(ref, Mapping)
        and ref.get("kind") == "ServiceEntry"
        and ref.get("name") == se.name
        for pol in graph.in_namespace("BackendTLSPolicy", se.namespace)
        for ref in as_list(pol.spec.get("targetRefs"))
    )
