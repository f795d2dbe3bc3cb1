"""The configuration uses an ambient egress feature that the target Istio version
(`--istio-version`, default 1.30) does not have yet.

**Why it matters.** Older control planes accept most of these fields or labels but do not act
on them: the ServiceEntry is not captured, the policy is not attached, the label is ignored.
Egress then bypasses the waypoint or is denied, with nothing in the manifests to show why.

**Version gates checked** (first version that supports the feature):

| feature | since |
|---|---|
| `istio.io/use-waypoint-namespace` (cross-namespace waypoint) | 1.23 |
| AuthorizationPolicy `targetRefs` to a ServiceEntry | 1.24 |
| `connection.sni` in a waypoint (targetRefs) AuthorizationPolicy | 1.24 |
| egress through an `istio-waypoint` (the vendor's stated minimum; a note) | 1.24.3 |
| `resolution: DYNAMIC_DNS` (wildcard ServiceEntry at a waypoint) | 1.28 |
| CIDR `addresses` in a ServiceEntry used by ambient | 1.30 |
| `solo-ztunnel-egress` / `enterprise-agentgateway-waypoint` egress (the vendor's) | 1.30 |

The 1.24.3 gate follows the vendor's documentation only (Solo "Egress approaches" overview:
"L7 waypoint: Istio 1.24.3+"), so it is reported as a note. Upstream Istio binds a
ServiceEntry to its waypoint from 1.22.0 (`fetchWaypointForService` in
`serviceEntryServiceBuilder`, `pilot/pkg/serviceregistry/kube/controller/ambient/services.go`
at 1.22.0 and 1.24.0), and the upstream features that egress control needs (cross-namespace
waypoints, `targetRefs` to a ServiceEntry, `connection.sni`) have their own gates above. The
vendor classes' 1.30 gate also follows the vendor's documentation.

**How to fix.** Upgrade Istio, or use the older equivalent (a waypoint in the ServiceEntry's
own namespace, explicit FQDN hosts, single IP addresses, `istio-waypoint` egress).

Sources: Istio release notes and change notes 1.23, 1.24, 1.24.3, 1.28, 1.30 (release notes
50933, 53588, se-wildcard-host; PR #51846; #59797); Solo "Egress approaches" overview.
"""

from collections.abc import Iterator
from typing import Any

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio, modes
from egresslint.mesh.graph import ISTIO_WAYPOINT, USE_WAYPOINT_NS, ZTUNNEL_EGRESS, MeshGraph
from egresslint.model import Finding, Resource, as_list, enumerate_maps

RULE = Rule(
    id="EGL411",
    name="feature-needs-newer-istio",
    tag="unsupported-feature",
    level="warning",
    summary="An egress feature needs a newer Istio than --istio-version.",
    kinds=("ServiceEntry", "AuthorizationPolicy", "Gateway", "Namespace"),
)

Version = tuple[int, int, int]


def _at(
    res: Resource, path: tuple[Any, ...], feature: str, since: Version, have: Version
) -> Finding:
    return RULE.at(
        res,
        path,
        f"{res.ref} uses {feature}, which needs Istio {modes.version_text(since)} or later; "
        f"the target is {modes.version_text(have)}. Upgrade Istio or avoid the feature.",
    )


def _labels(graph: MeshGraph, v: Version) -> Iterator[Finding]:
    if v >= (1, 23, 0):
        return
    for res in graph.resources:
        if USE_WAYPOINT_NS in res.labels:
            path = ("metadata", "labels", USE_WAYPOINT_NS)
            yield _at(
                res,
                path,
                "istio.io/use-waypoint-namespace (cross-namespace waypoint)",
                (1, 23, 0),
                v,
            )


def _service_entry(graph: MeshGraph, se: Resource, v: Version) -> Iterator[Finding]:
    if istio.resolution(se) == "DYNAMIC_DNS" and v < (1, 28, 0):
        yield _at(se, ("spec", "resolution"), "resolution: DYNAMIC_DNS", (1, 28, 0), v)
    b = graph.binding(se)
    ambient = (b is not None and not b.opted_out) or graph.is_ambient_namespace(se.namespace)
    if ambient and v < (1, 30, 0):
        for i, addr in enumerate(as_list(se.spec.get("addresses"))):
            if isinstance(addr, str) and "/" in addr:
                yield _at(
                    se, ("spec", "addresses", i), f"CIDR address {addr} in ambient", (1, 30, 0), v
                )
    if graph.mode_of(se) == ISTIO_WAYPOINT and v < (1, 24, 3) and b is not None:
        yield _vendor_minimum(b.owner, b.label_path, v)


def _vendor_minimum(owner: Resource, path: tuple[Any, ...], v: Version) -> Finding:
    finding = RULE.at(
        owner,
        path,
        f"{owner.ref} sends egress through an istio-waypoint; the vendor's egress documentation "
        f"states Istio 1.24.3 as the minimum for this, and the target is "
        f"{modes.version_text(v)}. Upstream Istio binds ServiceEntries to waypoints in earlier "
        "releases: check your distribution's requirement.",
    )
    finding.level = "note"
    return finding


def _policy(ap: Resource, v: Version) -> Iterator[Finding]:
    if v >= (1, 24, 0) or not modes.has_target_refs(ap):
        return
    for path, ref in modes.target_refs(ap):
        if ref.get("kind") == "ServiceEntry":
            yield _at(ap, path, "a targetRef to a ServiceEntry", (1, 24, 0), v)
    for r, rule in enumerate_maps(ap.spec.get("rules")):
        for w, cond in enumerate_maps(rule.get("when")):
            if cond.get("key") == "connection.sni":
                path = ("spec", "rules", r, "when", w, "key")
                yield _at(ap, path, "connection.sni at a waypoint", (1, 24, 0), v)


def _solo_gateways(graph: MeshGraph, v: Version) -> Iterator[Finding]:
    if v >= (1, 30, 0):
        return
    for gw in modes.gateways_of_class(graph, ZTUNNEL_EGRESS, "enterprise-agentgateway-waypoint"):
        cls = graph.gateway_class(gw)
        yield _at(gw, ("spec", "gatewayClassName"), f"{cls} egress (vendor's Istio)", (1, 30, 0), v)


def check(ctx: Context) -> Iterator[Finding]:
    graph, v = ctx.graph, ctx.istio_version
    yield from _labels(graph, v)
    for se in graph.of_kind("ServiceEntry"):
        yield from _service_entry(graph, se, v)
    for ap in graph.of_kind("AuthorizationPolicy"):
        yield from _policy(ap, v)
    yield from _solo_gateways(graph, v)
