"""What a set of NetworkPolicies lets selected pods send to addresses outside the cluster, and
to pods inside it.

Kubernetes semantics: a pod is isolated for egress once any policy that selects it lists
``Egress`` in ``policyTypes`` (or, with ``policyTypes`` absent, has a non-empty ``egress``
list); then a connection is allowed only if some egress rule of those policies allows it. A
rule with no ``to`` allows every destination; with no ``ports``, every port. With
``policyTypes`` absent, every policy isolates its pods for ingress too (kubernetes/kubernetes
``pkg/apis/networking/v1/defaults.go`` SetDefaults_NetworkPolicy).

External destinations are judged conservatively: an ``ipBlock`` allows "the internet" only if
its CIDR is public-wide (``0.0.0.0/0``, ``::/0`` or another block that covers public space)
and its ``except`` list removes nothing but private ranges. When an address is known (the
ServiceEntry lists IPs) the exact address is tested.

In-cluster destinations are judged three-valued (``Verdict``): True when a rule certainly
admits the pod, False when none can, None when it cannot be told from the repository (an
``ipBlock``, whose cover of pod addresses depends on the cluster's pod CIDR; a selector on a
label whose value is not known; a named port). Rules report only on False.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import Resource, as_list, as_map
from .selectors import selector_matches
from .tristate import all_of, any_of

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# a few well-known public addresses that stand for "the internet" when no address is known
_SAMPLE_PUBLIC = tuple(ipaddress.ip_address(a) for a in ("8.8.8.8", "140.205.135.3", "52.1.2.3"))


def isolates_egress(policy: Resource) -> bool:
    """``Egress`` in ``policyTypes``; with ``policyTypes`` absent (or empty), a non-empty
    ``egress`` list (``len(spec.Egress) != 0`` in the API server's defaulting)."""
    types = as_list(policy.spec.get("policyTypes"))
    if types:
        return "Egress" in types
    return bool(as_list(policy.spec.get("egress")))


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


def implied_ingress(policy: Resource) -> bool:
    """Ingress isolation the author most likely did not write: no ``policyTypes``, a non-empty
    ``egress`` list and no ``ingress`` field. Kubernetes then sets ``policyTypes`` to
    ``[Ingress, Egress]``, and with no ingress rules the selected pods accept nothing. (A policy
    with neither list, or with an explicit ``ingress: []``, is an ordinary default-deny ingress.)"""
    return (
        not as_list(policy.spec.get("policyTypes"))
        and bool(as_list(policy.spec.get("egress")))
        and "ingress" not in policy.spec
    )


# ---- three-valued reach of a pod: True (allowed), False (certainly not), None (cannot tell) --
Verdict = bool | None


@dataclass(frozen=True)
class Labels:
    """Labels of a pod or namespace as far as they are known: ``known`` names the keys whose
    presence and value are certain (None: every key is, the labels are complete)."""

    values: Mapping[str, str]
    known: frozenset[str] | None = None


def _selector_keys(selector: Mapping[str, Any]) -> list[str]:
    keys = [str(k) for k in as_map(selector.get("matchLabels"))]
    keys += [
        str(e.get("key"))
        for e in as_list(selector.get("matchExpressions"))
        if isinstance(e, Mapping)
    ]
    return keys


def selector_verdict(selector: Any, labels: Labels) -> Verdict:
    """Whether a LabelSelector selects ``labels``: None when it reads a key whose value is not
    known and the known keys alone do not already rule it out."""
    sel = as_map(selector)
    if labels.known is None or all(k in labels.known for k in _selector_keys(sel)):
        return selector_matches(sel, labels.values)
    known = labels.known
    partial = {
        "matchLabels": {k: v for k, v in as_map(sel.get("matchLabels")).items() if str(k) in known},
        "matchExpressions": [
            e
            for e in as_list(sel.get("matchExpressions"))
            if isinstance(e, Mapping) and str(e.get("key")) in known
        ],
    }
    return None if selector_matches(partial, labels.values) else False


@dataclass(frozen=True)
class PodTarget:
    """A destination pod of an egress rule: its namespace, that namespace's labels, its labels."""

    namespace: str
    namespace_labels: Labels
    pod_labels: Labels


def _peer_selects(peer: Mapping[str, Any], policy_ns: str, target: PodTarget) -> Verdict:
    """Whether an egress ``to`` peer selects the target pod. An ``ipBlock`` cannot be judged:
    whether it covers pod addresses depends on the cluster's pod CIDR (and on the CNI)."""
    if "ipBlock" in peer:
        return None
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_sel is None and pod_sel is None:
        return None  # not a peer the API server accepts: do not judge it
    in_ns: Verdict = (
        selector_verdict(ns_sel, target.namespace_labels)
        if ns_sel is not None
        else policy_ns == target.namespace
    )
    on_pod: Verdict = selector_verdict(pod_sel, target.pod_labels) if pod_sel is not None else True
    return all_of((in_ns, on_pod))


def _port_verdict(ports: list[Any], port: int) -> Verdict:
    """TCP ``port`` in a rule's ``ports``; a named port is unknown (it names the destination
    pod's container port)."""
    if _port_allowed(ports, port, "TCP"):
        return True
    named = any(
        isinstance(as_map(p).get("port"), str) and str(as_map(p).get("protocol", "TCP")) == "TCP"
        for p in ports
    )
    return None if named else False


def rule_selects_pod(rule: Mapping[str, Any], policy_ns: str, target: PodTarget) -> Verdict:
    """Whether an egress rule's ``to`` covers the target pod (on whatever ports)."""
    peers = rule.get("to")
    if peers is None or as_list(peers) == []:
        return True
    return any_of(_peer_selects(as_map(p), policy_ns, target) for p in as_list(peers))


def egress_to_pod(policies: Iterable[Resource], target: PodTarget, port: int) -> Verdict:
    """Whether pods selected by ``policies`` may open TCP ``port`` to the target pod: True when
    no policy isolates them for egress or a rule certainly admits it, False when no rule can."""
    isolating = [p for p in policies if isolates_egress(p)]
    if not isolating:
        return True
    return any_of(
        all_of(
            (
                _port_verdict(as_list(rule.get("ports")), port),
                rule_selects_pod(rule, p.namespace, target),
            )
        )
        for p in isolating
        for _, rule in _rules(p, "egress")
    )


def _rules(policy: Resource, key: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for i, rule in enumerate(as_list(policy.spec.get(key))):
        if isinstance(rule, Mapping):
            yield i, rule


def ingress_admits_source(
    policies: Iterable[Resource], addresses: Iterable[ipaddress.IPv4Address | ipaddress.IPv6Address]
) -> bool:
    """Whether some ingress rule of the ingress-isolating ``policies`` admits connections from
    one of ``addresses`` (an address outside every pod and namespace: only a rule without
    ``from`` or an ``ipBlock`` covering it admits it). True when nothing isolates for ingress.
    Ports are not judged: a rule admitting the source on some port counts."""
    isolating = [p for p in policies if isolates_ingress(p)]
    if not isolating:
        return True
    wanted = list(addresses)
    for p in isolating:
        for _, rule in _rules(p, "ingress"):
            peers = rule.get("from")
            if peers is None or as_list(peers) == []:
                return True
            for peer in as_list(peers):
                block = as_map(peer).get("ipBlock")
                if isinstance(block, Mapping) and any(ipblock_allows(block, a) for a in wanted):
                    return True
    return False
