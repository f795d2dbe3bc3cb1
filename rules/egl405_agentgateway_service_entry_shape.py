"""A ServiceEntry bound to an agentgateway waypoint does not use `resolution: DNS` and
`location: MESH_EXTERNAL`.

**Why it matters.** Solo documents agentgateway waypoint egress with ServiceEntries that
register the external destination with `resolution: DNS` and `location: MESH_EXTERNAL`; the
waypoint resolves the host itself. Other resolutions (`NONE` has no address to connect to,
`STATIC` pins IPs) and `MESH_INTERNAL` (treated as in-mesh, expecting mTLS) are outside the
documented setup and fail or behave differently.

**When it fires.** For ServiceEntries whose effective waypoint has class
`enterprise-agentgateway-waypoint` (warning) or the experimental upstream
`istio-agentgateway-waypoint` (note: the requirement is documented by Solo only), at
`spec.resolution` / `spec.location`.

**How to fix.** Set `resolution: DNS` and `location: MESH_EXTERNAL` (the default location).

Holds for Solo Istio 1.30+ (alpha). Source: Solo "Egress approaches" overview (L7 agentgateway
waypoint components).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio, modes
from egresslint.mesh.graph import AGENTGATEWAY_WAYPOINTS
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL405",
    name="agentgateway-service-entry-shape",
    tag="unsupported-feature",
    level="warning",
    summary="ServiceEntry on an agentgateway waypoint without resolution: DNS and location: MESH_EXTERNAL.",
    kinds=("ServiceEntry",),
)


def _findings(se: Resource, mode: str) -> Iterator[Finding]:
    res = istio.resolution(se)
    if res != "DNS":
        path = ("spec", "resolution") if "resolution" in se.spec else ("spec",)
        yield RULE.at(
            se,
            path,
            f"{se.ref} is bound to the {mode} waypoint with resolution {res}: agentgateway "
            "egress expects resolution: DNS. Set resolution: DNS.",
        )
    if se.spec.get("location", "MESH_EXTERNAL") != "MESH_EXTERNAL":
        yield RULE.at(
            se,
            ("spec", "location"),
            f"{se.ref} is bound to the {mode} waypoint but is not location: MESH_EXTERNAL: "
            "agentgateway egress expects external hosts. Set location: MESH_EXTERNAL.",
        )


def check(ctx: Context) -> Iterator[Finding]:
    for se in modes.ses_in_mode(ctx.graph, *AGENTGATEWAY_WAYPOINTS):
        mode = ctx.graph.mode_of(se) or ""
        for finding in _findings(se, mode):
            if mode != "enterprise-agentgateway-waypoint":
                finding.level = "note"
            yield finding
