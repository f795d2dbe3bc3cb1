"""A DestinationRule originates TLS on a ServiceEntry port whose protocol is HTTPS or TLS, so
the application's own TLS is wrapped in a second TLS session and every call fails.

**Why it matters.** A port declared `HTTPS` or `TLS` carries traffic the client has already
encrypted: the waypoint forwards it as opaque TLS, routed by SNI. A DestinationRule with
`tls.mode: SIMPLE` or `MUTUAL` for that port makes the waypoint start its own TLS handshake
towards the server and send the client's TLS bytes inside it; the server sees a TLS record
where it expects a ClientHello for its own name and the connection fails (istio/istio#56430
reports TLS origination "not happening" with `protocol: HTTPS`).

**When it fires.** For every ServiceEntry port with protocol `HTTPS` or `TLS` to which a
DestinationRule for one of its hosts applies SIMPLE/MUTUAL TLS: a `portLevelSettings` entry
for that port number, or the top-level `trafficPolicy.tls` when no port-level entry overrides
it. Hosts that egress through `solo-ztunnel-egress` or an agentgateway waypoint are skipped
(those proxies ignore DestinationRules; other rules report that).

**How to fix.** Either let the application speak TLS itself and drop the origination for that
port (`portLevelSettings: [{port: {number: 443}, tls: {mode: DISABLE}}]`, or move the top-level
`tls` into a port-level entry for the HTTP port), or use the origination pattern: the app sends
plain HTTP to port 80, the ServiceEntry port is `protocol: HTTP` with `targetPort: 443`, and the
DestinationRule sets `tls.mode: SIMPLE` on port 80.

Sources: istio.io "Egress gateways" (ambient) TLS origination; destination_rule.proto
(`ClientTLSSettings`); istio/istio#56430.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, reach
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL202",
    name="double-tls-origination",
    tag="unreachable",
    level="error",
    summary="DestinationRule originates TLS on an HTTPS/TLS ServiceEntry port: TLS inside TLS.",
    kinds=("DestinationRule", "ServiceEntry"),
)

_TLS_PROTOCOLS = ("HTTPS", "TLS")


def _finding(dr: Resource, se: Resource, i: int, port: Mapping[str, Any]) -> Finding | None:
    number = istio.port_number(port)
    found = istio.originates_tls(dr, number)
    if found is None:
        return None
    tls, path = found
    scope = "top-level trafficPolicy.tls" if path[-2] == "trafficPolicy" else "portLevelSettings"
    return RULE.at(
        dr,
        (*path, "mode"),
        f"{dr.ref} originates TLS (mode {istio.tls_mode(tls)}, {scope}) on port {number} of "
        f"{dr.spec.get('host')}, but {se.ref} declares that port protocol "
        f"{istio.protocol(port)}: the client already speaks TLS there, so the waypoint wraps TLS "
        "in TLS and the handshake fails. Disable origination for this port, or send plain HTTP "
        "to an HTTP port with 'targetPort: 443' and originate TLS on that port instead.",
        [related(se, ("spec", "ports", i, "protocol"), f"port {number} already carries TLS")],
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for se in graph.of_kind("ServiceEntry"):
        if not reach.envoy_applies(graph, se):
            continue
        drs = graph.destination_rules_for(se)
        for i, port in graph.ports(se):
            if istio.protocol(port) not in _TLS_PROTOCOLS:
                continue
            for dr in drs:
                hit = _finding(dr, se, i, port)
                if hit is not None:
                    yield hit
