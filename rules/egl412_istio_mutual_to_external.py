"""A DestinationRule sets `tls.mode: ISTIO_MUTUAL` for a `MESH_EXTERNAL` host that egresses
through an `istio-waypoint`: the waypoint ignores that mode and sends plain text upstream.

**Why it matters.** A waypoint does not support `ISTIO_MUTUAL` towards its destinations: when
istiod builds the waypoint's cluster for a ServiceEntry port, `buildWaypointTLSContext`
returns no TLS context for that mode (`case ISTIO_MUTUAL: // not supported (?) return nil`,
pilot/pkg/networking/core/cluster_waypoint.go, every release from 1.24.0 to 1.30.3), so the
cluster keeps its raw-buffer transport. The waypoint then forwards what the client sent, and
for a plain-HTTP (or plain-TCP) port that is plain text: towards a server's TLS port
(`targetPort: 443`) every call fails, towards a plain port the traffic you meant to encrypt
crosses the network unencrypted. Nothing in the configuration shows it.

**When it fires.** At the `tls.mode: ISTIO_MUTUAL` (top level, port level or subset) of a
DestinationRule that the waypoint applies to a `MESH_EXTERNAL` ServiceEntry whose egress mode
is `istio-waypoint`, when the block governs at least one port that does not already carry the
client's TLS (protocol other than `HTTPS`/`TLS`). Only the DestinationRules the waypoint
really uses count: those of its own namespace, else of the ServiceEntry's namespace, else of
`istio-system`, exported to it and without a `workloadSelector`, the most specific host first
(pilot/pkg/model/push_context.go `destinationRule`, pilot/pkg/model/sidecar.go
`DestinationRule`). A port-level entry for a port replaces the top-level `tls`, a subset's
settings replace the rule's (`GetPortLevelTrafficPolicy`, `MergeSubsetTrafficPolicy`,
pilot/pkg/networking/util/util.go). A mesh-internal destination and a sidecar's own
ISTIO_MUTUAL are not reported.

**How to fix.** Originate TLS the external server accepts: `mode: SIMPLE` (validated against
the server's CA: the system trust store, `caCertificates`, or a `credentialName` Secret in the
waypoint's namespace), or `MUTUAL` with a client certificate the server trusts. If plain text
is what you mean, say so with `mode: DISABLE`. Mark the ServiceEntry `MESH_INTERNAL` only if
the destination really is part of the mesh.

Sources: the istio/istio files named above; istio/istio#59627; `destination_rule.proto`
(`ClientTLSSettings`).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, modes
from egresslint.mesh.graph import ISTIO_WAYPOINT, MeshGraph
from egresslint.model import Finding, Path, Resource, as_map, enumerate_maps

RULE = Rule(
    id="EGL412",
    name="istio-mutual-to-external",
    tag="unsupported-feature",
    level="warning",
    summary="ISTIO_MUTUAL to a MESH_EXTERNAL host behind a waypoint: the waypoint ignores it and sends plain text.",
    kinds=("DestinationRule", "ServiceEntry"),
)

_CLIENT_TLS = ("HTTPS", "TLS")


def _applied(graph: MeshGraph, se: Resource) -> list[Resource]:
    binding = graph.binding(se)
    if binding is None or binding.opted_out:
        return []
    ns = binding.namespace
    return list(
        dict.fromkeys(
            dr
            for host in graph.se_hosts(se)
            for dr in graph.waypoint_destination_rules(se, host, ns)
        )
    )


def _port_level_numbers(policy: Mapping[str, Any]) -> dict[Any, int]:
    """Port number -> index of the first portLevelSettings entry for it (the one that counts)."""
    out: dict[Any, int] = {}
    for i, setting in enumerate_maps(policy.get("portLevelSettings")):
        out.setdefault(as_map(setting.get("port")).get("number"), i)
    return out


def _governs(dr: Resource, path: Path, number: int | None) -> bool:
    """Whether the tls block at ``path`` is the one a cluster for port ``number`` uses."""
    if path[-2] == "trafficPolicy":  # top-level tls of the rule or of a subset
        return number not in _port_level_numbers(as_map(dr.get(*path[:-1])))
    policy = as_map(dr.get(*path[:-3]))
    return bool(_port_level_numbers(policy).get(number) == path[-2])


def _plain_ports(dr: Resource, path: Path, se: Resource) -> list[Mapping[str, Any]]:
    """The ServiceEntry's ports the block governs that do not carry the client's own TLS."""
    return [
        port
        for _, port in MeshGraph.ports(se)
        if istio.protocol(port) not in _CLIENT_TLS and _governs(dr, path, istio.port_number(port))
    ]


def _consequence(ports: list[Mapping[str, Any]]) -> str:
    tls = sorted({t for p in ports if (t := istio.target_port(p)) in istio.TLS_PORTS})
    if tls:
        numbers = ", ".join(map(str, tls))
        return f"the server's TLS port {numbers} receives plaintext and the calls fail"
    return "the requests cross the network unencrypted"


def _finding(dr: Resource, path: Path, se: Resource, ports: list[Mapping[str, Any]]) -> Finding:
    numbers = ", ".join(str(istio.port_number(p)) for p in ports)
    return RULE.at(
        dr,
        (*path, "mode"),
        f"{dr.ref} sets tls.mode ISTIO_MUTUAL for port {numbers} of {se.ref}, a MESH_EXTERNAL "
        "host behind an istio-waypoint: a waypoint does not support ISTIO_MUTUAL towards its "
        "destinations, ignores it and sends the traffic upstream in plain text, so "
        f"{_consequence(ports)}. Use SIMPLE (or MUTUAL with a client certificate the server "
        "trusts) to originate TLS with the external server's CA, or DISABLE if plain text is "
        "meant.",
        [related(se, ("spec", "hosts"), "MESH_EXTERNAL host")],
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    seen: set[tuple[Resource, Path]] = set()
    for se in modes.ses_in_mode(graph, ISTIO_WAYPOINT):
        if not graph.is_external(se):
            continue
        for dr in _applied(graph, se):
            for tls, path in modes.tls_blocks(dr):
                if istio.tls_mode(tls) != "ISTIO_MUTUAL" or (dr, path) in seen:
                    continue
                ports = _plain_ports(dr, path, se)
                if ports:
                    seen.add((dr, path))
                    yield _finding(dr, path, se, ports)
