"""The capture, registration, proxy and TLS steps of a reachability path.

Each function answers for one client and one destination from the judgements the rules
share, and cites the fields it rests on:

* capture: ``reachclients`` (istio-cni enrolment as ``bypass.pod_ambient`` reads it);
* registration: the ServiceEntry a client of the namespace uses, and whether ztunnel can
  capture it at all (a VIP: ``reach.bound_without_vip``, ``bypass.capture_off``, the pod's DNS
  capture annotation, EGL110); an unregistered address passes ztunnel as plain TCP
  (istio/ztunnel ``src/proxy/outbound.rs``), while a sidecar honours ``REGISTRY_ONLY``;
* proxy: the effective waypoint (``bypass.binding_problem``: EGL101-EGL105), explicit egress
  gateways and the mesh routes to them (``gateways``, EGL115). Sidecars do not send to
  waypoints: istiod gives waypoint endpoints only to gateways whose Service asks for them
  (``istio.io/ingress-use-waypoint``; ``RegisterEdsShim`` in
  pilot/pkg/serviceregistry/ambient/sidecar_interop.go, 1.30.3, and
  pilot/pkg/serviceregistry/kube/controller/ambient/sidecar_interop.go, 1.24.0);
* tls: the DestinationRule the proxy applies: a waypoint's (``MeshGraph.
  waypoint_destination_rules``), a sidecar's by the same namespace lookup from the client's
  namespace (rules with a ``workloadSelector`` left out), none at ztunnel, the vendor's ztunnel
  egress gateway or an agentgateway waypoint (EGL402, EGL404); and what EGL201 and EGL202 judge
  from it: TLS originated towards a plain-HTTP port or over the client's TLS, plain HTTP sent
  on to a TLS port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..model import Path, Resource, as_list
from . import bypass, gateways, istio, reach
from .graph import ROOT_NAMESPACE, ZTUNNEL_EGRESS, MeshGraph
from .reachclients import ClientInfo, DestinationInfo
from .reachtypes import Source, Step, source
from .selectors import host_matches

Version = tuple[int, int, int]
Entry = tuple[Resource, int | None]
TLS_PROTOCOLS = ("HTTPS", "TLS")
_TLS_SET = frozenset({*istio.ORIGINATING_TLS, "ISTIO_MUTUAL"})


@dataclass(frozen=True)
class Hop:
    """Where the traffic goes after capture: ``kind`` is ``waypoint`` (an Envoy or
    agentgateway waypoint, or the vendor's ztunnel egress gateway), ``outside`` (a waypoint
    the view does not hold), ``explicit`` (an explicit egress gateway reached directly by a
    sidecar) or ``direct``. ``gateway`` is the waypoint, ``explicit`` the explicit egress
    gateway behind it (or reached), ``ref`` names the proxy, ``namespace`` is where the
    waypoint lives (known also for one outside the view)."""

    kind: str
    step: Step
    gateway: Resource | None = None
    explicit: Resource | None = None
    ref: str = ""
    namespace: str = ""

    @property
    def proxy(self) -> Resource | None:
        return self.gateway or self.explicit


# ---- what a sidecar's namespace changes ------------------------------------------------------
def _sidecar_homes(graph: MeshGraph) -> frozenset[str]:
    """Namespaces whose Sidecar resources a sidecar may read (the root namespace's apply to
    every namespace)."""
    return frozenset(
        {ROOT_NAMESPACE, *(r.namespace for r in graph.resources if r.kind == "Sidecar")}
    )


def _exported(res: Resource, export: list[Any]) -> set[str]:
    return {res.namespace, *(e for e in export if isinstance(e, str))}


def sidecar_namespaces(graph: MeshGraph, dest: DestinationInfo) -> frozenset[str]:
    """The namespaces whose sidecars may see the destination otherwise than the rest: those
    holding Sidecar resources, the ServiceEntries that register it, or DestinationRules or
    routes for it, and those these rules and routes name in ``exportTo``. A sidecar's
    registration, proxy and TLS steps read its namespace only through these lookups and never
    name it, so that the sidecars of every other namespace share them (``sidecar_scope``)."""
    found = set(graph.memo("reach.sidecar_homes", lambda: _sidecar_homes(graph)))
    host = dest.destination.host
    for se, _ in dest.entries:
        found.add(se.namespace)
        for dr in graph.destination_rules_for(se):
            found |= _exported(dr, as_list(dr.spec.get("exportTo")))
        for c in _carried(graph, se, host):
            for r in gateways.routes_to(graph, gateways.gateway_of(graph, c), c.host):
                found |= _exported(r.resource, list(r.export_to))
    return frozenset(found)


OTHER = "\0"  # the scope of a namespace outside ``sidecar_namespaces`` (no namespace's name)


def sidecar_scope(namespaces: frozenset[str], namespace: str) -> str:
    """What a sidecar's lookups from ``namespace`` depend on: the namespace itself, or
    ``OTHER`` where it sees what every namespace outside ``namespaces`` sees."""
    return namespace if namespace in namespaces else OTHER


# ---- capture -----------------------------------------------------------------------------------
_CAPTURED = {
    "ztunnel": "ztunnel captures the traffic: the pods {why}",
    "sidecar": "the pods' sidecar takes the traffic: they {why}",
    "none": "nothing in the mesh sees the traffic: the pods {why}",
}


def capture(info: ClientInfo) -> Step:
    cap = info.client.capture
    text = _CAPTURED[cap].format(why=info.why)
    return Step("capture", text, "bypass" if cap == "none" else "pass", info.capture_sources)


# ---- registration ------------------------------------------------------------------------------
def host_path(graph: MeshGraph, se: Resource, host: str) -> Path:
    for i, name in enumerate(graph.se_hosts(se)):
        if name == host:
            return ("spec", "hosts", i)
    return ("spec", "hosts")


def port_of(se: Resource, index: int | None) -> Mapping[str, Any]:
    if index is None:
        return {}
    item = as_list(se.spec.get("ports"))[index]
    return item if isinstance(item, Mapping) else {}


def _registered_text(graph: MeshGraph, se: Resource, index: int | None, host: str) -> str:
    port = port_of(se, index)
    number = istio.port_number(port)
    what = host if number is None else f"{host} port {number}"
    proto = istio.protocol(port) or "unset (sniffed)"
    target = istio.target_port(port)
    to = f", targetPort {target}" if target is not None and target != number else ""
    return f"{se.ref} registers {what} (protocol {proto}{to}, resolution {istio.resolution(se)})"


def _registration_sources(
    graph: MeshGraph, se: Resource, index: int | None, host: str
) -> list[Source]:
    found = [source(se, host_path(graph, se, host), "registers the host")]
    if index is not None:
        found.append(source(se, ("spec", "ports", index), "the port"))
    return found


def dns_capture_off(graph: MeshGraph, info: ClientInfo, version: Version) -> list[Source]:
    """The pods' own ``ambient.istio.io/dns-capture: "false"`` (read by istio-cni since 1.25)."""
    if version < bypass.CAPTURE_DEFAULTS_SINCE or not bypass.dns_capture(graph, version).on:
        return []
    found = []
    for wl in info.pods:
        path = (*wl.template_path, "metadata", "annotations", bypass.DNS_CAPTURE_ANNOTATION)
        if bypass.parse_bool(wl.resource.get(*path)) is False:
            found.append(source(wl.resource, path, "turns DNS capture off for the pods"))
    return found


