"""A ServiceEntry bound to a waypoint gets no virtual IP, so ztunnel cannot recognise its
traffic and it bypasses the waypoint.

**Why it matters.** ztunnel sends a connection to the waypoint only when the destination address
matches a service it knows. For a ServiceEntry that address is a VIP: listed in `addresses`, or
auto-allocated by istiod and returned by ztunnel's DNS proxy. Istio allocates none for
`resolution: NONE`, for wildcard hosts (unless `DYNAMIC_DNS`), or when the ServiceEntry carries
`networking.istio.io/enable-autoallocate-ip: "false"`. The client then resolves the real IP,
which matches nothing, and ztunnel passes the connection through directly: the
`istio.io/use-waypoint` label has no effect.

**When it fires.** For ServiceEntries bound to a waypoint (own or namespace label, not `none`),
outside sidecar-injected namespaces, without `addresses`, and with one of the conditions above.

**How to fix.** Use `resolution: DNS` (or `DYNAMIC_DNS` for wildcard hosts, Istio 1.28+), or list
the destination's addresses/CIDRs in `addresses`; remove the auto-allocation opt-out label.

Holds with auto-allocation on (default since Istio 1.25; before that DNS capture and
allocation had to be enabled). Sources: `pilot/pkg/networking/serviceentry/ip_autoallocation.go`;
`pilot/pkg/serviceregistry/ambient/services.go`; istio/istio#54981, #54896.
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import reach
from egresslint.model import Finding

RULE = Rule(
    id="EGL110",
    name="se-bound-without-vip",
    tag="bypass",
    level="warning",
    summary="Waypoint-bound ServiceEntry without a VIP (NONE, wildcard, or opt-out): ztunnel cannot capture it.",
    kinds=("ServiceEntry",),
    security_severity="7.0",
)


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for se in graph.of_kind("ServiceEntry"):
        found = reach.bound_without_vip(graph, se)
        if found is None:
            continue
        binding, why, path = found
        yield RULE.at(
            se,
            path,
            f"{se.ref} is bound to waypoint '{binding.name}' but {why} and lists no addresses: "
            "clients resolve the real IP, ztunnel matches nothing and sends the traffic directly, "
            "bypassing the waypoint. Use resolution DNS (DYNAMIC_DNS for wildcards, Istio 1.28+) "
            "or list the destination addresses.",
        )
