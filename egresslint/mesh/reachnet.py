"""The network step of a reachability path: what Kubernetes NetworkPolicy lets through.

* A direct path leaves from the client pod: its egress policies decide (``netpol.external_egress``,
  as EGL106, EGL107 and EGL115 read them; the destination's listed addresses are tested where
  the ServiceEntry has some). Pods on the host network are not governed by NetworkPolicy
  (Kubernetes leaves its behaviour for them undefined): nothing is assumed to block them.
* Through a waypoint with proxy pods, three checks (``hbone``): the client's egress to the
  waypoint's pods on TCP 15008 (EGL213), the waypoint pods' ingress on 15008 (EGL302), and
  the waypoint pods' egress to the external host's port and, for DNS resolution, to DNS
  (EGL301).
* The vendor's ztunnel egress gateway has no proxy pods: registered traffic leaves from
  ztunnel's own network namespace, where the application pods' policies do not apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..model import Resource
from . import bypass, hbone, istio, netpol
from .graph import MeshGraph
from .reachclients import ANY_NAMESPACE, ClientInfo
from .reachsteps import Entry, Hop, port_of
from .reachtypes import Source, SourceKind, Step, source


def _policy_sources(
    policies: Iterable[Resource], role: str, kind: SourceKind = ""
) -> tuple[Source, ...]:
    return tuple(
        source(p, ("spec", "egress") if "egress" in p.spec else ("spec", "policyTypes"), role, kind)
        for p in dict.fromkeys(policies)
    )


def _or_any(addresses: Sequence[Any]) -> list[Any]:
    """The addresses to test, or None: any public address (``netpol.external_egress``)."""
    return list(addresses) or [None]


def _ports(entry: Entry | None) -> list[int]:
    if entry is None:
        return list(bypass.EXTERNAL_PORTS)
    port = port_of(*entry)
    target = istio.target_port(port)
    return [target] if target is not None else list(bypass.EXTERNAL_PORTS)


def _openers(policies: list[Resource]) -> tuple[Source, ...]:
    return tuple(
        source(p, path, "opens the internet to the pods")
        for p in policies
        if bypass.opens_internet(p)
        for path in bypass.internet_rules(p)
    )


def direct(graph: MeshGraph, info: ClientInfo, entry: Entry | None) -> Step:
    """Whether some pod of the client may open the destination's port to the outside."""
    if any(w.host_network for w in info.pods):
        return Step(
            "network",
            "host-network pods are not governed by NetworkPolicy: nothing blocks the direct path",
        )
    if info.client.namespace == ANY_NAMESPACE:
        return Step("network", "not judged: the pods' NetworkPolicies are not in the view")
    addresses = istio.se_addresses(entry[0]) if entry is not None else []
    ports = _ports(entry)
    isolating: list[Resource] = []
    for labels in info.label_sets:
        policies = graph.network_policies_for(info.client.namespace, labels)
        isolating += [p for p in policies if netpol.isolates_egress(p)]
        for port in ports:
            if any(
                netpol.external_egress(policies, port, "TCP", a).allowed for a in _or_any(addresses)
            ):
                return _open(info, policies, port)
    shown = "/".join(map(str, ports))
    text = f"NetworkPolicy blocks the direct path: the pods may not open TCP {shown} to the outside"
    return Step("network", text, "deny", _policy_sources(isolating, "blocks direct egress"))


def _open(info: ClientInfo, policies: list[Resource], port: int) -> Step:
    openers = _openers(policies)
    if openers:
        return Step(
            "network",
            f"a NetworkPolicy lets the pods open TCP {port} to the internet",
            "pass",
            openers,
        )
    isolating = [p for p in policies if netpol.isolates_egress(p)]
    if isolating:
        text = f"the pods' egress NetworkPolicies admit TCP {port} to external addresses"
        return Step("network", text, "pass", _policy_sources(isolating, "admits the port"))
    cited = tuple(
        source(s.resource, s.path, "no egress NetworkPolicy selects these pods")
        for s in info.capture_sources
        if s.resource is not None
    )
    return Step(
        "network",
        f"no NetworkPolicy isolates the pods for egress: TCP {port} is open",
        "pass",
        cited,
    )


def _client_hbone(graph: MeshGraph, info: ClientInfo, gw: Resource) -> list[Resource]:
    """The isolating policies of client pods that may not open TCP 15008 to the waypoint."""
    blocked: list[Resource] = []
    for labels in info.label_sets:
        policies = graph.network_policies_for(info.client.namespace, labels)
        isolating = [p for p in policies if netpol.isolates_egress(p)]
        if isolating and hbone.client_reaches(graph, isolating, gw) is False:
            blocked += isolating
    return list(dict.fromkeys(blocked))


