"""An Istio API that the agentgateway waypoint ignores (VirtualService, DestinationRule,
AuthorizationPolicy, EnvoyFilter) is aimed at a host or Gateway served by it.

**Why it matters.** The agentgateway-based waypoints do not apply Istio's own APIs. A
DestinationRule does not originate TLS there, an AuthorizationPolicy does not restrict
anything, and a VirtualService does not route: the configuration looks like egress control but
nothing enforces it. What applies instead depends on the class:

- `istio-agentgateway-waypoint` (upstream Istio, from the 1.31 prereleases; needs
  `PILOT_ENABLE_AGENTGATEWAY`): istiod programs it from Gateway API resources only. Its inputs
  (`AgwInputs` in `pilot/pkg/config/kube/agentgateway/agentgateway_controller.go`, 1.31.0-rc.0,
  and the same list at 1.30.3 for `istio-agentgateway`) are Gateway API routes, ListenerSet,
  ReferenceGrant, XBackendTrafficPolicy, BackendTLSPolicy, ServiceEntry, WorkloadEntry and
  InferencePool; authorization is not read ("Authz/Authn are not use for agentgateway"), nor is
  any (Enterprise)AgentgatewayPolicy. TLS origination is a Gateway API `BackendTLSPolicy`,
  which istiod applies to Service and InferencePool targets only (`policy_collection.go`,
  1.31.0-rc.0: other target kinds, ServiceEntry included, are skipped). Access control is an
  HTTPRoute `ExternalAuth` filter (`filters.go`), or an `istio-waypoint` instead.
- `enterprise-agentgateway-waypoint` (vendor): policy comes from Gateway API routes and
  `EnterpriseAgentgatewayPolicy`; the vendor's egress overview lists TLS origination as not
  supported for this class. This follows the vendor's documentation.

**When it fires.** For ServiceEntries whose effective waypoint has an agentgateway class (or
`--mode enterprise-agentgateway-waypoint` when the Gateway is elsewhere): at a DestinationRule
`host` (or its `tls` block when it originates TLS) and a VirtualService `hosts` covering the
ServiceEntry, and at the `targetRefs` entry of an AuthorizationPolicy or EnvoyFilter naming
the ServiceEntry, the waypoint Gateway or its GatewayClass. The message names what applies for
that class.

**How to fix.** Route with an HTTPRoute. For `enterprise-agentgateway-waypoint`, express
access rules as an `EnterpriseAgentgatewayPolicy` with `traffic.authorization` on the waypoint
Gateway and let the application send HTTPS. For `istio-agentgateway-waypoint`, use an
HTTPRoute `ExternalAuth` filter (or an `istio-waypoint` where AuthorizationPolicy applies), and
let the application send HTTPS to an external host (BackendTLSPolicy covers Services only).

Sources: istio.io "Use agentgateway" (istiod configures agentgateway exclusively through Gateway
API resources); istio/istio `pilot/pkg/config/kube/agentgateway/` at 1.30.3 and 1.31.0-rc.0;
Solo "Egress approaches" overview (agentgateway waypoint: TLS origination not supported).
"""

from collections.abc import Iterator
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, modes
from egresslint.mesh.graph import AGENTGATEWAY_WAYPOINTS, MeshGraph
from egresslint.model import Finding, Path, Resource

RULE = Rule(
    id="EGL404",
    name="istio-api-on-agentgateway-waypoint",
    tag="unsupported-feature",
    level="warning",
    summary="VirtualService/DestinationRule/AuthorizationPolicy aimed at an agentgateway waypoint, which ignores them.",
    kinds=(
        "DestinationRule",
        "VirtualService",
        "AuthorizationPolicy",
        "EnvoyFilter",
        "ServiceEntry",
    ),
    security_severity="5.0",
)

