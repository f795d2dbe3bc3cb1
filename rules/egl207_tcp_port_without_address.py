"""A ServiceEntry has a TCP (or protocol-less) port but no `addresses`, and no address will be
auto-allocated, so TCP traffic to it cannot be matched.

**Why it matters.** Plain TCP carries no host name: a proxy can only tell which ServiceEntry a
connection is for by its destination address. Without `addresses` that needs an auto-allocated
VIP (`PILOT_ENABLE_IP_AUTOALLOCATE`, on by default since Istio 1.25). There is none for
`resolution: NONE`, when the ServiceEntry opts out with the label
`networking.istio.io/enable-autoallocate-ip: "false"`, or (by default) before 1.25. In ambient
ztunnel then sees the real IP the client resolved, matches nothing, and passes the connection
through directly: the waypoint and its policy never see it. `istioctl analyze` reports this as
IST0134 (ServiceEntryAddressesRequired).

**When it fires.** For each port with protocol `TCP` or no protocol (sniffed) of a
ServiceEntry without `addresses`, when auto-allocation does not apply (see above; the target
Istio version comes from `--istio-version`). `DYNAMIC_DNS` ServiceEntries are skipped (they
cannot have TCP ports).

**How to fix.** Add `addresses` (the external IPs or CIDRs), or use `resolution: DNS` and
remove the opt-out label so a VIP is allocated (Istio 1.25+), or declare the real protocol
(`TLS` for TLS traffic matched by SNI, `HTTP` for HTTP).

Sources: istioctl analyze IST0134 (`serviceentry/protocoladdresses.go`); istio
`ip_autoallocation.go`; 1.25 change notes (auto-allocation default).
"""

from collections.abc import Iterator

from egresslint import istio
from egresslint.model import Finding, Resource, as_list
from egresslint.rule import Context, Rule

RULE = Rule(
    id="EGL207",
    name="tcp-port-without-address",
    tag="unreachable",
    level="warning",
    summary="TCP ServiceEntry port without addresses and without auto-allocated VIP.",
    kinds=("ServiceEntry",),
)

AUTOALLOCATE = "networking.istio.io/enable-autoallocate-ip"


def _no_allocation(ctx: Context, se: Resource) -> str | None:
    """Why no VIP is allocated for the ServiceEntry, or None when one is."""
    if istio.resolution(se) == "NONE":
        return "resolution NONE never gets an auto-allocated address"
    if se.labels.get(AUTOALLOCATE, "").lower() == "false":
        return f'the label {AUTOALLOCATE}: "false" turns auto-allocation off'
    if ctx.istio_version < (1, 25, 0):
        return "auto-allocation is off by default before Istio 1.25"
    return None


def check(ctx: Context) -> Iterator[Finding]:
    for se in ctx.graph.of_kind("ServiceEntry"):
        if as_list(se.spec.get("addresses")) or istio.resolution(se) == "DYNAMIC_DNS":
            continue
        why = _no_allocation(ctx, se)
        if why is None:
            continue
        for i, port in ctx.graph.ports(se):
            proto = istio.protocol(port)
            if proto not in ("", "TCP"):
                continue
            field = ("spec", "ports", i, "protocol") if "protocol" in port else ("spec", "ports", i)
            shown = proto or "unset"
            yield RULE.at(
                se,
                field,
                f"{se.ref} port {istio.port_number(port)} (protocol {shown}) has no 'addresses' "
                f"and {why}: TCP connections cannot be matched to this ServiceEntry and go "
                "straight to the resolved IP, past the waypoint (IST0134). Add 'addresses', or "
                "let Istio allocate a VIP, or declare the real protocol (TLS/HTTP).",
            )
