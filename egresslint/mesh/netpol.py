"""What a set of NetworkPolicies lets selected pods send to addresses outside the cluster.

Kubernetes semantics: a pod is isolated for egress once any policy that selects it lists
``Egress`` in ``policyTypes`` (or, with ``policyTypes`` absent, has an ``egress`` field);
then a connection is allowed only if some egress rule of those policies allows it. A rule
with no ``to`` allows every destination; with no ``ports``, every port.

External destinations are judged conservatively: an ``ipBlock`` allows "the internet" only if
its CIDR is public-wide (``0.0.0.0/0``, ``::/0`` or another block that covers public space)
and its ``except`` list removes nothing but private ranges. When an address is known (the
ServiceEntry lists IPs) the exact address is tested.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import Resource, as_list, as_map

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# a few well-known public addresses that stand for "the internet" when no address is known
_SAMPLE_PUBLIC = tuple(ipaddress.ip_address(a) for a in ("8.8.8.8", "140.205.135.3", "52.1.2.3"))


def isolates_egress(policy: Resource) -> bool:
    types = as_list(policy.spec.get("policyTypes"))
    if types:
        return "Egress" in types
    return "egress" in policy.spec


def _network(text: Any) -> Network | None:
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        return None


def ipblock_allows(
    block: Mapping[str, Any], address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
) -> bool:
    """Whether an ipBlock allows ``address`` (or, when None, public internet addresses)."""
    net = _network(block.get("cidr"))
    if net is None:
        return False
    excepts = [n for n in (_network(e) for e in as_list(block.get("except"))) if n is not None]
    samples = (address,) if address is not None else _SAMPLE_PUBLIC
    return any(
        a.version == net.version
        and a in net
        and not any(a.version == e.version and a in e for e in excepts)
        for a in samples
    )


def opens_internet(block: Mapping[str, Any]) -> bool:
    """An ipBlock that admits public addresses in general (not one vendor's range)."""
    net = _network(block.get("cidr"))
    return net is not None and net.prefixlen <= 1 and ipblock_allows(block, None)


def _port_allowed(ports: list[Any], port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        entry = as_map(entry)
        if str(entry.get("protocol", "TCP")) != protocol:
            continue
        number = entry.get("port")
        if number is None:
            return True
        if isinstance(number, int) and not isinstance(number, bool):
            end = entry.get("endPort")
            top = end if isinstance(end, int) and not isinstance(end, bool) else number
            if number <= port <= top:
                return True
    return False


def _peer_allows(peer: Mapping[str, Any], address: Any) -> bool:
    block = peer.get("ipBlock")
    if isinstance(block, Mapping):
        return ipblock_allows(block, address)
    return False  # pod/namespace selectors never match addresses outside the cluster


@dataclass(frozen=True)
class EgressVerdict:
    allowed: bool
    isolating: tuple[Resource, ...]  # the policies that isolate the pods for egress


def external_egress(
    policies: Iterable[Resource], port: int, protocol: str = "TCP", address: Any = None
) -> EgressVerdict:
    """Whether pods selected by ``policies`` may open ``protocol``/``port`` to an external address."""
    isolating = tuple(p for p in policies if isolates_egress(p))
    if not isolating:
        return EgressVerdict(True, ())
    for policy in isolating:
        for rule in as_list(policy.spec.get("egress")):
            rule = as_map(rule)
            if not _port_allowed(as_list(rule.get("ports")), port, protocol):
                continue
            peers = rule.get("to")
            if (
                peers is None
                or as_list(peers) == []
                or any(_peer_allows(as_map(p), address) for p in as_list(peers))
            ):
                return EgressVerdict(True, isolating)
    return EgressVerdict(False, isolating)


def dns_allowed(policies: Iterable[Resource]) -> bool:
    """Whether some egress rule admits port 53 at all (to any peer)."""
    isolating = [p for p in policies if isolates_egress(p)]
    if not isolating:
        return True
    return any(
        _port_allowed(as_list(as_map(rule).get("ports")), 53, proto)
        for p in isolating
        for rule in as_list(p.spec.get("egress"))
        for proto in ("UDP", "TCP")
    )


def isolates_ingress(policy: Resource) -> bool:
    """Kubernetes: with ``policyTypes`` absent, every policy isolates its pods for ingress."""
    types = as_list(policy.spec.get("policyTypes"))
    return "Ingress" in types if types else True


def _ingress_port_allowed(ports: list[Any], port: int) -> bool:
    """Like ``_port_allowed`` for TCP, but a named port counts as allowed (we cannot resolve it)."""
    if not ports:
        return True
    for entry in ports:
        entry = as_map(entry)
        if str(entry.get("protocol", "TCP")) != "TCP":
            continue
        if isinstance(entry.get("port"), str):
            return True
        if _port_allowed([entry], port, "TCP"):
            return True
    return False


def ingress_allows_port(policies: Iterable[Resource], port: int) -> bool:
    """Whether pods selected by ``policies`` accept TCP ``port`` from some peer.

    True when no policy isolates them for ingress, or when some ingress rule of an isolating
    policy admits the port (from any peer: which clients it admits is not judged here).
    """
    isolating = [p for p in policies if isolates_ingress(p)]
    if not isolating:
        return True
    return any(
        isinstance(rule, Mapping) and _ingress_port_allowed(as_list(rule.get("ports")), port)
        for p in isolating
        for rule in as_list(p.spec.get("ingress"))
    )
