"""Istio API facts shared by rules: protocols, TLS settings per port, HTTP-only policy fields."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..model import Path, Resource, as_list, as_map, enumerate_maps
from .graph import ISTIO_WAYPOINT, ROOT_NAMESPACE, MeshGraph
from .selectors import selector_matches

HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB"})
OPAQUE_PROTOCOLS = frozenset({"HTTPS", "TLS", "TCP", "MONGO", "REDIS", "MYSQL"})
ORIGINATING_TLS = frozenset({"SIMPLE", "MUTUAL"})
PLAINTEXT_PORTS = frozenset({80, 8080})
TLS_PORTS = frozenset({443, 8443})

Version = tuple[int, int, int]

# AuthorizationPolicy attributes on an Envoy proxy (sidecar or waypoint), after istio/istio
# pilot/pkg/security/authz/model/model.go (New: which `when` key and `source` field feeds which
# generator) and generator.go (the generators that fail with "... is HTTP only" on a TCP filter
# chain), checked at every release tag 1.24.0 to 1.30.3.
#
# HTTP-only: these fail on TCP in every release.
HTTP_OPERATION_FIELDS = ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")
HTTP_SOURCE_FIELDS = ("requestPrincipals", "notRequestPrincipals")
HTTP_WHEN_KEYS = frozenset(
    {"request.auth.principal", "request.auth.audiences", "request.auth.presenter"}
)
HTTP_WHEN_PREFIXES = ("request.headers", "request.auth.claims")

# TCP-capable, with the first release whose model.go knows them: before it, istiod rejects the
# rule as an "unknown attribute" (or the API has no such field), on HTTP and TCP alike.
_BASE: Version = (0, 0, 0)  # in every release checked (older ones are taken as 1.24)
_L4_WHEN_SINCE: Mapping[str, Version] = {
    "source.ip": _BASE,
    "remote.ip": _BASE,
    "source.namespace": _BASE,
    "source.principal": _BASE,
    "destination.ip": _BASE,
    "destination.port": _BASE,
    "connection.sni": _BASE,
    "source.serviceAccount": (1, 25, 0),
    "source.trustDomain": (1, 30, 2),
}
L4_WHEN_PREFIXES = ("experimental.envoy.filters.",)  # Envoy metadata: a permission, TCP too
_L4_SOURCE_SINCE: Mapping[str, Version] = {
    "principals": _BASE,
    "notPrincipals": _BASE,
    "namespaces": _BASE,
    "notNamespaces": _BASE,
    "ipBlocks": _BASE,
    "notIpBlocks": _BASE,
    "remoteIpBlocks": _BASE,
    "notRemoteIpBlocks": _BASE,
    "serviceAccounts": (1, 25, 0),
    "notServiceAccounts": (1, 25, 0),
    "trustDomains": (1, 30, 2),
    "notTrustDomains": (1, 30, 2),
}
L4_OPERATION_FIELDS = ("ports", "notPorts")
# The `when` keys an Envoy proxy evaluates on TCP traffic in the newest release checked.
L4_WHEN_KEYS = frozenset(_L4_WHEN_SINCE)


def l4_when_keys(version: Version) -> frozenset[str]:
    """Exact `when` keys an Envoy proxy of ``version`` evaluates on TCP (plus L4_WHEN_PREFIXES)."""
    return frozenset(k for k, since in _L4_WHEN_SINCE.items() if version >= since)


def l4_source_fields(version: Version) -> tuple[str, ...]:
    """``from.source`` fields an Envoy proxy of ``version`` evaluates on TCP."""
    return tuple(k for k, since in _L4_SOURCE_SINCE.items() if version >= since)


def is_http_when_key(key: str) -> bool:
    """A `when` key only an HTTP filter chain can evaluate (every release)."""
    return key in HTTP_WHEN_KEYS or key.startswith(HTTP_WHEN_PREFIXES)


def is_l4_when_key(key: str, version: Version) -> bool:
    return key in l4_when_keys(version) or key.startswith(L4_WHEN_PREFIXES)


def when_key_known(key: str, version: Version) -> bool:
    """Whether istiod of ``version`` knows the key at all (else it skips the whole rule)."""
    return is_http_when_key(key) or is_l4_when_key(key, version)


def protocol(port: Mapping[str, Any]) -> str:
    value = port.get("protocol")
    return value.upper() if isinstance(value, str) else ""


def is_http(port: Mapping[str, Any]) -> bool:
    return protocol(port) in HTTP_PROTOCOLS


def port_number(port: Mapping[str, Any]) -> int | None:
    n = port.get("number")
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def target_port(port: Mapping[str, Any]) -> int | None:
    """Where traffic for this ServiceEntry port really goes: ``targetPort``, else ``number``."""
    t = port.get("targetPort")
    if isinstance(t, int) and not isinstance(t, bool):
        return t
    return port_number(port)


def tls_for_port(dr: Resource, number: int | None) -> tuple[Mapping[str, Any], Path] | None:
    """The ``tls`` block a DestinationRule applies to a service port, with its path.

    The first ``portLevelSettings`` entry for the port replaces the top-level
    ``trafficPolicy.tls``, also when it sets no ``tls`` of its own: port-level settings do not
    inherit (``GetPortLevelTrafficPolicy``, istio/istio pilot/pkg/networking/util/util.go,
    1.24-1.30).
    """
    policy = as_map(dr.spec.get("trafficPolicy"))
    for i, setting in enumerate_maps(policy.get("portLevelSettings")):
        if number is not None and as_map(setting.get("port")).get("number") == number:
            tls = setting.get("tls")
            if isinstance(tls, Mapping):
                return tls, ("spec", "trafficPolicy", "portLevelSettings", i, "tls")
            return None
    tls = policy.get("tls")
    if isinstance(tls, Mapping):
        return tls, ("spec", "trafficPolicy", "tls")
    return None


def tls_mode(tls: Mapping[str, Any]) -> str:
    mode = tls.get("mode")
    return mode.upper() if isinstance(mode, str) else ""


def originates_tls(dr: Resource, number: int | None) -> tuple[Mapping[str, Any], Path] | None:
    found = tls_for_port(dr, number)
    if found is not None and tls_mode(found[0]) in ORIGINATING_TLS:
        return found
    return None


def policy_fields(
    policy: Resource,
    operation_fields: tuple[str, ...],
    source_fields: tuple[str, ...],
    when_keys: frozenset[str],
) -> Iterator[tuple[Path, str]]:
    """Attributes of an AuthorizationPolicy outside what a proxy can evaluate: (path, name).

    ``operation_fields``/``source_fields`` are the fields the proxy cannot see in ``to.operation``
    and ``from.source``; ``when_keys`` are the ``when`` keys it can evaluate.
    """
    return _fields(policy, operation_fields, source_fields, lambda key: key not in when_keys)


def _fields(
    policy: Resource,
    operation_fields: tuple[str, ...],
    source_fields: tuple[str, ...],
    unsupported_key: Callable[[str], bool],
) -> Iterator[tuple[Path, str]]:
    for r, rule in enumerate_maps(policy.spec.get("rules")):
        base: Path = ("spec", "rules", r)
        for t, to in enumerate_maps(rule.get("to")):
            op = as_map(to.get("operation"))
            yield from (((*base, "to", t, "operation", n), n) for n in operation_fields if n in op)
        for f, frm in enumerate_maps(rule.get("from")):
            src = as_map(frm.get("source"))
            yield from (((*base, "from", f, "source", n), n) for n in source_fields if n in src)
        for w, cond in enumerate_maps(rule.get("when")):
            key = cond.get("key")
            if isinstance(key, str) and unsupported_key(key):
                yield (*base, "when", w, "key"), key


def http_fields(policy: Resource) -> Iterator[tuple[Path, str]]:
    """Every HTTP-only attribute an AuthorizationPolicy uses: what an Envoy proxy (sidecar or
    waypoint) cannot evaluate on a TCP filter chain, in every release (see the tables above)."""
    return _fields(policy, HTTP_OPERATION_FIELDS, HTTP_SOURCE_FIELDS, is_http_when_key)


def rule_narrowed_on_tcp(rule: Mapping[str, Any], version: Version) -> bool:
    """Whether a policy rule still restricts anything once its HTTP-only conditions are gone
    (what a DENY rule becomes on TCP: checkError in model.go ignores the failing conditions).

    ``to`` and ``from`` entries are ORed: one entry left without a TCP-capable field matches
    every connection; ``when`` conditions are ANDed onto all of them.
    """
    for _, cond in enumerate_maps(rule.get("when")):
        key = cond.get("key")
        if isinstance(key, str) and is_l4_when_key(key, version):
            return True
    sources = [as_map(f.get("source")) for _, f in enumerate_maps(rule.get("from"))]
    l4_source = l4_source_fields(version)
    if sources and all(any(n in src for n in l4_source) for src in sources):
        return True
    ops = [as_map(t.get("operation")) for _, t in enumerate_maps(rule.get("to"))]
    return bool(ops) and all(any(n in op for n in L4_OPERATION_FIELDS) for op in ops)


def dry_run(policy: Resource) -> bool:
    """``istio.io/dry-run: "true"``: the policy is only evaluated in shadow mode, never enforced
    (strconv.ParseBool of the annotation in pilot/pkg/security/authz/builder)."""
    return policy.annotations.get("istio.io/dry-run", "") in _GO_TRUE


_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})

GATEWAY_API_GROUP = "gateway.networking.k8s.io"
CLASS_POLICY_SINCE: Version = (1, 25, 0)


def target_refs(policy: Resource) -> list[Mapping[str, Any]]:
    """The references istiod reads (GetTargetRefs): ``targetRefs``, else the legacy ``targetRef``."""
    refs = [ref for _, ref in enumerate_maps(policy.spec.get("targetRefs"))]
    single = policy.spec.get("targetRef")
    if not refs and isinstance(single, Mapping):
        return [single]
    return refs


def names_gateway_class(ref: Mapping[str, Any]) -> bool:
    return ref.get("kind") == "GatewayClass" and ref.get("group") == GATEWAY_API_GROUP


def attaches_to_every_waypoint(policy: Resource, version: Version) -> bool:
    """A policy istiod attaches to every Envoy waypoint through its GatewayClass: it lives in the
    root namespace and a targetRef names GatewayClass ``istio-waypoint`` (the name is compared,
    not the waypoint's own class). pilot/pkg/model/policyattachment.go ShouldAttachPolicy,
    1.25.0-1.30.3; 1.24 has no GatewayClass attachment."""
    if version < CLASS_POLICY_SINCE or policy.namespace != ROOT_NAMESPACE:
        return False
    return any(
        names_gateway_class(ref) and ref.get("name") == ISTIO_WAYPOINT
        for ref in target_refs(policy)
    )


def waypoint_class_policies(graph: MeshGraph, version: Version) -> list[Resource]:
    """AuthorizationPolicies attached to every Envoy waypoint (answered once per run)."""
    return graph.memo(
        ("istio.waypoint_class_policies", version),
        lambda: [
            ap
            for ap in graph.in_namespace("AuthorizationPolicy", ROOT_NAMESPACE)
            if attaches_to_every_waypoint(ap, version)
        ],
    )


def action(policy: Resource) -> str:
    value = policy.spec.get("action", "ALLOW")
    return value.upper() if isinstance(value, str) else "ALLOW"


def se_addresses(se: Resource) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """IP addresses a ServiceEntry names (``addresses`` and endpoint addresses), CIDRs excluded."""
    out = []
    values = as_list(se.spec.get("addresses")) + [
        as_map(e).get("address") for e in as_list(se.spec.get("endpoints"))
    ]
    for value in values:
        try:
            out.append(ipaddress.ip_address(str(value)))
        except ValueError:
            continue
    return out


def resolution(se: Resource) -> str:
    value = se.spec.get("resolution", "NONE")
    return value.upper() if isinstance(value, str) else "NONE"


def ztunnel_scope(graph: MeshGraph, policy: Resource) -> str | None:
    """Where ztunnel enforces an AuthorizationPolicy, as a phrase, or None when the view does not
    show it reaching ambient workloads.

    istiod sends every policy without targetRefs to ztunnel (convertAuthorizationPolicy in
    pilot/pkg/serviceregistry/kube/controller/ambient/authorization.go, 1.24.0-1.29.x, and
    pilot/pkg/serviceregistry/ambient/authorization.go, 1.30.0-1.30.3): one without a selector
    is scoped to its namespace, or is GLOBAL (every workload of the mesh) in the root namespace;
    a selector policy applies to the workloads it selects in its namespace, or in every
    namespace when it lives in the root namespace (buildWorkloadPolicies in workloads.go).
    """
    if target_refs(policy) or isinstance(policy.spec.get("targetRef"), Mapping):
        return None
    if policy.namespace == ROOT_NAMESPACE:
        return _root_scope(graph, policy)
    if not graph.is_ambient_namespace(policy.namespace):
        return None
    return "selected workloads" if "selector" in policy.spec else "whole namespace"


def _root_scope(graph: MeshGraph, policy: Resource) -> str | None:
    ambient = [ns.name for ns in graph.ambient_namespaces()]
    if policy.spec.get("selector") is None:
        if ambient or graph.waypoints():
            return f"whole mesh (no selector in the root namespace {ROOT_NAMESPACE}: global)"
        return None
    selector = policy.spec.get("selector")
    if any(selector_matches(selector, w.labels) for ns in ambient for w in graph.workloads(ns)):
        return f"workloads it selects in every namespace (root namespace {ROOT_NAMESPACE})"
    return None
