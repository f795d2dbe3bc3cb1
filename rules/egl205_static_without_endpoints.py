"""A ServiceEntry with `resolution: STATIC` has no endpoints and no `workloadSelector`, so it
has nowhere to send traffic.

**Why it matters.** With STATIC resolution the proxy uses exactly the addresses listed in
`endpoints` (or the WorkloadEntries/pods picked by `workloadSelector`). The `addresses` field
is the service's virtual IP, not a destination. With neither endpoints nor a selector the
service has no upstream hosts and every call fails ("no healthy upstream").

**When it fires.** `resolution: STATIC`, an empty or missing `endpoints` list, and no
`workloadSelector`.

**How to fix.** Add `endpoints` with the destination IPs, or use `resolution: DNS` for a host
name, or `NONE` to forward to the original destination address (in ambient, NONE needs
`addresses` and Istio 1.28+ to pass through).

Sources: service_entry.proto (`resolution`, `endpoints`, `workloadSelector`).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio
from egresslint.model import Finding, as_list

RULE = Rule(
    id="EGL205",
    name="static-without-endpoints",
    tag="unreachable",
    level="error",
    summary="ServiceEntry with resolution STATIC but no endpoints or workloadSelector.",
    kinds=("ServiceEntry",),
)


def check(ctx: Context) -> Iterator[Finding]:
    for se in ctx.graph.of_kind("ServiceEntry"):
        if istio.resolution(se) != "STATIC":
            continue
        if as_list(se.spec.get("endpoints")) or se.spec.get("workloadSelector"):
            continue
        yield RULE.at(
            se,
            ("spec", "resolution"),
            f"{se.ref} uses 'resolution: STATIC' without endpoints or a workloadSelector: there "
            "is no destination address, so every call fails. Add endpoints with the target IPs, "
            "or use 'resolution: DNS' for host names.",
        )
