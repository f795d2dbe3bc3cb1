"""A waypoint originates TLS on a ServiceEntry port whose protocol is HTTPS or TLS, so the
application's own TLS is wrapped in a second TLS session and every call fails.

**Why it matters.** A port declared `HTTPS` or `TLS` carries traffic the client has already
encrypted: the waypoint forwards it as opaque TCP. Both protocols are TCP protocols to Istio
(`IsTCP`, pkg/config/protocol/instance.go), so the waypoint builds a `tcp` cluster for the port,
and a DestinationRule with `tls.mode: SIMPLE` or `MUTUAL` for it gives that cluster a TLS
transport socket (`buildWaypointInboundVIP` and `buildWaypointTLSContext`,
pilot/pkg/networking/core/cluster_waypoint.go, Istio 1.24.0 to 1.30.3). The waypoint then
starts its own TLS handshake towards the server and sends the client's TLS bytes inside it;
the server sees a TLS record where it expects a ClientHello for its own name and the
connection fails (istio/istio#56430 reports TLS origination "not happening" with
`protocol: HTTPS`).

**When it fires.** For ServiceEntries whose traffic goes through an Envoy waypoint
(`istio.io/use-waypoint` on the entry or its namespace): at every DestinationRule `tls.mode`
that the waypoint applies, SIMPLE or MUTUAL, to a port with protocol `HTTPS` or `TLS` (a
`portLevelSettings` entry for that port number, or the top-level `trafficPolicy.tls` when no
port-level entry for the port exists). Only the DestinationRules the waypoint really uses
count: those of its own namespace, else of the ServiceEntry's namespace, else of
`istio-system`, exported to the waypoint's namespace, without a `workloadSelector`, the most
specific host first (pilot/pkg/model/push_context.go `destinationRule`,
pilot/pkg/model/sidecar.go `DestinationRule`). One finding per DestinationRule field, however
many ServiceEntries or ports it reaches.

Not reported: ServiceEntries bound to no waypoint (with sidecars, a VirtualService that routes
plain HTTP from port 80 to port 443 where the DestinationRule originates TLS is the classic
origination pattern); hosts that egress through `solo-ztunnel-egress` or an agentgateway
waypoint (those proxies ignore DestinationRules; other rules report that); bound
ServiceEntries without a VIP, whose traffic ztunnel never sends to the waypoint (EGL110);
ports of a `DYNAMIC_DNS` ServiceEntry, for which the waypoint builds no cluster for `HTTPS`
(EGL501 reports the port) and for `TLS` only with the off-by-default
`ENABLE_WILDCARD_HOST_SERVICE_ENTRIES_FOR_TLS` (1.29+, pilot/pkg/features/experimental.go).

**How to fix.** Either let the application speak TLS itself and drop the origination for that
port (`portLevelSettings: [{port: {number: 443}, tls: {mode: DISABLE}}]`, or move the top-level
`tls` into a port-level entry for the HTTP port), or use the origination pattern: the app sends
plain HTTP to port 80, the ServiceEntry port is `protocol: HTTP` with `targetPort: 443`, and the
DestinationRule sets `tls.mode: SIMPLE` on port 80.

Sources: the istio/istio files named above; istio.io "Egress gateways" (ambient) TLS
origination; destination_rule.proto (`ClientTLSSettings`); istio/istio#56430.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Path, Resource

RULE = Rule(
    id="EGL202",
    name="double-tls-origination",
    tag="unreachable",
    level="error",
    summary="A waypoint originates TLS on an HTTPS/TLS ServiceEntry port: TLS inside TLS.",
    kinds=("DestinationRule", "ServiceEntry"),
)

_TLS_PROTOCOLS = ("HTTPS", "TLS")


@dataclass
class _Hit:
    se: Resource
    index: int
    port: Mapping[str, Any]
    tls: Mapping[str, Any]
    waypoint_ns: str


def _waypoint_ns(graph: MeshGraph, se: Resource) -> str | None:
    """The namespace of the Envoy waypoint the ServiceEntry's traffic goes through."""
    binding = graph.binding(se)
    if binding is None or binding.opted_out or not reach.envoy_applies(graph, se):
        return None
    return binding.namespace


def _carries_tls(se: Resource, port: Mapping[str, Any]) -> bool:
    if istio.resolution(se) == "DYNAMIC_DNS":
        return False  # no waypoint cluster for HTTPS, for TLS only behind a feature flag
    return istio.protocol(port) in _TLS_PROTOCOLS


def _hits(graph: MeshGraph, se: Resource, ns: str) -> Iterator[tuple[Resource, Path, _Hit]]:
    drs = dict.fromkeys(
        dr for host in graph.se_hosts(se) for dr in graph.waypoint_destination_rules(se, host, ns)
    )
    for i, port in graph.ports(se):
        if not _carries_tls(se, port):
            continue
        for dr in drs:
            found = istio.originates_tls(dr, istio.port_number(port))
            if found is not None:
                yield dr, found[1], _Hit(se, i, port, found[0], ns)


def _finding(dr: Resource, path: Path, hits: list[_Hit]) -> Finding:
    first = hits[0]
    number = istio.port_number(first.port)
    scope = "top-level trafficPolicy.tls" if path[-2] == "trafficPolicy" else "portLevelSettings"
    return RULE.at(
        dr,
        (*path, "mode"),
        f"{dr.ref} originates TLS (mode {istio.tls_mode(first.tls)}, {scope}) on port {number} "
        f"of {dr.spec.get('host')}, but {first.se.ref} declares that port protocol "
        f"{istio.protocol(first.port)}: the client already speaks TLS there, so the waypoint in "
        f"namespace {first.waypoint_ns} wraps TLS in TLS and the handshake fails. Disable "
        "origination for this port, or send plain HTTP to an HTTP port with 'targetPort: 443' "
        "and originate TLS on that port instead.",
        [
            related(
                h.se,
                ("spec", "ports", h.index, "protocol"),
                f"port {istio.port_number(h.port)} already carries TLS",
            )
            for h in hits
        ],
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    causes: dict[tuple[Resource, Path], list[_Hit]] = {}
    for se in graph.of_kind("ServiceEntry"):
        ns = _waypoint_ns(graph, se)
        if ns is None or reach.bound_without_vip(graph, se) is not None:
            continue  # no waypoint on the way (without a VIP, EGL110 reports the entry)
        for dr, path, hit in _hits(graph, se, ns):
            causes.setdefault((dr, path), []).append(hit)
    for (dr, path), hits in causes.items():
        yield _finding(dr, path, hits)
