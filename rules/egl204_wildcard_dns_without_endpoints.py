"""A ServiceEntry with a wildcard host uses `resolution: DNS` or `DNS_ROUND_ROBIN` without
endpoints: there is no name to resolve, so nothing can be reached.

**Why it matters.** DNS resolution resolves the ServiceEntry's hosts (or its endpoints). A
wildcard such as `*.example.com` is not a name DNS can answer, so Istio validation rejects the
combination ("hosts must be FQDN" when resolution is DNS and no endpoints are given) and, where
it slips through, the service has no endpoints. In ambient a wildcard host with any resolution
other than `DYNAMIC_DNS` also gets no VIP, so ztunnel cannot steer it to the waypoint.

**When it fires.** `resolution: DNS` or `DNS_ROUND_ROBIN`, no `endpoints`, and a host that
starts with `*`. It points at each wildcard host.

**How to fix.** List the concrete host names, or give an endpoint (for example the upstream
proxy's FQDN), or use `resolution: DYNAMIC_DNS` (Istio 1.28+, ambient, bound to a waypoint,
HTTP/TLS ports only).

Sources: service_entry.proto (`resolution`, NOTE on wildcard hosts); istio `validation.go`
`ValidateServiceEntry`; 1.28 release note se-wildcard-host.
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio
from egresslint.model import Finding, as_list

RULE = Rule(
    id="EGL204",
    name="wildcard-dns-without-endpoints",
    tag="unreachable",
    level="error",
    summary="Wildcard ServiceEntry host with DNS resolution and no endpoints cannot resolve.",
    kinds=("ServiceEntry",),
)


def _advice(ctx: Context) -> str:
    if ctx.istio_version >= (1, 28, 0):
        return (
            "List concrete host names, add an endpoint, or use 'resolution: DYNAMIC_DNS' "
            "bound to a waypoint."
        )
    return "List concrete host names or add an endpoint (DYNAMIC_DNS needs Istio 1.28+)."


def check(ctx: Context) -> Iterator[Finding]:
    for se in ctx.graph.of_kind("ServiceEntry"):
        res = istio.resolution(se)
        if res not in ("DNS", "DNS_ROUND_ROBIN") or as_list(se.spec.get("endpoints")):
            continue
        for i, host in enumerate(as_list(se.spec.get("hosts"))):
            if isinstance(host, str) and host.strip().startswith("*"):
                yield RULE.at(
                    se,
                    ("spec", "hosts", i),
                    f"{se.ref} has wildcard host {host} with 'resolution: {res}' and no "
                    "endpoints: a wildcard cannot be resolved by DNS (Istio rejects this), so "
                    f"the host is unreachable. {_advice(ctx)}",
                )
