"""A NetworkPolicy lets the egress waypoint reach a DNS-resolved external host only through
fixed CIDRs: when the provider's addresses change, the waypoint's connections are dropped.

**Why it matters.** For a ServiceEntry with `resolution: DNS`, `DNS_ROUND_ROBIN` or
`DYNAMIC_DNS` the waypoint resolves the host itself and connects to whatever addresses DNS
returns (`convertResolution` gives the waypoint's cluster a `STRICT_DNS`/`LOGICAL_DNS` type,
DYNAMIC_DNS a dynamic forward proxy: `buildWaypointInboundVIPCluster`,
pilot/pkg/networking/core/cluster_waypoint.go, Istio 1.24.0 to 1.30.3). The ServiceEntry's
`addresses` are only what clients dial. An egress allow-list of `ipBlock` CIDRs on the waypoint
pods is therefore a snapshot of today's DNS answers: SaaS and cloud endpoints move between
address ranges without notice, and the first answer outside the list makes calls through the
waypoint time out, while nothing in the mesh configuration changed.

**When it fires.** For waypoints (not `solo-ztunnel-egress`, which has no pods) whose pods a
NetworkPolicy isolates for egress, and for each ServiceEntry bound to the waypoint whose
upstream addresses come from DNS (DNS resolution without IP-address endpoints), when the
policies allow a target port of the ServiceEntry only through `ipBlock`s narrower than the
internet: a note at each such `cidr`. Not when the ServiceEntry pins its addresses
(`resolution: STATIC`, or `DNS` with IP endpoints), not when some rule admits the port to any
address, and not when EGL301 already reports that the policy blocks the host or DNS.

**How to fix.** Pin the addresses in the ServiceEntry (`resolution: STATIC` with the
provider's published endpoints) if the provider guarantees them; or let the waypoint pods
reach the port on any public address and restrict which hosts they may reach with an
AuthorizationPolicy at the waypoint (and keep the application pods locked down).

Sources: the istio/istio file named above; Kubernetes NetworkPolicy `ipBlock` semantics; the
waypoint egress walkthrough ("Do not restrict the external access of the Waypoint pod
itself").
"""

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, istio, netpol
from egresslint.mesh.graph import ZTUNNEL_EGRESS, MeshGraph
from egresslint.model import Finding, Path, Resource, as_list, as_map, enumerate_maps

RULE = Rule(
    id="EGL118",
    name="waypoint-cidr-allowlist-for-dns-host",
    tag="waypoint-restricted",
    level="note",
    summary="Waypoint egress allowed only to fixed CIDRs for a host resolved by DNS.",
    kinds=("NetworkPolicy", "ServiceEntry", "Gateway"),
    precision="medium",
)

_DNS_RESOLUTIONS = ("DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS")


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _dns_resolved(se: Resource) -> bool:
    """The waypoint connects to addresses DNS returns: DNS resolution without IP endpoints."""
    if istio.resolution(se) not in _DNS_RESOLUTIONS:
        return False
    endpoints = [as_map(e).get("address") for e in as_list(se.spec.get("endpoints"))]
    return not endpoints or not all(_is_ip(a) for a in endpoints)


def _port_ok(ports: list[Any], port: int) -> bool:
    """A rule's ``ports`` admit TCP ``port`` (absent: every port; a named port: unknown, so
    not counted)."""
    if not ports:
        return True
    for entry in ports:
        entry = as_map(entry)
        if str(entry.get("protocol", "TCP")) != "TCP":
            continue
        number, end = entry.get("port"), entry.get("endPort")
        if number is None:
            return True
        if isinstance(number, int) and not isinstance(number, bool):
            top = end if isinstance(end, int) and not isinstance(end, bool) else number
            if number <= port <= top:
                return True
    return False


def _cidr_only(policies: list[Resource], port: int) -> list[tuple[Resource, Path]] | None:
    """The ipBlock CIDRs that admit ``port``, when only such narrow blocks admit it; None when
    some rule admits it to any address (or to the internet at large), [] when nothing does."""
    found: list[tuple[Resource, Path]] = []
    for policy in policies:
        for r, rule in enumerate_maps(policy.spec.get("egress")):
            if not _port_ok(as_list(rule.get("ports")), port):
                continue
            peers = rule.get("to")
            if peers is None or as_list(peers) == []:
                return None
            for p, peer in enumerate_maps(peers):
                block = peer.get("ipBlock")
                if not isinstance(block, Mapping):
                    continue
                if bypass.public_block(block):
                    return None
                if block.get("cidr") is not None:
                    found.append((policy, ("spec", "egress", r, "to", p, "ipBlock", "cidr")))
    return found


def _egl301_reports(se: Resource, isolating: list[Resource]) -> bool:
    """EGL301's condition: a target port blocked for the ServiceEntry's known addresses (or
    for sample public ones), or DNS needed and not allowed."""
    addresses: list[Any] = [*istio.se_addresses(se)] or [None]
    for _, port in MeshGraph.ports(se):
        target = istio.target_port(port)
        if target is None:
            continue
        if not any(netpol.external_egress(isolating, target, "TCP", a).allowed for a in addresses):
            return True
    return not netpol.dns_allowed(isolating)


def _blocks(se: Resource, isolating: list[Resource]) -> dict[tuple[Resource, Path], list[int]]:
    found: dict[tuple[Resource, Path], list[int]] = {}
    for _, port in MeshGraph.ports(se):
        target = istio.target_port(port)
        if target is None:
            continue
        for key in _cidr_only(isolating, target) or []:
            ports = found.setdefault(key, [])
            if target not in ports:
                ports.append(target)
    return found


def _finding(
    graph: MeshGraph, gw: Resource, se: Resource, key: tuple[Resource, Path], ports: list[int]
) -> Finding:
    policy, path = key
    cidr = policy.get(*path)
    hosts = ", ".join(graph.se_hosts(se))
    return RULE.at(
        policy,
        path,
        f"{policy.ref} lets the pods of waypoint {gw.ref} reach port(s) "
        f"{', '.join(map(str, ports))} of {hosts} only inside {cidr}, but {se.ref} resolves "
        "them by DNS: the waypoint connects to whatever addresses DNS returns, and when the "
        "provider's addresses move out of this range, calls through the waypoint fail. Pin the "
        "addresses in the ServiceEntry (resolution STATIC with endpoints), or allow the port "
        "to any address for the waypoint and restrict hosts with an AuthorizationPolicy.",
        [
            related(se, ("spec", "resolution"), "resolved by DNS"),
            related(gw, ("metadata",), "the waypoint"),
        ],
    )


def _waypoint(
    graph: MeshGraph, gw: Resource, seen: set[tuple[Resource, Path]]
) -> Iterator[Finding]:
    isolating = [
        p
        for p in graph.in_namespace("NetworkPolicy", gw.namespace)
        if graph.waypoint_pods_selected(p, gw) and netpol.isolates_egress(p)
    ]
    if not isolating:
        return
    for se in graph.bound_to(gw):
        if not _dns_resolved(se) or _egl301_reports(se, isolating):
            continue
        for key, ports in _blocks(se, isolating).items():
            if key not in seen:
                seen.add(key)
                yield _finding(graph, gw, se, key, ports)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    seen: set[tuple[Resource, Path]] = set()  # one finding per cidr, whatever shares it
    for gw in graph.waypoints():
        if graph.gateway_class(gw) != ZTUNNEL_EGRESS:
            yield from _waypoint(graph, gw, seen)