def _vip_problem(
    graph: MeshGraph, info: ClientInfo, se: Resource, version: Version
) -> tuple[str, list[Source]] | None:
    """Why ztunnel cannot capture a waypoint-bound ServiceEntry for these pods (EGL110)."""
    found = reach.bound_without_vip(graph, se)
    if found is not None:
        _, why, path = found
        return f"it {why} and lists no addresses", [source(se, path, "no VIP for ztunnel")]
    if bypass.relies_on_vip(graph, se) is None:
        return None
    off = bypass.capture_off(graph, version)
    if off:
        sources = [
            source(s.setting.owner, s.setting.path, "turns it off")
            for s in off
            if s.setting is not None
        ]
        return "; ".join(s.why for s in off) + ", so it gets no VIP clients resolve", sources
    annotated = dns_capture_off(graph, info, version)
    if annotated:
        return "the pods turn ambient DNS capture off and resolve its real IP", annotated
    return None


def _unusable(se: Resource) -> tuple[str, Path] | None:
    """A ServiceEntry Istio rejects or that has nowhere to send (EGL206, EGL205)."""
    resolution = istio.resolution(se)
    endpoints = as_list(se.spec.get("endpoints"))
    if resolution == "DNS_ROUND_ROBIN" and len(endpoints) > 1:
        why = "Istio rejects DNS_ROUND_ROBIN with several endpoints: the host stays unregistered"
        return why, ("spec", "endpoints", 1)
    if resolution == "STATIC" and not endpoints and not se.spec.get("workloadSelector"):
        return "STATIC resolution without endpoints has no address to send to", (
            "spec",
            "resolution",
        )
    return None


