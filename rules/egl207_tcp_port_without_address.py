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
cannot have TCP ports). ServiceEntries bound to a waypoint whose missing VIP EGL110 reports
(resolution `NONE`, or the opt-out label) are left to that rule: there the consequence is a
bypass of the waypoint.

**How to fix.** Add `addresses` (the external IPs or CIDRs). For `resolution: NONE`, which is
never auto-allocated, use `resolution: DNS` instead where the host is a DNS name; remove the
opt-out label; before 1.25 turn on `PILOT_ENABLE_IP_AUTOALLOCATE`.

Sources: istioctl analyze IST0134 (`serviceentry/protocoladdresses.go`); istio
`ip_autoallocation.go`; 1.25 change notes (auto-allocation default).
"""

import ipaddress
from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio, reach
from egresslint.model import Finding, Resource, as_list

RULE = Rule(
    id="EGL207",
    name="tcp-port-without-address",
    tag="unreachable",
    level="warning",
    summary="TCP ServiceEntry port without addresses and without auto-allocated VIP.",
    kinds=("ServiceEntry",),
)

AUTOALLOCATE = reach.AUTOALLOCATE


def _is_dns_name(host: object) -> bool:
    if not isinstance(host, str) or "*" in host or "/" in host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "." in host
    return False


def _no_allocation(ctx: Context, se: Resource) -> tuple[str, str] | None:
    """Why no VIP is allocated for the ServiceEntry and what makes one, or None when one is."""
    if istio.resolution(se) == "NONE":
        dns = [h for h in as_list(se.spec.get("hosts")) if _is_dns_name(h)]
        fix = "Add 'addresses' (the destination's IPs or CIDRs)"
        if dns:
            fix += (
                f", or, since {dns[0]} is a DNS name, use resolution: DNS so Istio allocates a VIP"
            )
        return "resolution NONE never gets an auto-allocated address", fix + "."
    if se.labels.get(AUTOALLOCATE, "").lower() == "false":
        return (
            f'the label {AUTOALLOCATE}: "false" turns auto-allocation off',
            "Add 'addresses', or remove the opt-out label so Istio allocates a VIP.",
        )
    if ctx.istio_version < (1, 25, 0):
        return (
            "auto-allocation is off by default before Istio 1.25",
            "Add 'addresses', or turn on PILOT_ENABLE_IP_AUTOALLOCATE (the default from 1.25).",
        )
    return None


def check(ctx: Context) -> Iterator[Finding]:
    for se in ctx.graph.of_kind("ServiceEntry"):
        if as_list(se.spec.get("addresses")) or istio.resolution(se) == "DYNAMIC_DNS":
            continue
        if reach.bound_without_vip(ctx.graph, se) is not None:
            continue  # bound to a waypoint: EGL110 reports the missing VIP as a bypass
        found = _no_allocation(ctx, se)
        if found is None:
            continue
        why, fix = found
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
                f"and {why}: TCP connections cannot be matched to this ServiceEntry by address, "
                f"so its settings and policies do not apply to them (IST0134). {fix}",
            )
