"""What a bypass or unreachable finding is about, for comparing findings with the reachability
model (tests/test_reachability.py): the external hosts (or the unregistered destination) and
the client namespaces it concerns.

"Corresponds", precisely: a finding of a counted rule concerns a set of destinations (external
hosts, or "any unregistered external address") and, where the finding is about some clients
only, a set of client namespaces. It corresponds to a pair when the pair's destination host is
one of those hosts (a host matches itself; a finding about a wildcard host matches the same
wildcard destination) and, where the finding names namespaces, the pair's client is in one of
them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from egresslint.mesh import gateways
from egresslint.mesh.graph import USE_WAYPOINT, MeshGraph
from egresslint.mesh.reachability import UNREGISTERED
from egresslint.model import Finding, Resource

# ---- which rules count, and why the others do not ---------------------------------------------
# Bypass findings that say traffic to a host (or to any unregistered address) goes around the
# egress proxy: each must match a pair whose path goes around the proxy, and every pair with
# verdict bypass must be matched by one of them.
BYPASS_RULES = {
    "EGL101": "a MESH_EXTERNAL ServiceEntry has no effective waypoint",
    "EGL102": "the binding names a waypoint that does not exist",
    "EGL103": "the waypoint refuses a cross-namespace binding",
    "EGL104": "the waypoint does not take service traffic",
    "EGL105": "a waypoint without HBONE listener refuses bindings from other namespaces",
    "EGL106": "ambient pods may open external addresses directly",
    "EGL107": "a NetworkPolicy opens the internet to ambient pods",
    "EGL108": "a policy allow-lists pods that ztunnel does not capture",
    "EGL110": "ztunnel cannot capture a waypoint-bound host (no VIP)",
    "EGL113": "REGISTRY_ONLY is relied on, but ztunnel passes unregistered hosts through",
    "EGL114": "a policy targets a ServiceEntry without effective waypoint",
    "EGL115": "mesh clients reach a host an explicit egress gateway carries without it",
    "EGL121": "an ambient namespace is sidecar-injected: its pods' sidecars send directly",
}
# Rules that judge every path of clients outside ztunnel capture in a namespace: pairs of such
# clients count for the converse check only where one of these speaks of them.
CLIENT_RULES = ("EGL115", "EGL121")
# Findings that say a path cannot work: each must match a pair with verdict unreachable, and
# every unreachable pair must be matched by one. EGL301/EGL302 are tagged waypoint-restricted
# but say the same of the waypoint's own network.
UNREACHABLE_RULES = {
    "EGL201": "TLS origination and the port's target disagree",
    "EGL202": "TLS originated over the client's TLS",
    "EGL205": "STATIC resolution without endpoints",
    "EGL206": "DNS_ROUND_ROBIN with several endpoints: Istio rejects the ServiceEntry",
    "EGL211": "an ALLOW policy without rules allows nothing",
    "EGL213": "the client's NetworkPolicy blocks HBONE to the waypoint",
    "EGL301": "the waypoint's NetworkPolicy cuts it off from the host",
    "EGL302": "the waypoint's pods do not accept HBONE",
}
# unsupported-feature findings that say the same of one path: a DestinationRule's TLS
# origination that the proxy on the path does not apply (ztunnel egress, agentgateway), so the
# plain HTTP the client sends to a TLS targetPort arrives as plaintext (counted only for their
# findings on a DestinationRule's tls block).
ALSO_UNREACHABLE = {
    "EGL402": "the vendor's ztunnel egress does not originate TLS",
    "EGL404": "an agentgateway waypoint does not apply DestinationRule",
}
LEFT_OUT = {
    "EGL109": "a wildcard host admits every subdomain: the path is controlled, only broad",
    "EGL119": "VirtualService routes a waypoint drops or hides: the traffic still passes the "
    "waypoint (the model does not follow routes)",
    "EGL111": "no policy at the waypoint: the path is controlled, by default allow (the "
    "authorization step says so; test_default_allow_matches_egl111 checks it)",
    "EGL112": "exportTo is ignored in ambient: a scoping mistake, not a path",
    "EGL116": "allowedRoutes is not access control: the path is controlled",
    "EGL117": "which of several ServiceEntries wins depends on creation order, which Git does "
    "not show: the model takes the client namespace's own, else the first",
    "EGL120": "about the vendor's ztunnel egressPolicies backstop, which the model does not "
    "read (vendor values, not Istio's)",
    "EGL203": "a DestinationRule for a host no ServiceEntry registers: no registered "
    "destination to pair with",
    "EGL208": "HTTP attributes on opaque traffic: the model drops such ALLOW rules as Istio "
    "does, so the pair shows as denied by default deny",
    "EGL209": "a source or operation that can never match: the model evaluates it the same, "
    "so the pair shows as denied",
    "EGL210": "a principal no workload runs as: the intended caller shows as denied",
    "EGL217": "a VirtualService route to a destination nothing defines: the model does not "
    "follow routes (the requests the route takes fail, not the path)",
    "EGL219": "a VirtualService route an earlier one shadows: routes are not modelled",
    "EGL220": "a source namespace that matches no namespace: the model evaluates it the same, "
    "so the intended callers show as denied",
    "EGL212": "a credentialName the waypoint cannot load: a Secret outside the view's "
    "judgement of paths (TLS origination fails at run time)",
    "EGL214": "implied ingress isolation of application pods: not an egress path (at a "
    "waypoint's pods EGL302 reports it)",
    "EGL215": "kubelet probes: not an egress path",
    "EGL216": "a DestinationRule the waypoint does not read changes nothing on the path",
    "EGL218": "a feature flag of istiod read from install values: not modelled",
}


@dataclass(frozen=True)
class Concern:
    """The destinations (hosts; ``UNREGISTERED`` for any unregistered address) and the client
    namespaces (None: any) a finding is about."""

    hosts: frozenset[str]
    namespaces: frozenset[str] | None = None


def _hosts(graph: MeshGraph, ses: Iterable[Resource]) -> frozenset[str]:
    return frozenset(
        h
        for se in ses
        if se.kind == "ServiceEntry" and graph.is_external(se)
        for h in graph.se_hosts(se)
    )


def _related(finding: Finding, kind: str) -> list[Resource]:
    return [r.resource for r in finding.related if r.resource.kind == kind]


def _binding_owner_hosts(graph: MeshGraph, owner: Resource) -> frozenset[str]:
    if owner.kind == "Namespace":
        inherit = [
            se
            for se in graph.in_namespace("ServiceEntry", owner.name)
            if USE_WAYPOINT not in se.labels
        ]
        return _hosts(graph, inherit)
    return _hosts(graph, [owner])


def _gateway_hosts(graph: MeshGraph, gw: Resource) -> frozenset[str]:
    return _hosts(graph, graph.bound_to(gw))


def _client_ns(res: Resource) -> str:
    return res.name if res.kind == "Namespace" else res.namespace


def _egl108(graph: MeshGraph, finding: Finding) -> Concern:
    policies = (
        [finding.resource]
        if finding.resource and finding.resource.kind == "AuthorizationPolicy"
        else []
    )
    policies += _related(finding, "AuthorizationPolicy")
    hosts: set[str] = set()
    for ap in policies:
        for target, _ in graph.policy_targets(ap):
            hosts |= (
                _gateway_hosts(graph, target)
                if target.kind == "Gateway"
                else _hosts(graph, [target])
            )
    assert finding.resource is not None
    if finding.resource.kind == "AuthorizationPolicy":
        namespaces = {r.resource.namespace for r in finding.related}
    else:
        namespaces = {_client_ns(finding.resource)}
    return Concern(frozenset(hosts), frozenset(namespaces))


def _egl121(graph: MeshGraph, finding: Finding) -> Concern | None:
    """Every destination, for the pods of the injected namespace."""
    res = finding.resource
    if res is None:
        return None
    every = {h for se in graph.of_kind("ServiceEntry") for h in _hosts(graph, [se])}
    return Concern(frozenset({*every, UNREGISTERED}), frozenset({_client_ns(res)}))


def _egl115(graph: MeshGraph, finding: Finding) -> Concern:
    """The carried hosts the namespace's pods reach around the gateway; for ambient pods not
    locked down (the finding on the namespace or workload says "no egress NetworkPolicy ...
    blocks TCP ..."), any unregistered address too: EGL106 leaves views without waypoints to
    EGL115, and the missing lock-down is the one cause of both paths."""
    res = finding.resource
    assert res is not None
    hosts = {
        c.host for se in _related(finding, "ServiceEntry") for c in gateways.carried_by(graph, se)
    }
    if res.kind != "NetworkPolicy" and "runs ambient" in finding.message:
        hosts.add(UNREGISTERED)
    return Concern(frozenset(hosts), frozenset({_client_ns(res)}))


def _bound_ses(graph: MeshGraph, finding: Finding) -> Concern | None:
    res = finding.resource
    if res is None:
        return None
    if finding.rule_id in ("EGL101", "EGL110") and res.kind == "ServiceEntry":
        return Concern(_hosts(graph, [res]))
    if finding.rule_id in ("EGL102", "EGL103"):
        return Concern(_binding_owner_hosts(graph, res))
    if finding.rule_id == "EGL110":  # a workload's DNS capture annotation
        return Concern(_hosts(graph, _related(finding, "ServiceEntry")), frozenset({res.namespace}))
    gw = res if res.kind == "Gateway" else _related(finding, "Gateway")[0]
    return Concern(_gateway_hosts(graph, gw))  # EGL104, EGL302


def _named_ses(graph: MeshGraph, finding: Finding) -> Concern | None:
    """EGL105 (bindings from other namespaces), EGL110 on install values, EGL114."""
    hosts = _hosts(graph, _related(finding, "ServiceEntry"))
    return Concern(hosts) if hosts else None


def _unregistered(graph: MeshGraph, finding: Finding) -> Concern | None:
    """EGL106 and EGL107 (for the namespace's pods), EGL113 (any ambient pod)."""
    res = finding.resource
    if finding.rule_id == "EGL113" or res is None:
        return Concern(frozenset({UNREGISTERED}))
    return Concern(frozenset({UNREGISTERED}), frozenset({_client_ns(res)}))


_SILENT_NOTES = ("EGL102", "EGL103", "EGL113", "EGL115")


def concern(graph: MeshGraph, finding: Finding) -> Concern | None:
    """What a counted finding is about; None for findings that speak of no path: notes that
    cannot tell (EGL102, EGL103), REGISTRY_ONLY where every ambient namespace is locked down
    anyway (EGL113), a waypoint that skips an explicit gateway (EGL115), a listener shape
    without bindings (EGL105)."""
    if finding.level == "note" and finding.rule_id in _SILENT_NOTES:
        return None
    rule = finding.rule_id
    if rule == "EGL110" and finding.resource is None:
        return _named_ses(graph, finding)
    handler = _HANDLERS.get(rule)
    return handler(graph, finding) if handler is not None else None


def _ignored_tls(graph: MeshGraph, finding: Finding) -> Concern | None:
    res = finding.resource
    if res is None or res.kind != "DestinationRule" or "tls" not in finding.path:
        return None
    return Concern(_hosts(graph, graph.service_entries_for(res)))


def _unreachable(graph: MeshGraph, finding: Finding) -> Concern | None:
    rule, res = finding.rule_id, finding.resource
    if res is None:
        return None
    if rule in ("EGL201", "EGL202", "EGL301"):
        ses = [res] if res.kind == "ServiceEntry" else _related(finding, "ServiceEntry")
        return Concern(_hosts(graph, ses))
    if rule in ("EGL205", "EGL206"):
        return Concern(_hosts(graph, [res]))
    if rule == "EGL211":
        targets = [r.resource for r in finding.related]
        hosts = {
            h
            for t in targets
            for h in (_gateway_hosts(graph, t) if t.kind == "Gateway" else _hosts(graph, [t]))
        }
        return Concern(frozenset(hosts))
    if rule == "EGL213":
        hosts = {h for gw in _related(finding, "Gateway") for h in _gateway_hosts(graph, gw)}
        return Concern(frozenset(hosts), frozenset({res.namespace}))
    return None


_HANDLERS = {
    "EGL101": _bound_ses,
    "EGL102": _bound_ses,
    "EGL103": _bound_ses,
    "EGL104": _bound_ses,
    "EGL105": _named_ses,
    "EGL106": _unregistered,
    "EGL107": _unregistered,
    "EGL108": _egl108,
    "EGL110": _bound_ses,
    "EGL113": _unregistered,
    "EGL114": _named_ses,
    "EGL115": _egl115,
    "EGL121": _egl121,
    **dict.fromkeys(UNREACHABLE_RULES, _unreachable),
    **dict.fromkeys(ALSO_UNREACHABLE, _ignored_tls),
    "EGL302": _bound_ses,
}
