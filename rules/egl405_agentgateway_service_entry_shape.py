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
`spec.resolution` / `spec.location`. A wildcard host without endpoints is different: Istio's
validation rejects `resolution: DNS` (and `DNS_ROUND_ROBIN`) for it (EGL204 reports that), and
`DYNAMIC_DNS` is the only resolution it accepts there, so this rule never asks for DNS on such
a ServiceEntry and says nothing about `DYNAMIC_DNS` on one (agentgateway's documentation does
not cover wildcard hosts). With another resolution it proposes `DYNAMIC_DNS` where validation at
`--istio-version` accepts it (1.28+, see EGL204), else replacing the wildcard with the concrete
host names (then at the wildcard host).

**How to fix.** Set `resolution: DNS` and `location: MESH_EXTERNAL` (the default location); for
wildcard hosts, as the message says.

Holds for Solo Istio 1.30+ (alpha). Sources: Solo "Egress approaches" overview (L7 agentgateway
waypoint components); istio/istio `pkg/config/validation/validation.go` `ValidateServiceEntry`
(DNS without endpoints needs FQDN hosts, 1.24.0-1.30.3; DYNAMIC_DNS from 1.28.0).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import bypass, istio, modes
from egresslint.mesh.graph import AGENTGATEWAY_WAYPOINTS
from egresslint.model import Finding, Resource, as_list

RULE = Rule(
    id="EGL405",
    name="agentgateway-service-entry-shape",
    tag="unsupported-feature",
    level="warning",
    summary="ServiceEntry on an agentgateway waypoint without resolution: DNS and location: MESH_EXTERNAL.",
    kinds=("ServiceEntry",),
)

Version = tuple[int, int, int]


def _wildcard_resolution(se: Resource, mode: str, res: str, version: Version) -> Finding | None:
    """A wildcard without endpoints: DNS is rejected by validation, DYNAMIC_DNS is the shape it
    accepts. Propose DYNAMIC_DNS where it would be accepted, else concrete hosts."""
    if res in ("DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"):
        return None  # DNS and DNS_ROUND_ROBIN: EGL204 reports the rejection
    hosts = [h for h in as_list(se.spec.get("hosts")) if isinstance(h, str)]
    wild = [(i, h) for i, h in enumerate(as_list(se.spec.get("hosts"))) if _is_wildcard(h)]
    head = (
        f"{se.ref} is bound to the {mode} waypoint with resolution {res}: agentgateway egress "
        f"expects resolution: DNS, which Istio rejects for the wildcard host '{wild[0][1]}' "
        "without endpoints."
    )
    if bypass.dynamic_dns_accepted(se, version, hosts):
        return RULE.at(
            se,
            _resolution_path(se),
            f"{head} Set resolution: DYNAMIC_DNS (what Istio accepts for wildcard hosts), or list "
            "the concrete host names with resolution: DNS.",
        )
    return RULE.at(
        se,
        ("spec", "hosts", wild[0][0]),
        f"{head} Replace it with the concrete host names and set resolution: DNS.",
    )


def _is_wildcard(host: object) -> bool:
    return isinstance(host, str) and "*" in host


def _resolution_path(se: Resource) -> tuple[str, ...]:
    return ("spec", "resolution") if "resolution" in se.spec else ("spec",)


def _resolution(se: Resource, mode: str, version: Version) -> Finding | None:
    res = istio.resolution(se)
    wildcard = any(_is_wildcard(h) for h in as_list(se.spec.get("hosts")))
    if wildcard and not as_list(se.spec.get("endpoints")):
        return _wildcard_resolution(se, mode, res, version)
    if res == "DNS":
        return None
    return RULE.at(
        se,
        _resolution_path(se),
        f"{se.ref} is bound to the {mode} waypoint with resolution {res}: agentgateway "
        "egress expects resolution: DNS. Set resolution: DNS.",
    )


def _findings(se: Resource, mode: str, version: Version) -> Iterator[Finding]:
    found = _resolution(se, mode, version)
    if found is not None:
        yield found
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
        for finding in _findings(se, mode, ctx.istio_version):
            if mode != "enterprise-agentgateway-waypoint":
                finding.level = "note"
            yield finding