def registration(
    graph: MeshGraph, info: ClientInfo, dest: DestinationInfo, entry: Entry | None, version: Version
) -> Step:
    if entry is None:
        return _unregistered(graph, info)
    se, index = entry
    host = dest.destination.host
    text = _registered_text(graph, se, index, host)
    sources = _registration_sources(graph, se, index, host)
    rejected = _unusable(se)
    if rejected is not None:
        why, path = rejected
        return Step("registration", f"{text}, but {why}", "break", (source(se, path, why),))
    if info.client.capture == "ztunnel":
        problem = _vip_problem(graph, info, se, version)
        if problem is not None:
            why, more = problem
            return Step(
                "registration",
                f"{text}, but ztunnel cannot capture it: {why}",
                "bypass",
                tuple(sources + more),
            )
    return Step("registration", text, "pass", tuple(sources))


def _sidecar_registry_only(graph: MeshGraph, namespace: str) -> list[Source]:
    found = [
        source(sc, ("spec", "outboundTrafficPolicy", "mode"), "REGISTRY_ONLY for the sidecar")
        for ns in dict.fromkeys((namespace, ROOT_NAMESPACE))
        for sc in graph.in_namespace("Sidecar", ns)
        if not sc.spec.get("workloadSelector") and bypass.registry_only(sc.spec)
    ]
    found += [
        source(s.owner, s.path, "REGISTRY_ONLY mesh config")
        for s in bypass.registry_only_settings(graph)
    ]
    return found


def _unregistered(graph: MeshGraph, info: ClientInfo) -> Step:
    cap = info.client.capture
    if cap == "ztunnel":
        return Step(
            "registration",
            "no ServiceEntry registers it: ztunnel passes an unknown address through as plain "
            "TCP (it does not honour REGISTRY_ONLY)",
            "bypass",
        )
    if cap == "sidecar":
        strict = _sidecar_registry_only(graph, info.client.namespace)
        if strict:
            return Step(
                "registration",
                "no ServiceEntry registers it, and REGISTRY_ONLY makes the sidecar refuse it",
                "deny",
                tuple(strict),
            )
        return Step(
            "registration",
            "no ServiceEntry registers it: the sidecar passes it through (ALLOW_ANY, the default)",
            "bypass",
        )
    return Step("registration", "no ServiceEntry registers it (and nothing in the mesh looks)")


# ---- proxy ---------------------------------------------------------------------------------------
def _carried(graph: MeshGraph, se: Resource, host: str) -> list[gateways.Carried]:
    return [c for c in gateways.carried_by(graph, se) if host_matches(c.host, host)]


def _proxy_name(graph: MeshGraph, gw: Resource) -> str:
    cls = graph.gateway_class(gw)
    kind = "ztunnel egress gateway" if cls == ZTUNNEL_EGRESS else "waypoint"
    return f"{kind} {gw.ref} (class {cls or 'unset'})"


def _through_waypoint(
    graph: MeshGraph, se: Resource, host: str, gw: Resource
) -> tuple[str, list[Source], Resource | None]:
    b = graph.binding(se)
    assert b is not None
    how = "its namespace's" if b.inherited else "its"
    text = f"{_proxy_name(graph, gw)}: {how} istio.io/use-waypoint binds {se.ref} to it"
    sources = [
        source(b.owner, b.label_path, "binds the host to the waypoint"),
        source(gw, ("spec", "gatewayClassName"), "the egress proxy"),
    ]
    explicit = None
    for c in _carried(graph, se, host):
        route = gateways.waypoint_route(graph, c, gw)
        if route is not None:
            text += f", then explicit egress gateway {c.gateway.ref} ({route.resource.ref})"
            sources.append(source(route.resource, ("spec",), "sends the host to the gateway"))
            explicit = c.gateway
        else:
            text += (
                f"; it sends the host straight out, not to explicit egress gateway "
                f"{c.gateway.ref} (no mesh route it applies sends it there)"
            )
        break
    return text, sources, explicit


