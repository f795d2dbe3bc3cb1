"""A ServiceEntry has a TCP (or protocol-less) port but no `addresses`, and no address will be
auto-allocated, so proxies cannot tell its TCP connections apart by address.

**Why it matters.** Plain TCP carries no host name: a proxy can only tell which ServiceEntry a
connection is for by its destination address. Without `addresses` that needs an auto-allocated
VIP (`PILOT_ENABLE_IP_AUTOALLOCATE`, on by default since Istio 1.25). The traffic is not lost,
but what the ServiceEntry configures applies to the wrong connections or to none:

- sidecars listen for the port on `0.0.0.0:<port>`, so every TCP connection to that port from a
  sidecar pod is handled as this ServiceEntry (with `resolution: DNS` or `STATIC`, sent to its
  endpoints whatever address the client dialled; with `NONE`, passed to the original address);
- ambient pods' connections reach the real address, which ztunnel matches to no service, so
  they pass through directly: a waypoint bound to this ServiceEntry would never capture them
  (for bound ServiceEntries EGL110 reports that bypass, and this rule stays silent).

Istio's own validation warns ("addresses are required for ports serving TCP (or unset)
protocol when IP Autoallocation is not enabled"), and `istioctl analyze` reports IST0134.

**When it fires.** For each port with protocol `TCP` or no protocol (sniffed) of a
ServiceEntry without `addresses`, when no VIP is allocated: `resolution: NONE` (never), the
opt-out label `networking.istio.io/enable-autoallocate-ip: "false"`, or auto-allocation off:
by default before Istio 1.25 (`--istio-version`), or by install values in the repository
(`PILOT_ENABLE_IP_AUTOALLOCATE`, `compatibilityVersion: 1.24`). `DYNAMIC_DNS` ServiceEntries
are skipped (they cannot have TCP ports). Level: warning where sidecars would send every
connection on the port to this entry's endpoints (DNS, STATIC), note for `NONE` (connections
keep their destination). Tag `invalid`: the configuration is what Istio's validation warns
about; nothing becomes unreachable.

**How to fix.** Add `addresses` (the external IPs or CIDRs). For `resolution: NONE`, which is
never auto-allocated, use `resolution: DNS` instead where the host is a DNS name; remove the
opt-out label; before 1.25 turn on `PILOT_ENABLE_IP_AUTOALLOCATE`.

Sources (istio/istio): `pkg/config/validation/validation.go` `ValidateServiceEntry` (the
warning; 1.24.0-1.30.3); `pilot/pkg/features/pilot.go` (`PILOT_ENABLE_IP_AUTOALLOCATE`: false at
1.24.0, true at 1.25.0-1.30.3); `pilot/pkg/networking/serviceentry/ip_autoallocation.go`
(no allocation for NONE or the opt-out label); `pilot/pkg/networking/core/listener.go`
(`buildSidecarOutboundListener`: a service without VIP binds the wildcard address; 1.24.0,
1.30.3) and `pilot/pkg/serviceregistry/serviceentry/conversion.go` (no addresses: 0.0.0.0); `pkg/config/analysis/analyzers/serviceentry/protocoladdresses.go` (IST0134); istio/ztunnel
`src/proxy/outbound.rs` (unknown addresses pass through; 1.24.0, 1.30.3).
"""

import ipaddress
from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import bypass, istio, reach
from egresslint.model import Finding, Resource, as_list

RULE = Rule(
    id="EGL207",
    name="tcp-port-without-address",
    tag="invalid",
    level="warning",
    summary="TCP ServiceEntry port without addresses and without auto-allocated VIP.",
    kinds=("ServiceEntry",),
    istio_analyzer=("IST0133", "IST0134"),
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
    switch = bypass.autoallocation(ctx.graph, ctx.istio_version)
    if not switch.on:
        return (
            switch.why,
            f"Add 'addresses', or turn on {bypass.AUTOALLOCATE_ENV} (the default from 1.25).",
        )
    return None


def _consequence(se: Resource, number: object) -> str:
    if istio.resolution(se) == "NONE":
        sidecar = (
            f"it claims every TCP connection to port {number} (passed to its original address)"
        )
    else:
        sidecar = f"every TCP connection to port {number} is sent to this entry's endpoints"
    return (
        f"sidecars listen on 0.0.0.0:{number} for it, so {sidecar}; ztunnel matches ambient "
        "pods' connections to no service, so a waypoint bound to it would never see them"
    )


def check(ctx: Context) -> Iterator[Finding]:
    for se in ctx.graph.of_kind("ServiceEntry"):
        if as_list(se.spec.get("addresses")) or istio.resolution(se) == "DYNAMIC_DNS":
            continue
        if bypass.uncaptured(ctx.graph, se, ctx.istio_version):
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
            number = istio.port_number(port)
            finding = RULE.at(
                se,
                field,
                f"{se.ref} port {number} (protocol {proto or 'unset'}) has no 'addresses' and "
                f"{why}: Istio warns (validation; istioctl IST0134), and {_consequence(se, number)}. {fix}",
            )
            if istio.resolution(se) == "NONE":
                finding.level = "note"
            yield finding