def _waypoint_egress(graph: MeshGraph, gw: Resource, entry: Entry) -> tuple[list[Resource], str]:
    """EGL301: the waypoint pods' isolating policies, when they block the port (or DNS)."""
    isolating = [
        p
        for p in graph.in_namespace("NetworkPolicy", gw.namespace)
        if graph.waypoint_pods_selected(p, gw) and netpol.isolates_egress(p)
    ]
    if not isolating:
        return [], ""
    se = entry[0]
    target = istio.target_port(port_of(*entry))
    addresses = _or_any(istio.se_addresses(se))
    what = []
    if target is not None and not any(
        netpol.external_egress(isolating, target, "TCP", a).allowed for a in addresses
    ):
        what.append(f"TCP {target}")
    needs_dns = istio.resolution(se) in ("DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS")
    if needs_dns and not netpol.dns_allowed(isolating):
        what.append("DNS (port 53)")
    return (isolating, " and ".join(what)) if what else ([], "")


def through_waypoint(graph: MeshGraph, info: ClientInfo, hop: Hop, entry: Entry) -> Step:
    gw = hop.gateway
    assert gw is not None
    if not hbone.has_waypoint_pods(gw, graph):
        return Step(
            "network",
            "the traffic leaves from ztunnel's own network namespace: the pods' NetworkPolicies "
            "do not apply to it",
        )
    breaks: list[str] = []
    sources: list[Source] = []
    blocked = graph.memo(
        ("reach.client_hbone", info.client.label, gw), lambda: _client_hbone(graph, info, gw)
    )
    if blocked:
        breaks.append(f"the client pods' egress NetworkPolicy does not admit TCP 15008 to {gw.ref}")
        sources += _policy_sources(blocked, "blocks HBONE to the waypoint")
    ingress = hbone.ingress_blocked(graph, gw)
    if ingress:
        breaks.append(
            f"{ingress[0].ref} isolates the waypoint's pods for ingress without TCP 15008"
        )
        sources += [source(p, ("spec",), "blocks HBONE into the waypoint") for p in ingress]
    cut, what = graph.memo(
        ("reach.waypoint_egress", gw, entry[0], entry[1]),
        lambda: _waypoint_egress(graph, gw, entry),
    )
    if cut:
        breaks.append(f"{cut[0].ref} does not let the waypoint's pods reach {what}")
        sources += _policy_sources(cut, "cuts the waypoint off", "proxy-egress")
    if breaks:
        return Step("network", "; ".join(breaks), "break", tuple(sources))
    admitting = [
        p
        for labels in info.label_sets
        for p in graph.network_policies_for(info.client.namespace, labels)
        if netpol.isolates_egress(p)
    ]
    cited = _policy_sources(admitting, "admits HBONE to the waypoint")
    cited += (source(gw, ("spec", "listeners"), "takes HBONE on TCP 15008"),)
    return Step(
        "network",
        f"the client may open HBONE (TCP 15008) to {gw.ref}, and the waypoint may reach the host",
        "pass",
        cited,
    )


def network_class(graph: MeshGraph, info: ClientInfo) -> object:
    """What the network step reads of a client: whether some pod is on the host network,
    whether the client is the mesh-wide one, the NetworkPolicies that select each of its pods'
    label sets (in order), and the resources its capture rests on. Clients alike in all of
    these get the same network step."""
    policies = tuple(
        tuple(map(id, graph.network_policies_for(info.client.namespace, labels)))
        for labels in info.label_sets
    )
    return (
        any(w.host_network for w in info.pods),
        info.client.namespace == ANY_NAMESPACE,
        policies,
        tuple((id(s.resource), s.path) for s in info.capture_sources),
    )


def network_key(hop: Hop, entry: Entry | None) -> object:
    """What the network step of a client depends on besides the client and the proxy: the
    ports and addresses of a direct path, the ServiceEntry port through a proxy."""
    if hop.kind != "direct":
        return None if entry is None else (id(entry[0]), entry[1])
    addresses = tuple(istio.se_addresses(entry[0])) if entry is not None else ()
    return (tuple(_ports(entry)), addresses)


def network(graph: MeshGraph, info: ClientInfo, hop: Hop, entry: Entry | None) -> Step:
    if hop.kind == "direct":
        return direct(graph, info, entry)
    if hop.kind == "waypoint" and entry is not None:
        return through_waypoint(graph, info, hop, entry)
    if hop.kind == "outside":
        return Step("network", f"not judged: {hop.ref} is outside the view")
    return Step("network", f"not judged at explicit egress gateway {hop.ref}")