def _direct_binding(
    graph: MeshGraph, se: Resource, host: str, problem: bypass.BindingProblem, evidence: bool
) -> Hop:
    text = f"direct: {se.ref} {problem.what}"
    carried = _carried(graph, se, host)
    if carried:
        text += (
            f"; ztunnel applies no routes, so explicit egress gateway {carried[0].gateway.ref} "
            "is skipped"
        )
    if not evidence:
        text += " (the view shows no egress control)"
    sources = []
    if problem.owner is not None:
        sources.append(source(problem.owner, problem.path, "the binding that does not apply"))
    if problem.gateway is not None:
        adm = bypass.admission(graph, problem.gateway)
        sources.append(source(problem.gateway, adm.path(), "refuses the binding"))
    if not sources:
        sources.append(source(se, ("metadata",), "bound to no waypoint"))
    step = Step("proxy", text, "bypass", tuple(sources), refused_by=problem.gateway)
    return Hop("direct", step)


def ambient_proxy(graph: MeshGraph, se: Resource, host: str, evidence: bool) -> Hop:
    """The proxy an ambient client's traffic to the ServiceEntry's host goes through."""
    problem = bypass.binding_problem(graph, se)
    if problem is not None:
        return _direct_binding(graph, se, host, problem, evidence)
    b = graph.binding(se)
    assert b is not None  # binding_problem reports an unbound entry
    gw = graph.get("Gateway", b.namespace, b.name)
    if gw is None:
        status = graph.gateway_status(b.namespace, b.name)
        why = "declared external" if status == "external" else "its namespace is not in the view"
        ref = f"Gateway {b.namespace}/{b.name}"
        step = Step(
            "proxy",
            f"waypoint {ref}, outside the view ({why})",
            "pass",
            (source(b.owner, b.label_path, "binds the host to the waypoint"),),
        )
        return Hop("outside", step, ref=ref, namespace=b.namespace)
    text, sources, explicit = _through_waypoint(graph, se, host, gw)
    step = Step("proxy", text, "pass", tuple(sources))
    return Hop("waypoint", step, gw, explicit, gw.ref, gw.namespace)


def sidecar_proxy(graph: MeshGraph, se: Resource, host: str, namespace: str) -> Hop:
    for c in _carried(graph, se, host):
        route = gateways.sidecar_route(graph, c, namespace)
        if route is not None:
            text = (
                f"explicit egress gateway {c.gateway.ref}: {route.resource.ref} sends {host} there"
            )
            sources = (
                source(route.resource, ("spec",), "sends the host to the gateway"),
                source(c.gateway, ("metadata",), "the explicit egress gateway"),
            )
            return Hop(
                "explicit", Step("proxy", text, "pass", sources), None, c.gateway, c.gateway.ref
            )
    return Hop(
        "direct",
        Step(
            "proxy",
            "direct from the sidecar: sidecars do not send to waypoints (only gateways whose "
            "Service sets istio.io/ingress-use-waypoint do)",
            "bypass",
        ),
    )


def proxy(
    graph: MeshGraph, info: ClientInfo, dest: DestinationInfo, entry: Entry | None, evidence: bool
) -> Hop:
    cap = info.client.capture
    if entry is None or cap == "none":
        what = "no proxy sees the traffic" if cap == "none" else "nothing routes it to a proxy"
        return Hop("direct", Step("proxy", f"direct: {what}", "bypass"))
    se = entry[0]
    if cap == "sidecar":
        return sidecar_proxy(graph, se, dest.destination.host, info.client.namespace)
    return ambient_proxy(graph, se, dest.destination.host, evidence)


# ---- TLS -----------------------------------------------------------------------------------------
def _rules_at(
    graph: MeshGraph, se: Resource, host: str, hop: Hop, capture: str, namespace: str
) -> list[Resource] | None:
    """The DestinationRules the proxy on the path applies (None: no proxy applies any)."""
    if hop.kind in ("waypoint", "outside"):
        if not reach.envoy_applies(graph, se):
            return None
        return graph.waypoint_destination_rules(se, host, hop.namespace)
    if capture == "sidecar":  # istiod's lookup from the client's namespace, as for a waypoint
        return graph.waypoint_destination_rules(se, host, namespace)
    return None


def _where(hop: Hop) -> str:
    return "the waypoint" if hop.kind in ("waypoint", "outside") else "the sidecar"


