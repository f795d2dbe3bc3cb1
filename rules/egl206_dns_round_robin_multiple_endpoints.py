"""A ServiceEntry with `resolution: DNS_ROUND_ROBIN` lists more than one endpoint, which Istio
rejects.

**Why it matters.** DNS_ROUND_ROBIN uses only the first IP address returned by DNS for one
name; the API therefore allows at most one endpoint. The CRD validation rule and istiod's
validation refuse the object, so the ServiceEntry is never applied (in GitOps, the sync fails)
and the host stays unregistered.

**When it fires.** `resolution: DNS_ROUND_ROBIN` with two or more `endpoints`; it points at
the second endpoint.

**How to fix.** Use `resolution: DNS` (which uses every endpoint and resolves each), or keep a
single endpoint.

Sources: istio/istio `pkg/config/validation/validation.go` (ValidateServiceEntry: "there must
only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN"), 1.30.3.
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio
from egresslint.model import Finding, as_list

RULE = Rule(
    id="EGL206",
    name="dns-round-robin-multiple-endpoints",
    tag="unreachable",
    level="error",
    summary="DNS_ROUND_ROBIN ServiceEntry with more than one endpoint is rejected.",
    kinds=("ServiceEntry",),
    istio_analyzer=("IST0106",),
)


def check(ctx: Context) -> Iterator[Finding]:
    for se in ctx.graph.of_kind("ServiceEntry"):
        endpoints = as_list(se.spec.get("endpoints"))
        if istio.resolution(se) != "DNS_ROUND_ROBIN" or len(endpoints) < 2:
            continue
        yield RULE.at(
            se,
            ("spec", "endpoints", 1),
            f"{se.ref} uses 'resolution: DNS_ROUND_ROBIN' with {len(endpoints)} endpoints, but "
            "only one is allowed: Istio rejects the ServiceEntry and the host stays unregistered. "
            "Use 'resolution: DNS' for several endpoints, or keep one.",
        )
