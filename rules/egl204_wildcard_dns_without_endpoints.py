"""A ServiceEntry with a wildcard host uses `resolution: DNS` or `DNS_ROUND_ROBIN` without
endpoints: Istio's validation rejects it, so none of its hosts is registered.

**Why it matters.** DNS resolution resolves the ServiceEntry's hosts (or its endpoints). A
wildcard such as `*.example.com` is not a name DNS can answer, so `ValidateServiceEntry` rejects
the combination ("hosts must be FQDN ... if no endpoints are provided for resolution mode DNS"):
the ServiceEntry you reviewed never exists in the cluster, and its hosts are as unregistered as
if it had not been written (passed through, or blocked where sidecars use `REGISTRY_ONLY`).

**When it fires.** `resolution: DNS` or `DNS_ROUND_ROBIN`, no `endpoints`, and a host with a
wildcard (the bare host `*` is EGL501's). Istio 1.24-1.27 report one error per such host,
1.28-1.30 one per ServiceEntry; this rule reports the cause once per ServiceEntry and field:
when every host is a `*.` wildcard and Istio at `--istio-version` would accept the ServiceEntry
with `resolution: DYNAMIC_DNS` (1.28+, no addresses, every port of a protocol validation accepts
with DYNAMIC_DNS at that version, an accepted location), once at `spec.resolution`; otherwise
once per wildcard host. EGL501, which mirrors the rest of Istio's ServiceEntry validation,
stays silent about this cause. Tag `invalid`: the configuration is rejected.

**How to fix.** As the message says, and only with changes validation accepts: set
`resolution: DYNAMIC_DNS` (bind the ServiceEntry to an egress waypoint: before 1.30 DYNAMIC_DNS
only works there), list the concrete host names, move the wildcard into its own DYNAMIC_DNS
ServiceEntry, or give an endpoint (for example the upstream proxy's FQDN).

Sources (istio/istio): `pkg/config/validation/validation.go` `ValidateServiceEntry` (1.24.0:
one error per non-FQDN host; 1.28.0-1.30.3: `break` after the first; DYNAMIC_DNS case from
1.28.0 with HTTP ports, TLS from 1.29.0, GRPC and HTTP2 and MESH_INTERNAL from 1.30.0);
`pkg/config/validation/agent/validation.go` `ValidateFQDN` (a `*` label is no DNS-1123 label);
`manifests/charts/base/files/crd-all.gen.yaml` (DYNAMIC_DNS in the CRD from 1.28.0, absent at
1.27.0); release note `se-wildcard-host` (1.28).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import bypass, istio
from egresslint.model import Finding, Resource, as_list

RULE = Rule(
    id="EGL204",
    name="wildcard-dns-without-endpoints",
    tag="invalid",
    level="error",
    summary="Wildcard ServiceEntry host with DNS resolution and no endpoints: Istio rejects it.",
    kinds=("ServiceEntry",),
    istio_analyzer=("IST0106",),
)


def _rejected(se: Resource, res: str) -> str:
    return (
        f"{se.ref} has resolution {res}, no endpoints and wildcard hosts: Istio's validation "
        "rejects the ServiceEntry (hosts must be FQDNs when no endpoints are given), so none of "
        "its hosts is registered."
    )


def _waypoint_note(ctx: Context) -> str:
    if ctx.istio_version >= (1, 30, 0):
        return ""
    return " and bind it to an egress waypoint (before Istio 1.30 DYNAMIC_DNS works only there)"


def _host_advice(ctx: Context, se: Resource, host: str) -> str:
    fixes = [f"list the concrete host names instead of '{host}'"]
    if bypass.dynamic_dns_accepted(se, ctx.istio_version, [host]):
        fixes.append(f"move '{host}' into its own ServiceEntry with resolution: DYNAMIC_DNS")
    fixes.append("give an endpoint (for example an upstream proxy)")
    text = ", or ".join(fixes)
    return text[0].upper() + text[1:] + "."


def _wildcard(host: object) -> bool:
    return isinstance(host, str) and "*" in host and host.strip() != "*"


def check(ctx: Context) -> Iterator[Finding]:
    for se in ctx.graph.of_kind("ServiceEntry"):
        res = istio.resolution(se)
        if res not in ("DNS", "DNS_ROUND_ROBIN") or as_list(se.spec.get("endpoints")):
            continue
        hosts = [h for h in as_list(se.spec.get("hosts")) if isinstance(h, str)]
        wild = [(i, h) for i, h in enumerate(as_list(se.spec.get("hosts"))) if _wildcard(h)]
        if not wild:
            continue
        if len(wild) == len(hosts) and bypass.dynamic_dns_accepted(se, ctx.istio_version, hosts):
            yield RULE.at(
                se,
                ("spec", "resolution"),
                f"{_rejected(se, res)} Set resolution: DYNAMIC_DNS, which validation accepts for "
                f"these wildcard hosts{_waypoint_note(ctx)}.",
            )
            continue
        for i, host in wild:
            yield RULE.at(
                se, ("spec", "hosts", i), f"{_rejected(se, res)} {_host_advice(ctx, se, host)}"
            )