def _originated(
    se: Resource, index: int | None, port: Mapping[str, Any], rules: list[Resource], hop: Hop
) -> Step | None:
    number, target = istio.port_number(port), istio.target_port(port)
    for dr in rules:
        found = istio.originates_tls(dr, number)
        if found is None:
            continue
        tls, path = found
        cited = source(dr, (*path, "mode"), "originates TLS")
        mode = istio.tls_mode(tls)
        proto = istio.protocol(port)
        if proto in TLS_PROTOCOLS and istio.resolution(se) != "DYNAMIC_DNS":
            text = (
                f"{dr.ref} makes {_where(hop)} originate TLS ({mode}) on port {number}, whose "
                f"protocol {proto} already carries the client's TLS: TLS inside TLS fails"
            )
            proto_src = source(se, ("spec", "ports", index, "protocol"), "the client's TLS")
            return Step("tls", text, "break", (cited, proto_src))
        if istio.is_http(port) and target in istio.PLAINTEXT_PORTS:
            text = (
                f"{dr.ref} makes {_where(hop)} originate TLS ({mode}) towards port {target}, a "
                "plain-HTTP port: the handshake fails"
            )
            port_src = source(se, ("spec", "ports", index), "the port: no TLS targetPort")
            return Step("tls", text, "break", (cited, port_src))
        text = f"originated at {_where(hop)} ({dr.ref}, mode {mode}) towards port {target}"
        return Step("tls", text, "pass", (cited,))
    return None


def _plaintext_to_tls(
    graph: MeshGraph,
    se: Resource,
    index: int | None,
    port: Mapping[str, Any],
    rules: list[Resource] | None,
) -> Step | None:
    """EGL201's second case: plain HTTP sent on to a TLS port with nothing originating TLS.
    ``rules`` None: the proxy on the path applies no DestinationRule at all (ztunnel, the
    vendor's ztunnel egress gateway, an agentgateway waypoint: EGL402, EGL404)."""
    number, target = istio.port_number(port), port.get("targetPort")
    if not istio.is_http(port) or not isinstance(target, int) or isinstance(target, bool):
        return None
    if target not in istio.TLS_PORTS or target == number or reach.backend_tls_policy(graph, se):
        return None
    for dr in rules or []:
        found = istio.tls_for_port(dr, number)
        if found is not None and istio.tls_mode(found[0]) in _TLS_SET:
            return None
    cited = [source(se, ("spec", "ports", index, "targetPort"), "a TLS port")]
    what = "no DestinationRule originates TLS for it"
    if rules is None:
        what = "the proxy on the path applies no DestinationRule, so nothing originates TLS"
        cited += [
            source(dr, found[1], "not applied on this path")
            for dr in graph.destination_rules_for(se)
            if (found := istio.originates_tls(dr, number)) is not None
        ]
    text = (
        f"plain HTTP from port {number} goes to targetPort {target}, a TLS port, and {what}: "
        "the server's TLS port receives plaintext"
    )
    return Step("tls", text, "break", tuple(cited))


def _as_sent(port: Mapping[str, Any], hop: Hop, applies: bool, cited: tuple[Source, ...]) -> Step:
    proto = istio.protocol(port)
    note = "" if applies or hop.kind == "direct" else " (this proxy applies no DestinationRule)"
    if proto in TLS_PROTOCOLS:
        text = f"passthrough: the client's own TLS ({proto}), routed by SNI{note}"
    elif istio.is_http(port):
        text = f"plaintext: the client sends {proto} and nothing originates TLS{note}"
    else:
        text = f"as the client sends it (protocol {proto or 'unset'}){note}"
    return Step("tls", text, "pass", cited)


def tls(
    graph: MeshGraph, info: ClientInfo, dest: DestinationInfo, entry: Entry | None, hop: Hop
) -> Step:
    if entry is None:
        return Step("tls", "as the client sends it")
    se, index = entry
    port = port_of(se, index)
    rules = _rules_at(
        graph, se, dest.destination.host, hop, info.client.capture, info.client.namespace
    )
    found = _originated(se, index, port, rules, hop) if rules else None
    if found is not None:
        return found
    if info.client.capture != "none" and hop.kind != "explicit":
        broken = _plaintext_to_tls(graph, se, index, port, rules)
        if broken is not None:
            return broken
    path: Path = ("spec", "ports", index, "protocol") if index is not None else ("spec",)
    return _as_sent(port, hop, rules is not None, (source(se, path, "the port's protocol"),))
