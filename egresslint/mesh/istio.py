"""Istio API facts shared by rules: protocols, TLS settings per port, HTTP-only policy fields."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from ..model import Path, Resource, as_list, as_map, enumerate_maps

HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB"})
OPAQUE_PROTOCOLS = frozenset({"HTTPS", "TLS", "TCP", "MONGO", "REDIS", "MYSQL"})
ORIGINATING_TLS = frozenset({"SIMPLE", "MUTUAL"})
PLAINTEXT_PORTS = frozenset({80, 8080})
TLS_PORTS = frozenset({443, 8443})

# Fields that only an HTTP-aware proxy can evaluate (authorization.go, authz-tcp task).
HTTP_OPERATION_FIELDS = ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")
HTTP_SOURCE_FIELDS = ("requestPrincipals", "notRequestPrincipals")
L4_WHEN_KEYS = frozenset(
    {
        "source.ip",
        "source.namespace",
        "source.principal",
        "destination.ip",
        "destination.port",
        "connection.sni",
        "remote.ip",
    }
)


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

    A ``portLevelSettings`` entry for the port wins over the top-level ``trafficPolicy.tls``.
    """
    policy = as_map(dr.spec.get("trafficPolicy"))
    for i, setting in enumerate_maps(policy.get("portLevelSettings")):
        if number is not None and as_map(setting.get("port")).get("number") == number:
            tls = setting.get("tls")
            if isinstance(tls, Mapping):
                return tls, ("spec", "trafficPolicy", "portLevelSettings", i, "tls")
            break
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
            if isinstance(key, str) and key not in when_keys:
                yield (*base, "when", w, "key"), key


def http_fields(policy: Resource) -> Iterator[tuple[Path, str]]:
    """Every HTTP-only attribute an AuthorizationPolicy uses, as a waypoint sees them."""
    return policy_fields(policy, HTTP_OPERATION_FIELDS, HTTP_SOURCE_FIELDS, L4_WHEN_KEYS)


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
