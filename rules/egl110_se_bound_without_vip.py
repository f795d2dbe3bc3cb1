"""A ServiceEntry bound to a waypoint gets no virtual IP that its clients resolve, so ztunnel
cannot recognise its traffic and it bypasses the waypoint.

**Why it matters.** ztunnel sends a connection to the waypoint only when the destination address
matches a service it knows. For a ServiceEntry that address is a VIP: listed in `addresses`, or
auto-allocated by istiod and handed to the client by ztunnel's DNS proxy (ambient DNS capture).
Istio allocates none for `resolution: NONE`, for wildcard hosts (unless `DYNAMIC_DNS`), when the
ServiceEntry carries `networking.istio.io/enable-autoallocate-ip: "false"`, or when
auto-allocation is off; and without DNS capture the client never learns the VIP. The client then
connects to the real IP, which matches nothing, and ztunnel passes the connection through
directly: the `istio.io/use-waypoint` label has no effect.

**When it fires.** For ServiceEntries bound to a waypoint (own or namespace label, not `none`),
outside sidecar-injected namespaces, without `addresses`, when one of the conditions above holds.
Auto-allocation (`PILOT_ENABLE_IP_AUTOALLOCATE`, istiod) and ambient DNS capture (istio-cni
`ambient.dnsCapture`) follow `--istio-version`: both are off by default before 1.25 and on from
1.25, unless install values in the repository (Helm values, or `spec.values` of an
`IstioOperator`, Sail `Istio` or `IstioCNI`) set them, or select `compatibilityVersion: 1.24`
(which turns both off). A setting that turns one off is reported once, at the setting. From 1.25
a pod can opt out of DNS capture with the annotation `ambient.istio.io/dns-capture: "false"`:
that breaks egress waypoints for the pod, reported on the workload (ambient pods only, when some
waypoint-bound ServiceEntry relies on an auto-allocated VIP).

**How to fix.** Use `resolution: DNS` (from 1.25, or with both features on), or `DYNAMIC_DNS` for
wildcard hosts (Istio 1.28+, where validation accepts it), or list the destination's
addresses/CIDRs in `addresses`; remove the auto-allocation opt-out label or the DNS capture
opt-out annotation; before 1.25 turn on `PILOT_ENABLE_IP_AUTOALLOCATE` and `ambient.dnsCapture`.

Sources (istio/istio): `pilot/pkg/features/pilot.go` (`PILOT_ENABLE_IP_AUTOALLOCATE` defaults to
false at 1.24.0, true at 1.25.0-1.30.3); `manifests/charts/istio-cni/values.yaml`
(`ambient.dnsCapture` false at 1.24.0, true at 1.25.0-1.30.3);
`manifests/helm-profiles/compatibility-version-1.24.yaml` (1.25.0: both off);
`pilot/pkg/networking/serviceentry/ip_autoallocation.go` (no allocation for NONE, the opt-out
label or explicit addresses; 1.24.0-1.30.3); `pilot/pkg/serviceregistry/ambient/services.go`
(1.30.3; no VIP for wildcard hosts unless DYNAMIC_DNS); `cni/pkg/nodeagent/net.go` (the pod
annotation, read from 1.25.0; absent at 1.24.0); istio/api `annotation/annotations.gen.go`
(`ambient.istio.io/dns-capture`: "setting this to false will break ... ServiceEntries and egress
waypoints"); release note 54935 (1.25); istio/ztunnel `src/proxy/outbound.rs` (passthrough of
unknown addresses, 1.24.0 and 1.30.3); istio/istio#54981, #54896.
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, reach
from egresslint.mesh.graph import MeshGraph, Workload
from egresslint.model import Finding, Resource, ValuesDoc, listed

RULE = Rule(
    id="EGL110",
    name="se-bound-without-vip",
    tag="bypass",
    level="warning",
    summary="Waypoint-bound ServiceEntry without a VIP its clients resolve: ztunnel cannot capture it.",
    kinds=("ServiceEntry", "Deployment", "StatefulSet", "DaemonSet", "Pod"),
    security_severity="7.0",
)

_DIRECT = (
    "clients resolve the real IP, ztunnel matches nothing and sends the traffic directly, "
    "bypassing the waypoint"
)
_TURN_ON = (
    "turn on PILOT_ENABLE_IP_AUTOALLOCATE (istiod) and ambient DNS capture (istio-cni "
    "ambient.dnsCapture), the defaults from Istio 1.25"
)


def _wildcards(se: Resource, graph: MeshGraph) -> list[str]:
    return [h for h in graph.se_hosts(se) if h.startswith("*")]


def _fixes(ctx: Context, se: Resource, path: tuple[object, ...]) -> str:
    """What makes a VIP, without proposing what validation or another rule rejects: DYNAMIC_DNS
    only where validation at the target version accepts it, and resolution DNS together with
    turning capture on where it is off."""
    graph, version = ctx.graph, ctx.istio_version
    if "enable-autoallocate-ip" in str(path[-1]):
        fix = "remove the opt-out label"
    elif not _wildcards(se, graph):
        fix = "use resolution: DNS"
    elif bypass.dynamic_dns_accepted(se, version, graph.se_hosts(se)):
        fix = "use resolution: DYNAMIC_DNS"
    else:
        fix = "list the concrete host names with resolution: DNS"
    if bypass.capture_off(graph, version):
        fix += f" and {_TURN_ON}"
    return f"{fix[0].upper()}{fix[1:]}, or list the destination addresses in 'addresses'."


def _no_vip(ctx: Context, se: Resource) -> Finding | None:
    found = reach.bound_without_vip(ctx.graph, se)
    if found is None:
        return None
    binding, why, path = found
    return RULE.at(
        se,
        path,
        f"{se.ref} is bound to waypoint '{binding.name}' but {why} and lists no addresses: "
        f"{_DIRECT}. {_fixes(ctx, se, path)}",
    )


def _reason(off: list[bypass.Switch]) -> str:
    if len(off) == 2 and all(s.setting is None for s in off):
        return (
            "before Istio 1.25 neither IP auto-allocation nor ambient DNS capture is on by default"
        )
    return "; ".join(s.why for s in off)


def _default_off(se: Resource, binding_name: str, off: list[bypass.Switch]) -> Finding:
    return RULE.at(
        se,
        ("spec",),
        f"{se.ref} is bound to waypoint '{binding_name}' and lists no addresses, but "
        f"{_reason(off)}, so it gets no VIP its clients resolve: {_DIRECT}. List the "
        f"destination addresses in 'addresses', or {_TURN_ON}.",
    )


def _setting(switch: bypass.Switch, ses: list[Resource]) -> Finding:
    setting = switch.setting
    assert setting is not None
    hosts = listed(h for se in ses for h in MeshGraph.se_hosts(se))
    message = (
        f"{switch.why}, so the waypoint-bound ServiceEntries that rely on an auto-allocated VIP "
        f"({hosts}) are not captured: {_DIRECT}. Turn it on, or list the destinations' addresses "
        "in each ServiceEntry's 'addresses'."
    )
    rel = [related(se, ("metadata",), "relies on an auto-allocated VIP") for se in ses[:10]]
    owner = setting.owner
    if isinstance(owner, ValuesDoc):
        return Finding(
            RULE.id, message, owner.file, owner.locate(setting.path), None, setting.path, tuple(rel)
        )
    return RULE.at(owner, setting.path, message, rel)


def _annotated_off(wl: Workload) -> bool:
    path = (*wl.template_path, "metadata", "annotations", bypass.DNS_CAPTURE_ANNOTATION)
    return bypass.parse_bool(wl.resource.get(*path)) is False


def _annotations(graph: MeshGraph, ses: list[Resource]) -> Iterator[Finding]:
    """Ambient workloads whose pods opt out of DNS capture (read by istio-cni since 1.25)."""
    hosts = listed(h for se in ses for h in graph.se_hosts(se))
    for wl in graph.workloads():
        if (
            bypass.is_waypoint_pod(wl)
            or not bypass.pod_ambient(graph, wl)
            or not _annotated_off(wl)
        ):
            continue
        yield RULE.at(
            wl.resource,
            (*wl.template_path, "metadata", "annotations", bypass.DNS_CAPTURE_ANNOTATION),
            f"{wl.resource.ref} turns ambient DNS capture off for its pods "
            f'({bypass.DNS_CAPTURE_ANNOTATION}: "false"): they resolve external hosts to their '
            f"real IPs, which match no ServiceEntry VIP, so ztunnel sends their traffic for "
            f"waypoint-bound hosts ({hosts}) directly, bypassing the waypoint. Remove the "
            "annotation, or list the destinations' addresses in those ServiceEntries.",
            [related(se, ("metadata",), "relies on an auto-allocated VIP") for se in ses[:5]],
        )


def _settings(off: list[bypass.Switch], ses: list[Resource]) -> Iterator[Finding]:
    seen: set[tuple[int, tuple[object, ...]]] = set()
    for switch in off:
        setting = switch.setting
        if setting is None or (id(setting.owner), setting.path) in seen:
            continue
        seen.add((id(setting.owner), setting.path))
        yield _setting(switch, ses)


def check(ctx: Context) -> Iterator[Finding]:
    graph, version = ctx.graph, ctx.istio_version
    off = bypass.capture_off(graph, version)
    explicit = any(s.setting is not None for s in off)
    relying: list[Resource] = []
    for se in graph.of_kind("ServiceEntry"):
        found = _no_vip(ctx, se)
        if found is not None:
            yield found
            continue
        binding = bypass.relies_on_vip(graph, se)
        if binding is None:
            continue
        relying.append(se)
        if off and not explicit:
            yield _default_off(se, binding.name, off)
    if relying and explicit:
        yield from _settings(off, relying)
    dns = bypass.dns_capture(graph, version)
    if relying and dns.on and version >= bypass.CAPTURE_DEFAULTS_SINCE:
        yield from _annotations(graph, relying)
