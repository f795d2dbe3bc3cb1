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
| AuthorizationPolicy `from.source.serviceAccounts` / `notServiceAccounts`, `when` key `source.serviceAccount` | 1.25 |
| `resolution: DYNAMIC_DNS` (wildcard ServiceEntry at a waypoint) | 1.28 |
| `resolution: NONE` with `addresses` and no waypoint, in ambient (a PASSTHROUGH service) | 1.28 |
| `BackendTLSPolicy` with a `targetRefs` entry of kind `ServiceEntry` | 1.28 |
| CIDR `addresses` in a ServiceEntry used by ambient | 1.30 |
| AuthorizationPolicy `from.source.trustDomains` / `notTrustDomains`, `when` key `source.trustDomain` (a note for a 1.30.0 or 1.30.1 target: `--istio-version 1.30` names no patch) | 1.30.2 |
| `solo-ztunnel-egress` / `enterprise-agentgateway-waypoint` egress (the vendor's) | 1.30 |
| mesh config `serviceEntryVisibility` (Helm values, IstioOperator, Sail `Istio`, the `istio` ConfigMap) | 1.31 |

What an older release does instead: before 1.25 (and 1.30.2) istiod does not know the
AuthorizationPolicy attribute and skips the rule holding it (`pilot/pkg/security/authz/model/
model.go` at 1.24.6 has no `source.serviceAccount`, 1.25.0 has it; `source.trustDomain` first
appears at 1.30.2: PR #54091; release note add-trust-domains-to-authz-policy, 1.30.2). Before
1.28 ztunnel gets a `resolution: NONE` ServiceEntry as a VIP without endpoints, and a client not
sent to a waypoint fails with "no healthy upstream" (release note 57656, 1.28: NONE becomes a
PASSTHROUGH service). Before 1.28 Istio ignores a `BackendTLSPolicy` that targets a ServiceEntry
(release note backend-tls-policy-serviceentry-support, 1.28; #57521). `serviceEntryVisibility`
is absent from pilot/ and pkg/ at 1.30.3 and present at 1.31.0-rc.0 (release note
60870-serviceentry-visibility). IP auto-allocation and ambient DNS capture, on by default from
1.25, are EGL110's and EGL207's to check by version.

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
50933, 53588, se-wildcard-host; PR #51846; #59797), and those named above (istio/istio
`releasenotes/notes/` at the release tags); Solo "Egress approaches" overview.
"""

from collections.abc import Iterator
from typing import Any

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import bypass, istio, modes
from egresslint.mesh.graph import (
    ISTIO_WAYPOINT,
    ROOT_NAMESPACE,
    USE_WAYPOINT_NS,
    ZTUNNEL_EGRESS,
    MeshGraph,
)
from egresslint.model import Finding, Path, Resource, ValuesDoc, as_list, as_map, enumerate_maps

RULE = Rule(
    id="EGL411",
    name="feature-needs-newer-istio",
    tag="unsupported-feature",
    level="warning",
    summary="An egress feature needs a newer Istio than --istio-version.",
    kinds=(
        "ServiceEntry",
        "AuthorizationPolicy",
        "Gateway",
        "Namespace",
        "BackendTLSPolicy",
        "IstioOperator",
        "Istio",
        "ConfigMap",
    ),
)

Version = tuple[int, int, int]
PASSTHROUGH_SINCE: Version = (1, 28, 0)
BACKEND_TLS_SE_SINCE: Version = (1, 28, 0)
VISIBILITY_SINCE: Version = (1, 31, 0)
VISIBILITY = "serviceEntryVisibility"
# AuthorizationPolicy attributes by the first release that knows them (egresslint/mesh/istio.py).
_SOURCE_FIELDS_SINCE: dict[str, Version] = {
    "serviceAccounts": (1, 25, 0),
    "notServiceAccounts": (1, 25, 0),
    "trustDomains": (1, 30, 2),
    "notTrustDomains": (1, 30, 2),
}
_WHEN_KEYS_SINCE: dict[str, Version] = {
    "source.serviceAccount": (1, 25, 0),
    "source.trustDomain": (1, 30, 2),
}


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
    if v < PASSTHROUGH_SINCE and (b is None or b.opted_out):
        yield from _passthrough(graph, se, v)


def _passthrough(graph: MeshGraph, se: Resource, v: Version) -> Iterator[Finding]:
    """resolution NONE with addresses and no waypoint, where ambient clients may call it."""
    if istio.resolution(se) != "NONE" or not as_list(se.spec.get("addresses")):
        return
    if graph.is_sidecar_namespace(se.namespace) or not bypass.ambient_app_namespaces(graph):
        return
    path = ("spec", "resolution") if "resolution" in se.spec else ("spec", "addresses")
    finding = _at(
        se,
        path,
        "resolution NONE with addresses and no waypoint in ambient (a passthrough service; "
        "before 1.28 ztunnel has its VIP without endpoints and calls fail with no healthy "
        "upstream)",
        PASSTHROUGH_SINCE,
        v,
    )
    yield finding


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


def _patch_gate(finding: Finding, since: Version, v: Version) -> Finding:
    """A gate inside the target's own minor line (1.30.2 for a 1.30 target) is a note: the
    target names no patch release more often than it means the .0 one."""
    if since[:2] == v[:2]:
        finding.level = "note"
    return finding


def _attributes(ap: Resource, v: Version) -> Iterator[Finding]:
    """``from.source`` fields and ``when`` keys istiod of ``v`` does not know yet."""
    for r, rule in enumerate_maps(ap.spec.get("rules")):
        base = ("spec", "rules", r)
        for f, frm in enumerate_maps(rule.get("from")):
            source = as_map(frm.get("source"))
            for name, since in _SOURCE_FIELDS_SINCE.items():
                if name in source and v < since:
                    path = (*base, "from", f, "source", name)
                    found = _at(ap, path, f"from.source.{name}", since, v)
                    yield _patch_gate(found, since, v)
        for w, cond in enumerate_maps(rule.get("when")):
            key = cond.get("key")
            needs = _WHEN_KEYS_SINCE.get(key) if isinstance(key, str) else None
            if needs is not None and v < needs:
                found = _at(ap, (*base, "when", w, "key"), f"the when key {key}", needs, v)
                yield _patch_gate(found, needs, v)


def _policy(ap: Resource, v: Version) -> Iterator[Finding]:
    yield from _attributes(ap, v)
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


def _backend_tls(graph: MeshGraph, v: Version) -> Iterator[Finding]:
    if v >= BACKEND_TLS_SE_SINCE:
        return
    for pol in graph.of_kind("BackendTLSPolicy"):
        for i, ref in enumerate_maps(pol.spec.get("targetRefs")):
            if ref.get("kind") == "ServiceEntry":
                path = ("spec", "targetRefs", i, "kind")
                yield _at(pol, path, "a BackendTLSPolicy targeting a ServiceEntry", (1, 28, 0), v)


def _visibility_settings(graph: MeshGraph) -> Iterator[tuple[Resource | ValuesDoc, Path]]:
    """Mesh config setting serviceEntryVisibility: Helm values, IstioOperator, Sail Istio, and
    the root namespace's istio ConfigMaps (by the key in their mesh text)."""
    for doc in graph.values_documents():
        if VISIBILITY in as_map(doc.get("meshConfig")):
            yield doc, ("meshConfig", VISIBILITY)
    for res in graph.of_kind("IstioOperator", "Istio"):
        base = (
            ("spec", "meshConfig")
            if res.kind == "IstioOperator"
            else ("spec", "values", "meshConfig")
        )
        if VISIBILITY in as_map(res.get(*base)):
            yield res, (*base, VISIBILITY)
    for cm in graph.in_namespace("ConfigMap", ROOT_NAMESPACE):
        text = cm.get("data", "mesh")
        istio_cm = cm.name == "istio" or cm.name.startswith("istio-")
        if istio_cm and isinstance(text, str) and f"{VISIBILITY}:" in text:
            yield cm, ("data", "mesh")


def _visibility(graph: MeshGraph, v: Version) -> Iterator[Finding]:
    if v >= VISIBILITY_SINCE:
        return
    feature = f"meshConfig.{VISIBILITY}"
    for owner, path in _visibility_settings(graph):
        message = (
            f"{owner.ref} sets {feature}, which needs Istio {modes.version_text(VISIBILITY_SINCE)} "
            f"or later; the target is {modes.version_text(v)}: older istiod does not know it, "
            "and ambient ignores ServiceEntry exportTo (EGL112). Upgrade Istio, or restrict "
            "callers with an AuthorizationPolicy at the waypoint."
        )
        if isinstance(owner, ValuesDoc):
            yield Finding(RULE.id, message, owner.file, owner.locate(path), None, path)
        else:
            yield RULE.at(owner, path, message)


def check(ctx: Context) -> Iterator[Finding]:
    graph, v = ctx.graph, ctx.istio_version
    yield from _labels(graph, v)
    for se in graph.of_kind("ServiceEntry"):
        yield from _service_entry(graph, se, v)
    for ap in graph.of_kind("AuthorizationPolicy"):
        yield from _policy(ap, v)
    yield from _solo_gateways(graph, v)
    yield from _backend_tls(graph, v)
    yield from _visibility(graph, v)
