"""A ServiceEntry bound for egress registers a wildcard host, admitting every subdomain,
including ones anybody can create.

**Why it matters.** `*.amazonaws.com` or `*.googleapis.com` cover every customer's buckets and
endpoints, not only yours: a compromised pod can send data to an attacker-owned bucket under the
same suffix through the approved egress path. Since Istio 1.28 `resolution: DYNAMIC_DNS` bound
to a waypoint is the supported way to register wildcards in ambient (HTTP; TLS additionally needs
istiod `ENABLE_WILDCARD_HOST_SERVICE_ENTRIES_FOR_TLS=true`, which trusts the client's SNI).

**When it fires.** For ServiceEntries bound to a waypoint whose hosts include a wildcard and
that get an address ztunnel can match (`DYNAMIC_DNS`, or explicit `addresses`). Wildcards
without one are reported by EGL110 instead. A `MESH_INTERNAL` `DYNAMIC_DNS` ServiceEntry is
skipped: its traffic does not go through the waypoint at all (Istio 1.28-1.29 reject it, 1.30
rejects it with its own `istio.io/use-waypoint` label, and otherwise leaves the service out of
the waypoint's configuration), which EGL501 reports. Level note: the setup works as designed,
the breadth is a policy choice.

**How to fix.** List the exact host names you need, or keep the wildcard and add an
AuthorizationPolicy at the waypoint that admits only your hosts (`hosts` for HTTP,
`connection.sni` for TLS) and only the workloads that need them.

Holds since Istio 1.28 (DYNAMIC_DNS wildcard ServiceEntries in ambient). Sources: istio.io
release note `se-wildcard-host`; `service_entry.proto` (hosts, NOTE 3); istio/istio#58560;
istio/istio `pilot/pkg/networking/core/waypoint.go` `findWaypointResources` (1.30.0-1.30.3:
MESH_INTERNAL DYNAMIC_DNS services are skipped) and `pkg/config/validation/validation.go`
(DYNAMIC_DNS location: MESH_EXTERNAL only at 1.28.0-1.29.6, MESH_INTERNAL without a waypoint
from 1.30.0).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio
from egresslint.model import Finding, as_list

RULE = Rule(
    id="EGL109",
    name="wildcard-egress-host",
    tag="bypass",
    level="note",
    summary="Egress ServiceEntry with a wildcard host admits every subdomain of it.",
    kinds=("ServiceEntry",),
    precision="medium",
    security_severity="3.0",
)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for se in graph.of_kind("ServiceEntry"):
        binding = graph.binding(se)
        if binding is None or binding.opted_out or graph.is_sidecar_namespace(se.namespace):
            continue
        dynamic = istio.resolution(se) == "DYNAMIC_DNS"
        if dynamic and not graph.is_external(se):
            continue  # the waypoint never serves it (EGL501)
        if not dynamic and not as_list(se.spec.get("addresses")):
            continue
        for i, host in enumerate(as_list(se.spec.get("hosts"))):
            if isinstance(host, str) and host.startswith("*"):
                yield RULE.at(
                    se,
                    ("spec", "hosts", i),
                    f"{se.ref} sends every subdomain of '{host[2:] or host}' through egress "
                    f"waypoint '{binding.name}', including hosts anyone can create under it. "
                    "List the exact hosts, or admit only yours with an AuthorizationPolicy "
                    "(hosts, or connection.sni for TLS) at the waypoint.",
                )