_UPSTREAM = "istio-agentgateway-waypoint"
_FIX = {
    modes.ENTERPRISE_AGENTGATEWAY: {
        "tls": "let the application send HTTPS: the vendor's documentation lists TLS "
        "origination as not supported for this class",
        "DestinationRule": "configure the waypoint with an HTTPRoute or an "
        "EnterpriseAgentgatewayPolicy on its Gateway, or remove the DestinationRule",
        "VirtualService": "route with an HTTPRoute",
        "AuthorizationPolicy": "use an EnterpriseAgentgatewayPolicy traffic.authorization on the "
        "waypoint Gateway",
        "EnvoyFilter": "use an EnterpriseAgentgatewayPolicy; Envoy filters do not exist there",
    },
    _UPSTREAM: {
        "tls": "let the application send HTTPS: istiod originates TLS for this class only from "
        "a Gateway API BackendTLSPolicy, which it applies to Service targets, not to "
        "ServiceEntries",
        "DestinationRule": "istiod programs this class from Gateway API resources only: set "
        "timeouts and retries on an HTTPRoute, or remove the DestinationRule",
        "VirtualService": "route with an HTTPRoute",
        "AuthorizationPolicy": "istiod programs this class from Gateway API resources only: "
        "authorize with an HTTPRoute ExternalAuth filter, or use an istio-waypoint",
        "EnvoyFilter": "use Gateway API routes and filters; Envoy filters do not exist there",
    },
}


def _advice(cls: str, kind: str) -> str:
    return _FIX.get(cls, _FIX[modes.ENTERPRISE_AGENTGATEWAY])[kind]


def _finding(
    res: Resource, path: tuple[Any, ...], subject: Resource, what: str, cls: str, key: str = ""
) -> Finding:
    return RULE.at(
        res,
        path,
        f"{res.ref} {what} {subject.ref}, served by a waypoint of class {cls}, which ignores "
        f"{res.kind} resources: nothing enforces it. Instead, {_advice(cls, key or res.kind)}.",
        [related(subject, ("metadata",), "served by the agentgateway waypoint")],
    )


def _tls_path(graph: MeshGraph, dr: Resource, se: Resource) -> Path | None:
    """The ``tls`` block by which a DestinationRule originates TLS for the ServiceEntry: its
    default, else one for a port of the ServiceEntry."""
    numbers: list[int | None] = [None]
    numbers += [p["number"] for _, p in graph.ports(se) if isinstance(p.get("number"), int)]
    for number in numbers:
        tls = istio.originates_tls(dr, number)
        if tls is not None:
            return tls[1]
    return None


def _host_rules(graph: MeshGraph, se: Resource) -> Iterator[Finding]:
    cls = graph.mode_of(se) or ""
    for dr in graph.destination_rules_for(se):
        tls = _tls_path(graph, dr, se)
        if tls is not None:
            yield _finding(dr, tls, se, "originates TLS for", cls, "tls")
        else:
            yield _finding(dr, ("spec", "host"), se, "configures traffic policy for", cls)
    for vs in graph.virtual_services_for(se):
        yield _finding(vs, ("spec", "hosts"), se, "routes", cls)


def _served_by(graph: MeshGraph, res: Resource) -> str | None:
    """The agentgateway class that serves a policy target, if any."""
    if res.kind == "Gateway":
        cls = graph.gateway_class(res)
    elif res.kind == "GatewayClass":
        cls = res.name
    elif res.kind == "ServiceEntry":
        cls = graph.mode_of(res) or ""
    else:
        return None
    return cls if modes.is_agentgateway(cls) else None


def _policy_finding(
    graph: MeshGraph, pol: Resource, path: Any, kind: str, name: str
) -> Finding | None:
    target = graph.get(kind, "" if kind == "GatewayClass" else pol.namespace, name)
    if target is None:
        if kind != "GatewayClass" or not modes.is_agentgateway(name):
            return None
        return RULE.at(
            pol,
            path,
            f"{pol.ref} targets GatewayClass {name}, an agentgateway waypoint that ignores "
            f"{pol.kind} resources: nothing enforces it. Instead, {_advice(name, pol.kind)}.",
        )
    cls = _served_by(graph, target)
    return None if cls is None else _finding(pol, path, target, "targets", cls)


def _policies(graph: MeshGraph) -> Iterator[Finding]:
    for pol in graph.of_kind("AuthorizationPolicy", "EnvoyFilter"):
        for path, ref in modes.target_refs(pol):
            kind, name = ref.get("kind"), ref.get("name")
            if isinstance(kind, str) and isinstance(name, str):
                found = _policy_finding(graph, pol, path, kind, name)
                if found is not None:
                    yield found


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for se in modes.ses_in_mode(graph, *AGENTGATEWAY_WAYPOINTS):
        yield from _host_rules(graph, se)
    yield from _policies(graph)
