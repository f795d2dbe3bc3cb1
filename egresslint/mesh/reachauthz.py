"""The authorization step of a reachability path: which policy at the egress proxy allows or
denies a client.

At an Envoy waypoint (and at the vendor's ztunnel egress gateway, which evaluates L4
attributes only) the AuthorizationPolicies that apply are those whose ``targetRefs`` name the
ServiceEntry or the waypoint, and those attached to every waypoint through the GatewayClass
``istio-waypoint`` (``istio.waypoint_class_policies``). Istio evaluates CUSTOM, then DENY, then
ALLOW: a matching DENY rule refuses; once an ALLOW policy applies, only a matching ALLOW rule
lets the call through; a policy without rules gets a rule that never matches, so an ALLOW
policy without rules allows nothing (istio/istio ``pilot/pkg/security/authz/builder/builder.go``,
1.24.0 and 1.30.3: the CUSTOM, DENY and ALLOW filters in that order, ``rbacPolicyMatchNever``,
and "skipped rule ... on TCP filter chain" for a rule with HTTP-only attributes). AUDIT and
dry-run policies decide nothing.

A rule matches when one of its ``from`` entries, one of its ``to`` entries and every ``when``
condition match (``rule_narrowed_on_tcp`` and ``http_fields`` in ``istio.py`` hold the
attribute tables). The client is known by namespace and service account (the principal
``cluster.local/ns/<ns>/sa/<sa>``); a namespace client's service account is not known. On a port
the proxy sees as opaque (HTTPS, TLS, TCP...) an ALLOW rule with an HTTP-only attribute is
dropped and a DENY rule loses its HTTP-only conditions (``model.go``; EGL208). Attributes that
cannot be told from the repository (IP blocks, request attributes on HTTP) make a rule match
"maybe": a maybe-ALLOW counts as allowed for some requests, a maybe-DENY as a caveat.

agentgateway waypoints ignore AuthorizationPolicy (EGL404): their (Enterprise)AgentgatewayPolicy
authorization is CEL, which is not evaluated here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import Resource, as_list, as_map, enumerate_maps
from . import istio, modes, reach
from .graph import AGENTGATEWAY_WAYPOINTS, ZTUNNEL_EGRESS, MeshGraph
from .reachclients import ANY_NAMESPACE, ClientInfo
from .reachsteps import Entry, Hop, port_of
from .reachtypes import Source, Step, source
from .tristate import all_of, any_of

Version = tuple[int, int, int]
Match = bool | None  # True: matches; False: cannot; None: depends on what is not known
TRUST_DOMAIN = "cluster.local"
_ROUTES = ("HTTPRoute", "GRPCRoute")
_IDENTITY_FIELDS = frozenset(
    {
        "principals",
        "notPrincipals",
        "namespaces",
        "notNamespaces",
        "serviceAccounts",
        "notServiceAccounts",
    }
)
_PRINCIPAL = re.compile(r"^(?:(.*)/)?ns/([^/]+)/sa/([^/]+)$")


@dataclass(frozen=True)
class Who:
    """The client as policies see it, and the port and L7 visibility of the call."""

    namespace: str
    service_account: str | None
    port: int | None
    opaque: bool  # the proxy sees opaque bytes: HTTP-only attributes cannot be evaluated
    host: str = ""  # the destination host: the SNI of TLS, the Host of HTTP (as clients send them)
    tls: bool = False  # the client speaks TLS (HTTPS/TLS port): its SNI names the host


def _not(value: Match) -> Match:
    return None if value is None else not value


def _strings(value: Any) -> list[str]:
    return [str(v) for v in as_list(value) if isinstance(v, (str, int))]


def _namespace(pattern: str, who: Who) -> Match:
    if who.namespace == ANY_NAMESPACE:
        return True if pattern == "*" else None  # some namespaces of the mesh
    return reach.string_match(pattern, who.namespace)


def _principal(pattern: str, who: Who) -> Match:
    if who.namespace == ANY_NAMESPACE:
        return True if pattern == "*" else None
    if who.service_account is not None:
        identity = f"{TRUST_DOMAIN}/ns/{who.namespace}/sa/{who.service_account}"
        return reach.string_match(pattern, identity)
    if pattern == "*":
        return True
    found = _PRINCIPAL.match(pattern)
    if found is None:
        return False
    if not _namespace(found.group(2), who):
        return False
    return True if found.group(3) == "*" else None  # some pods of the namespace


def _service_account(value: str, who: Who) -> Match:
    ns, _, sa = value.partition("/")
    if who.namespace == ANY_NAMESPACE:
        return None
    if ns != who.namespace:
        return False
    return None if who.service_account is None else sa == who.service_account


def _field(values: list[str], test: Any) -> Match:
    return any_of(test(v) for v in values)


def _source(src: Mapping[str, Any], who: Who, http: Match) -> Match:
    checks: list[Match] = []
    for key, negate, test in (
        ("principals", False, lambda v: _principal(v, who)),
        ("notPrincipals", True, lambda v: _principal(v, who)),
        ("namespaces", False, lambda v: _namespace(v, who)),
        ("notNamespaces", True, lambda v: _namespace(v, who)),
        ("serviceAccounts", False, lambda v: _service_account(v, who)),
        ("notServiceAccounts", True, lambda v: _service_account(v, who)),
    ):
        if key in src:
            found = _field(_strings(src.get(key)), test)
            checks.append(_not(found) if negate else found)
    for key in src:
        if key in istio.HTTP_SOURCE_FIELDS:
            checks.append(http)
        elif key not in _IDENTITY_FIELDS:
            checks.append(None)  # IP blocks, trust domains: not known from the repository
    return all_of(checks)


def _operation(op: Mapping[str, Any], who: Who, http: Match) -> Match:
    checks: list[Match] = []
    port = str(who.port) if who.port is not None else None
    if "ports" in op:
        checks.append(None if port is None else port in _strings(op.get("ports")))
    if "notPorts" in op:
        checks.append(None if port is None else port not in _strings(op.get("notPorts")))
    for key in op:
        if key in ("hosts", "notHosts") and http is None and who.host:
            found = any(reach.string_match(v, who.host) for v in _strings(op.get(key)))
            checks.append(found if key == "hosts" else not found)
        elif key in istio.HTTP_OPERATION_FIELDS:
            checks.append(http)
    return all_of(checks)


def _condition(cond: Mapping[str, Any], who: Who, http: Match) -> Match:
    key = cond.get("key")
    if not isinstance(key, str):
        return None
    if istio.is_http_when_key(key):
        return http
    if key == "connection.sni":
        return _values_match(cond, who.host) if who.tls and who.host else None
    known = who.namespace != ANY_NAMESPACE
    actual = {
        "source.namespace": who.namespace if known else None,
        "destination.port": str(who.port) if who.port is not None else None,
        "source.principal": (
            f"{TRUST_DOMAIN}/ns/{who.namespace}/sa/{who.service_account}"
            if who.service_account and known
            else None
        ),
    }.get(key)
    return None if actual is None else _values_match(cond, actual)


def _values_match(cond: Mapping[str, Any], actual: str) -> Match:
    values, nots = _strings(cond.get("values")), _strings(cond.get("notValues"))
    checks = []
    if values:
        checks.append(any(reach.string_match(v, actual) for v in values))
    if nots:
        checks.append(not any(reach.string_match(v, actual) for v in nots))
    return all_of(checks)


def rule_match(rule: Mapping[str, Any], who: Who, allow: bool) -> Match:
    """Whether a policy rule matches the client's calls. ``http`` is what an HTTP-only
    attribute contributes: unknown on HTTP, and on opaque traffic False for an ALLOW rule
    (Istio drops it) and True for a DENY rule (the condition is ignored)."""
    http: Match = None if not who.opaque else (not allow)
    froms = [as_map(f.get("source")) for _, f in enumerate_maps(rule.get("from"))]
    tos = [as_map(t.get("operation")) for _, t in enumerate_maps(rule.get("to"))]
    conds = [c for _, c in enumerate_maps(rule.get("when"))]
    return all_of(
        [
            any_of(_source(s, who, http) for s in froms) if froms else True,
            any_of(_operation(o, who, http) for o in tos) if tos else True,
            *(_condition(c, who, http) for c in conds),
        ]
    )


# ---- policies at the proxy -------------------------------------------------------------------
def _enforced(ap: Resource) -> bool:
    return (
        ap.kind == "AuthorizationPolicy" and istio.action(ap) != "AUDIT" and not istio.dry_run(ap)
    )


def policies_at(
    graph: MeshGraph, se: Resource | None, gw: Resource | None, version: Version
) -> list[Resource]:
    targets = [t for t in (se, gw) if t is not None]
    found = [p for t in targets for p in graph.policies_targeting(t) if _enforced(p)]
    if gw is not None and graph.gateway_class(gw) != ZTUNNEL_EGRESS:
        found += [p for p in istio.waypoint_class_policies(graph, version) if _enforced(p)]
    return list(dict.fromkeys(found))


def _rule_source(ap: Resource, index: int | None, role: str) -> Source:
    path = ("spec", "rules", index) if index is not None else ("spec",)
    return source(ap, path, role)


@dataclass
class _Result:
    denied: list[Source]
    maybe_denied: list[Source]
    allowed: list[Source]
    maybe_allowed: list[Source]


def _evaluate(policies: list[Resource], who: Who) -> _Result:
    out = _Result([], [], [], [])
    for ap in policies:
        action = istio.action(ap)
        if action not in ("ALLOW", "DENY"):
            continue
        allow = action == "ALLOW"
        for i, rule in enumerate_maps(ap.spec.get("rules")):
            m = rule_match(rule, who, allow)
            if m is False:
                continue
            if allow:
                (out.allowed if m else out.maybe_allowed).append(
                    _rule_source(ap, i, "allows the client")
                )
            else:
                (out.denied if m else out.maybe_denied).append(
                    _rule_source(ap, i, "denies the client")
                )
    return out


def _refs(sources: list[Source]) -> str:
    return ", ".join(
        dict.fromkeys(f"{s.ref} rule {s.path[2]}" if len(s.path) > 2 else s.ref for s in sources)
    )


def _envoy_step(policies: list[Resource], who: Who, where: str, at: tuple[Source, ...]) -> Step:
    custom = [p for p in policies if istio.action(p) == "CUSTOM"]
    note = (
        f"; {custom[0].ref} delegates to an external authorizer (not evaluated)" if custom else ""
    )
    result = _evaluate(policies, who)
    if result.denied:
        text = f"denied at {where} by {_refs(result.denied)}"
        return Step("authorization", text + note, "deny", tuple(result.denied))
    allows = [p for p in policies if istio.action(p) == "ALLOW"]
    caveat = (
        f" (unless {_refs(result.maybe_denied)} denies the request)" if result.maybe_denied else ""
    )
    cited = tuple(result.maybe_denied) + tuple(
        source(p, ("spec",), "custom authorization") for p in custom
    )
    if not allows:
        text = f"default allow at {where}: no ALLOW policy applies{caveat}{note}"
        return Step("authorization", text, "pass", cited or at)
    if result.allowed:
        text = f"allowed at {where} by {_refs(result.allowed)}{caveat}{note}"
        return Step("authorization", text, "pass", tuple(result.allowed) + cited)
    if result.maybe_allowed:
        text = f"allowed at {where} for some calls by {_refs(result.maybe_allowed)}{caveat}{note}"
        return Step("authorization", text, "pass", tuple(result.maybe_allowed) + cited)
    return _nothing_allowed(allows, where)


def _nothing_allowed(allows: list[Resource], where: str) -> Step:
    cited = tuple(_rule_source(p, None, "ALLOW policy on the target") for p in allows)
    if all(not as_list(p.spec.get("rules")) for p in allows):
        text = (
            f"{allows[0].ref} at {where} has no rules: it allows nothing, so every call is denied"
        )
        return Step("authorization", text, "break", cited)
    names = ", ".join(p.ref for p in allows)
    text = f"denied at {where}: no rule of {names} matches the client (default deny once an ALLOW policy applies)"
    return Step("authorization", text, "deny", cited)


def _route_parents(route: Resource) -> set[tuple[str, str, str]]:
    found = set()
    for _, ref in enumerate_maps(route.spec.get("parentRefs")):
        kind, name, ns = ref.get("kind", "Gateway"), ref.get("name"), ref.get("namespace")
        if isinstance(kind, str) and isinstance(name, str):
            found.add((kind, ns if isinstance(ns, str) else route.namespace, name))
    return found


def _covers(graph: MeshGraph, policy: Resource, targets: set[tuple[str, str, str]]) -> bool:
    """An agentgateway policy covers the path when it targets the waypoint Gateway, or a route
    whose parent is the waypoint or the ServiceEntry (traffic policies may not target a
    ServiceEntry: EGL505)."""
    for _, ref in modes.target_refs(policy):
        kind, name = ref.get("kind"), ref.get("name")
        if not isinstance(kind, str) or not isinstance(name, str):
            continue
        if kind == "Gateway" and ("Gateway", policy.namespace, name) in targets:
            return True
        route = graph.get(kind, policy.namespace, name) if kind in _ROUTES else None
        if route is not None and _route_parents(route) & targets:
            return True
    return False


def _agentgateway_step(graph: MeshGraph, se: Resource | None, gw: Resource) -> Step:
    cls = graph.gateway_class(gw)
    targets = {(t.kind, t.namespace, t.name) for t in (se, gw) if t is not None}
    found = [
        p
        for p in modes.agw_policies(graph)
        if modes.reads_agw_policies(cls)
        and modes.agw_authorization(p) is not None
        and _covers(graph, p, targets)
    ]
    if not found:
        return Step(
            "authorization",
            f"default allow at {gw.ref}: no AgentgatewayPolicy authorizes traffic there "
            "(agentgateway waypoints ignore AuthorizationPolicy)",
            "pass",
            (source(gw, ("metadata", "name"), "no AgentgatewayPolicy authorizes it"),),
        )
    authz = modes.agw_authorization(found[0])
    assert authz is not None
    text = (
        f"{found[0].ref} authorizes at {gw.ref} ({modes.agw_action(authz[0])}, CEL expressions "
        "not evaluated)"
    )
    return Step("authorization", text, "pass", (source(found[0], authz[1], "authorizes traffic"),))


# ---- what of the client the policies read ----------------------------------------------------
IdentityTest = tuple[Callable[[Any, Who], Match], Any]
_IDENTITY_TESTS: dict[str, Callable[[Any, Who], Match]] = {
    "principals": _principal,
    "notPrincipals": _principal,
    "namespaces": _namespace,
    "notNamespaces": _namespace,
    "serviceAccounts": _service_account,
    "notServiceAccounts": _service_account,
}
_IDENTITY_KEYS = frozenset({"source.namespace", "source.principal"})


def _identity_condition(cond: Mapping[str, Any], who: Who) -> Match:
    return _condition(cond, who, None)


def _rule_identity_tests(rule: Mapping[str, Any]) -> Iterator[IdentityTest]:
    for _, f in enumerate_maps(rule.get("from")):
        src = as_map(f.get("source"))
        for key, test in _IDENTITY_TESTS.items():
            if key in src:
                yield from ((test, v) for v in _strings(src.get(key)))
    for _, cond in enumerate_maps(rule.get("when")):
        if cond.get("key") in _IDENTITY_KEYS:
            yield (_identity_condition, cond)


def identity_tests(policies: list[Resource]) -> tuple[IdentityTest, ...]:
    """Every test of the policies' rules that reads who the client is (``rule_match`` reads
    the namespace and service account through these and nothing else)."""
    return tuple(
        test
        for ap in policies
        for _, rule in enumerate_maps(ap.spec.get("rules"))
        for test in _rule_identity_tests(rule)
    )


def identity(tests: tuple[IdentityTest, ...], namespace: str, account: str | None) -> object:
    """The client as the policies tell it apart: two clients with the same answers to every
    test get the same authorization step (so that it is computed once for them)."""
    who = Who(namespace, account, None, False)
    return tuple(test(value, who) for test, value in tests)


def _tests_key(tests: tuple[IdentityTest, ...]) -> tuple[object, ...]:
    """Tests compare by function and value (a condition, a mapping, by identity)."""
    return tuple((f, v if isinstance(v, str) else id(v)) for f, v in tests)


def authorization_base(
    graph: MeshGraph, hop: Hop, entry: Entry | None, version: Version, host: str
) -> tuple[object, tuple[IdentityTest, ...]]:
    """What the authorization step depends on besides the client: the proxy and, where
    policies apply, the policies, the port and the host; and the identity tests of those
    policies (the client's answers to them complete the key: ``identity``)."""
    if hop.kind in ("direct", "explicit"):
        return (hop.kind, hop.ref), ()
    se = entry[0] if entry is not None else None
    gw = hop.gateway
    if gw is not None and graph.gateway_class(gw) in AGENTGATEWAY_WAYPOINTS:
        return ("agentgateway", id(gw), id(se)), ()
    policies = graph.memo(
        ("reach.policies_at", se, gw, version), lambda: policies_at(graph, se, gw, version)
    )
    if not policies:
        return ("default", hop.ref, id(se), id(gw)), ()
    port = port_of(*entry) if entry is not None else {}
    ids = tuple(map(id, policies))
    tests = identity_tests(policies)
    # equal tests are one object, so that clients' answers are worked out once for them
    tests = graph.memo(("reach.identity_tests", _tests_key(tests)), lambda: tests)
    return (hop.ref, ids, id(port), host), tests


def authorization(
    graph: MeshGraph,
    info: ClientInfo,
    hop: Hop,
    entry: Entry | None,
    version: Version,
    dest_host: str = "",
) -> Step:
    if hop.kind == "direct":
        return Step("authorization", "none: no egress proxy on the path")
    if hop.kind == "explicit":
        return Step("authorization", f"not evaluated at explicit egress gateway {hop.ref}")
    se = entry[0] if entry is not None else None
    gw = hop.gateway
    if gw is not None and graph.gateway_class(gw) in AGENTGATEWAY_WAYPOINTS:
        return _agentgateway_step(graph, se, gw)
    port = port_of(*entry) if entry is not None else {}
    l4_only = gw is not None and graph.gateway_class(gw) == ZTUNNEL_EGRESS
    opaque = l4_only or istio.protocol(port) in istio.OPAQUE_PROTOCOLS
    host = dest_host if entry is not None else ""
    tls = istio.protocol(port) in ("HTTPS", "TLS")
    who = Who(
        info.client.namespace,
        info.client.service_account,
        istio.port_number(port),
        opaque,
        host,
        tls,
    )
    where = hop.ref if gw is not None else f"{hop.ref} (policies in the view only)"
    at = tuple(
        source(t, ("metadata", "name"), "no ALLOW policy targets it")
        for t in (se, gw)
        if t is not None
    )
    return _envoy_step(policies_at(graph, se, gw, version), who, where, at)
