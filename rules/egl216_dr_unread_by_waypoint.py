"""A DestinationRule sets TLS origination or a traffic policy for a waypoint-bound host, but the
waypoint never reads it, so its settings do nothing.

**Why it matters.** In ambient mode the waypoint is the only proxy on the way to an external
host (ztunnel reads no DestinationRule), and it looks a rule up as istiod does for its inbound
side: in the waypoint's own namespace, else in the ServiceEntry's namespace, else in the root
namespace `istio-system`, each time only rules exported to the waypoint's namespace; within
that namespace the most specific host wins, and rules of two namespaces are never merged
(`PushContext.destinationRule`, pilot/pkg/model/push_context.go). A rule with a
`workloadSelector` never applies at a waypoint: its clusters ask for the inbound direction,
where selectors are not honoured (`SidecarScope.DestinationRule`, pilot/pkg/model/sidecar.go;
`buildWaypointInboundVIP`, pilot/pkg/networking/core/cluster_waypoint.go). Checked at Istio
1.24.0 to 1.30.3. A rule an application team writes in its own namespace, or one hidden by
`exportTo`, or one shadowed by a rule in the waypoint's namespace, is read by nobody: its TLS
origination, connection pool, outlier detection or load balancing settings never take effect.

**When it fires.** For a DestinationRule with a `trafficPolicy` (or a subset with one) whose
host only matches ServiceEntries bound to Envoy waypoints (with a VIP ztunnel can capture), when
for none of those ServiceEntries' hosts the waypoint reads it. Warning; a note where the view
has sidecar-injected namespaces, or the rule's namespace is not in the view (a sidecar there
would read it). Not reported here: rules in sidecar-injected namespaces (sidecars read them);
ServiceEntries without a waypoint, or behind `solo-ztunnel-egress` or an agentgateway
waypoint (which read no DestinationRule: EGL402, EGL404), or without a VIP (EGL110); and a rule
that would originate TLS for an HTTP port sent to `targetPort: 443` where the waypoint reads no
other: EGL201 reports that port and names the rule.

**How to fix.** As the message says: move the rule into the waypoint's namespace, export it to
that namespace, drop the `workloadSelector`, or move its settings into the rule the waypoint
uses.

Sources: the istio/istio files named above; istio.io "Egress gateways" (ambient).
"""

from collections.abc import Iterator
from dataclasses import dataclass

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, reach
from egresslint.mesh.graph import ROOT_NAMESPACE, MeshGraph, exported_to
from egresslint.mesh.selectors import fqdn, host_matches
from egresslint.model import Finding, Path, Related, Resource, as_map, enumerate_maps

RULE = Rule(
    id="EGL216",
    name="dr-unread-by-waypoint",
    tag="unreachable",
    level="warning",
    summary="DestinationRule for a waypoint-bound host that the waypoint never reads.",
    kinds=("DestinationRule", "ServiceEntry", "Gateway"),
)

_TLS_SET = frozenset({*istio.ORIGINATING_TLS, "ISTIO_MUTUAL"})


@dataclass(frozen=True)
class _Miss:
    """One ServiceEntry host whose waypoint does not read the rule, and what it reads."""

    se: Resource
    host: str
    waypoint_ns: str
    waypoint: str
    used: tuple[Resource, ...]


def _has_policy(dr: Resource) -> bool:
    if as_map(dr.spec.get("trafficPolicy")):
        return True
    return any(as_map(s.get("trafficPolicy")) for _, s in enumerate_maps(dr.spec.get("subsets")))


def _sets_tls(dr: Resource, number: int | None) -> bool:
    found = istio.tls_for_port(dr, number)
    return found is not None and istio.tls_mode(found[0]) in _TLS_SET


def _egl201_names(graph: MeshGraph, dr: Resource, se: Resource, ns: str) -> bool:
    """EGL201 reports a port of ``se`` that sends plain HTTP to a TLS port with no origination
    the waypoint reads, and names ``dr`` as the rule that would originate it."""
    if reach.backend_tls_policy(graph, se):
        return False
    applied = {h: graph.waypoint_destination_rules(se, h, ns) for h in graph.se_hosts(se)}
    for _, port in graph.ports(se):
        number, target = istio.port_number(port), port.get("targetPort")
        if not istio.is_http(port) or target not in istio.TLS_PORTS or target == number:
            continue
        lacking = any(not any(_sets_tls(d, number) for d in drs) for drs in applied.values())
        if lacking and _sets_tls(dr, number):
            return True
    return False


