"""A DestinationRule uses `tls.mode: ISTIO_MUTUAL` for a `MESH_EXTERNAL` host that egresses
through an `istio-waypoint`.

**Why it matters.** `ISTIO_MUTUAL` presents an Istio workload certificate and expects the peer
to be part of the mesh. For an external host behind a waypoint, the certificate presented is
the *waypoint's* identity, not the calling client's (per-client SPIFFE identity to external
services is an open feature request), and an external server does not trust the mesh CA: the
handshake fails, or the server cannot tell clients apart.

**When it fires.** At the `tls` block (top level, port level or subset) with
`mode: ISTIO_MUTUAL` of a DestinationRule for a `MESH_EXTERNAL` ServiceEntry whose egress mode
is `istio-waypoint`.

**How to fix.** Use `mode: SIMPLE` (or `MUTUAL` with a client certificate the external server
trusts, `credentialName` in the waypoint's namespace), or mark the ServiceEntry
`MESH_INTERNAL` if the destination really is part of the mesh.

Sources: istio/istio#59627; `destination_rule.proto` (`ClientTLSSettings`).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, modes
from egresslint.mesh.graph import ISTIO_WAYPOINT
from egresslint.model import Finding

RULE = Rule(
    id="EGL412",
    name="istio-mutual-to-external",
    tag="unsupported-feature",
    level="warning",
    summary="ISTIO_MUTUAL to a MESH_EXTERNAL host behind a waypoint: the waypoint presents its own mesh identity.",
    kinds=("DestinationRule", "ServiceEntry"),
)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for se in modes.ses_in_mode(graph, ISTIO_WAYPOINT):
        if not graph.is_external(se):
            continue
        for dr in graph.destination_rules_for(se):
            for tls, path in modes.tls_blocks(dr):
                if istio.tls_mode(tls) != "ISTIO_MUTUAL":
                    continue
                yield RULE.at(
                    dr,
                    (*path, "mode"),
                    f"{dr.ref} uses ISTIO_MUTUAL for {se.ref}, a MESH_EXTERNAL host behind an "
                    "istio-waypoint: the waypoint presents its own mesh certificate, which an "
                    "external server does not trust. Use SIMPLE (or MUTUAL with a certificate the "
                    "server trusts).",
                    [related(se, ("spec", "hosts"), "MESH_EXTERNAL host")],
                )