def _misses(graph: MeshGraph, dr: Resource) -> list[_Miss] | None:
    """Where the rule would apply and the waypoint does not read it; None when some proxy may
    read it, or another rule reports the case."""
    host = dr.spec.get("host")
    ses = graph.service_entries_for(dr)
    if not isinstance(host, str) or not ses:
        return None
    pattern = fqdn(host, dr.namespace)
    misses = []
    for se in ses:
        b = graph.binding(se)
        if b is None or b.opted_out or not reach.envoy_applies(graph, se):
            return None
        if reach.bound_without_vip(graph, se) is not None or _egl201_names(
            graph, dr, se, b.namespace
        ):
            return None
        for name in graph.se_hosts(se):
            if not host_matches(pattern, name):
                continue
            used = graph.waypoint_destination_rules(se, name, b.namespace)
            if dr in used:
                return None
            misses.append(_Miss(se, name, b.namespace, b.name, tuple(used)))
    return misses or None


def _reason(dr: Resource, miss: _Miss) -> tuple[Path, str, str]:
    """The field to change, why the waypoint skips the rule, and the fix."""
    wp = miss.waypoint_ns
    lookup = (wp, miss.se.namespace, ROOT_NAMESPACE)
    if dr.namespace not in lookup:
        path: Path = ("metadata", "namespace") if "namespace" in dr.metadata else ("metadata",)
        return (
            path,
            f"a waypoint reads DestinationRules from its own namespace ({wp}), else the "
            f"ServiceEntry's ({miss.se.namespace}), else {ROOT_NAMESPACE}, never from namespace "
            f"{dr.namespace}",
            f"Move the rule into namespace {wp}.",
        )
    if dr.namespace != wp and not exported_to(dr, wp):
        return (
            ("spec", "exportTo"),
            f"its exportTo does not include the waypoint's namespace {wp}",
            f"Export it to namespace {wp} (or '*').",
        )
    if dr.spec.get("workloadSelector"):
        return (
            ("spec", "workloadSelector"),
            "a waypoint never applies a DestinationRule with a workloadSelector",
            "Remove the workloadSelector.",
        )
    winners = ", ".join(d.ref for d in miss.used) or "another rule"
    return (
        ("spec", "host"),
        f"it uses {winners} for {miss.host} (a nearer namespace or a more specific host), and "
        "rules are not merged across namespaces",
        "Move these settings into the rule the waypoint uses.",
    )


def _what(dr: Resource) -> str:
    found = istio.tls_for_port(dr, None)
    if found is not None and istio.tls_mode(found[0]) in istio.ORIGINATING_TLS:
        return f"TLS origination (mode {istio.tls_mode(found[0])})"
    policy = as_map(dr.spec.get("trafficPolicy"))
    for _, setting in enumerate_maps(policy.get("portLevelSettings")):
        if istio.tls_mode(as_map(setting.get("tls"))) in istio.ORIGINATING_TLS:
            return "TLS origination"
    return "a traffic policy"


def _sure(graph: MeshGraph, dr: Resource, miss: _Miss) -> bool:
    """No sidecar can read the rule instead: no sidecar namespace in the view, and the rule's
    namespace is in it (or is the ServiceEntry's or the waypoint's)."""
    sidecars = graph.memo(
        "EGL216.sidecars",
        lambda: any(graph.is_sidecar_namespace(n.name) for n in graph.of_kind("Namespace")),
    )
    known = graph.namespace(dr.namespace) is not None or dr.namespace in (
        miss.se.namespace,
        miss.waypoint_ns,
    )
    return not sidecars and known


def _finding(graph: MeshGraph, dr: Resource, miss: _Miss) -> Finding:
    path, why, fix = _reason(dr, miss)
    rel: list[Related] = [related(miss.se, ("spec", "hosts"), "bound to the waypoint")]
    rel += [related(d, ("spec", "host"), "the rule the waypoint reads") for d in miss.used]
    finding = RULE.at(
        dr,
        path,
        f"{dr.ref} sets {_what(dr)} for {miss.host}, but waypoint {miss.waypoint_ns}/"
        f"{miss.waypoint}, which {miss.se.ref} egresses through, never reads it: {why}. Its "
        f"settings do nothing. {fix}",
        rel,
    )
    if not _sure(graph, dr, miss):
        finding.level = "note"
    return finding


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for dr in graph.of_kind("DestinationRule"):
        if not _has_policy(dr) or graph.is_sidecar_namespace(dr.namespace):
            continue
        misses = _misses(graph, dr)
        if misses:
            yield _finding(graph, dr, misses[0])
