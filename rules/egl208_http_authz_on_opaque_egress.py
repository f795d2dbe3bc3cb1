"""An AuthorizationPolicy matches on HTTP attributes for egress traffic the waypoint only sees
as opaque TLS or TCP: Istio drops the rule (ALLOW) or its HTTP conditions (DENY).

**Why it matters.** A waypoint evaluates methods, paths, hosts, request principals,
`request.headers[...]` and `request.auth.*` only on traffic it parses as HTTP. On a
ServiceEntry port declared `HTTPS`, `TLS` or `TCP` the client's bytes are opaque and the
waypoint builds its RBAC filter for TCP (sidecars and waypoints share the builder):

- in an ALLOW policy the whole rule holding an HTTP-only attribute is skipped, so it never
  matches: its `connection.sni` or identity conditions restrict nothing, and the callers only
  it admits are denied. When no other ALLOW rule for the same traffic survives (this policy's
  other rules, ALLOW policies on the ServiceEntry, the waypoint Gateway, or, since 1.25, a
  root-namespace policy on GatewayClass `istio-waypoint`), every call is denied;
- in a DENY policy only the HTTP-only conditions are dropped: the rule denies every connection
  that matches what is left of it (all of them when nothing is left).

L4 attributes are evaluated on TCP and are never reported: `from.source` principals,
namespaces, ipBlocks, remoteIpBlocks, `serviceAccounts` (Istio 1.25+) and `trustDomains`
(1.30.2+); `to.operation.ports`; `when` keys `source.ip`, `remote.ip`, `source.namespace`,
`source.principal`, `source.serviceAccount` (1.25+), `source.trustDomain` (1.30.2+),
`destination.ip`, `destination.port`, `connection.sni` and `experimental.envoy.filters.*`.

**When it fires.** For ALLOW and DENY policies (not `istio.io/dry-run`) whose `targetRefs`
name a ServiceEntry with only HTTPS/TLS/TCP-class ports, or a waypoint Gateway whose bound
ServiceEntries are all such (and no Kubernetes Service or namespace with workloads is known to
use it). ServiceEntries that egress through `solo-ztunnel-egress` (EGL401) or an agentgateway
waypoint (which ignores AuthorizationPolicy) are skipped, and so are rules with a `when` key the
target Istio version does not know (istiod skips those rules on HTTP too). One finding per
policy rule (`spec.rules[i]`), listing its HTTP-only fields and pointing at the first. When
the targeted ServiceEntry's waypoint binding does not take effect (no binding, waypoint
missing, refused by `allowedRoutes` or `istio.io/waypoint-for`; EGL101-EGL104 report it), the
policy is not applied at all today (`AncestorNotBound`, see also EGL114): the message says so
and states the consequence once the binding works.

**How to fix.** For L7 rules use the TLS origination pattern: the app sends plain HTTP to port
80, the ServiceEntry port is `protocol: HTTP` with `targetPort: 443`, and a DestinationRule
sets `tls.mode: SIMPLE` for port 80. To keep end-to-end TLS, match the server name instead:
`when: [{key: connection.sni, values: [api.example.com]}]` (waypoints since Istio 1.24).

Holds for Istio 1.24.0 to 1.30.3. Sources: istio/istio `pilot/pkg/security/authz/model/
model.go` (New: keys per generator; checkError: ALLOW keeps the error and the rule is skipped,
DENY ignores it and drops the condition) and `generator.go` ("is HTTP only" on TCP), at 1.24.0,
1.25.0 (`source.serviceAccount`) and 1.30.2/1.30.3 (`source.trustDomain`);
`pilot/pkg/security/authz/builder/builder.go` (skipped rules; an ALLOW filter left without
policies denies everything); `pilot/pkg/model/policyattachment.go` (which policies a waypoint
applies); istio.io "Authorization for TCP traffic" task.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, istio, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Related, Resource, as_list, as_map, enumerate_maps

RULE = Rule(
    id="EGL208",
    name="http-authz-on-opaque-egress",
    tag="unreachable",
    level="error",
    summary="HTTP-attribute AuthorizationPolicy on egress traffic the waypoint sees as TLS/TCP.",
    kinds=("AuthorizationPolicy", "ServiceEntry", "Gateway"),
    security_severity="5.0",
)

Version = tuple[int, int, int]


def _opaque_ses(graph: MeshGraph, target: Resource) -> list[Resource]:
    """The opaque ServiceEntries behind a policy target, or [] when the target may see HTTP."""
    if target.kind == "ServiceEntry":
        if reach.envoy_applies(graph, target) and reach.is_opaque(target):
            return [target]
        return []
    if target.kind == "Gateway" and graph.is_waypoint(target):
        return reach.opaque_waypoint(graph, target)
    return []


def _rules(ap: Resource) -> list[Any]:
    return as_list(ap.spec.get("rules"))


def _http_rules(ap: Resource) -> set[int]:
    """Indexes of the rules holding an HTTP-only attribute."""
    return {index for index, _, _ in reach.fields_by_rule(istio.http_fields(ap))}


def _known(rule: Any, version: Version) -> bool:
    """Every ``when`` key is one istiod of ``version`` knows (else it skips the rule anyway)."""
    keys = [c.get("key") for _, c in enumerate_maps(as_map(rule).get("when"))]
    return isinstance(rule, Mapping) and all(
        istio.when_key_known(k, version) for k in keys if isinstance(k, str)
    )


def _surviving_allow(ap: Resource, version: Version, skip: int | None = None) -> bool:
    """Whether an ALLOW policy keeps a rule on TCP (one without HTTP-only attributes)."""
    if istio.action(ap) != "ALLOW" or istio.dry_run(ap):
        return False
    http = _http_rules(ap)
    return any(i != skip and i not in http and _known(r, version) for i, r in enumerate(_rules(ap)))


def _same_traffic(graph: MeshGraph, target: Resource, version: Version) -> list[Resource]:
    """Other policies the waypoint applies to the traffic a policy on ``target`` governs."""
    scopes = [target]
    if target.kind == "ServiceEntry":
        gw = graph.waypoint_of(target)
        scopes += [gw] if gw is not None else []
    else:
        scopes += graph.bound_to(target)
    found = [p for s in scopes for p in graph.policies_targeting(s)]
    found += istio.waypoint_class_policies(graph, version)
    return list(dict.fromkeys(found))


def _allow_verdict(
    graph: MeshGraph, ap: Resource, index: int, target: Resource, version: Version
) -> tuple[str, list[Related]]:
    pin = " (its connection.sni condition restricts nothing)" if _has_sni(ap, index) else ""
    head = f"Istio skips this ALLOW rule on TCP, so it never matches{pin}"
    if _surviving_allow(ap, version, skip=index):
        return (
            f"{head}: the callers only it admits are denied; the policy's other rules still apply",
            [],
        )
    others = [
        p
        for p in _same_traffic(graph, target, version)
        if p is not ap and _surviving_allow(p, version)
    ]
    if others:
        why = "another ALLOW policy on the same traffic, still applied"
        rel = [related(p, ("spec", "rules"), why) for p in others]
        return (
            f"{head}: the callers only it admits are denied; other ALLOW policies still admit theirs",
            rel,
        )
    return f"{head}, and no other ALLOW rule for this traffic remains: every call is denied", []


def _deny_verdict(ap: Resource, index: int, version: Version) -> str:
    head = "Istio drops only the HTTP conditions of a DENY rule on TCP"
    if istio.rule_narrowed_on_tcp(as_map(_rules(ap)[index]), version):
        return f"{head}, so this rule denies every connection that matches the rest of it"
    return f"{head}, and nothing else is left in this rule: it denies every connection"


def _target_text(target: Resource, ses: list[Resource]) -> str:
    protos = sorted({p for se in ses for p in reach.port_protocols(se)})
    if target.kind == "ServiceEntry":
        return f"{target.ref} (ports {', '.join(protos)})"
    return f"waypoint {target.ref}, whose ServiceEntries carry only {', '.join(protos)}"


def _unbound(graph: MeshGraph, target: Resource) -> tuple[str, list[Related]]:
    """A clause saying the policy does not apply yet, when the target's binding is broken."""
    if target.kind != "ServiceEntry":
        return "", []
    problem = bypass.binding_problem(graph, target)
    if problem is None:
        return "", []
    rel = []
    if problem.owner is not None:
        rel.append(related(problem.owner, problem.path, "the binding that does not take effect"))
    if problem.gateway is not None:
        rel.append(related(problem.gateway, ("metadata",), "the waypoint refusing the binding"))
    return (
        f"Today the policy is not applied at all: {target.ref} {problem.what}, so the policy "
        "has no waypoint (AncestorNotBound); once the binding works, the waypoint will see this "
        "traffic as opaque TLS/TCP:",
        rel,
    )


def _verdict(
    graph: MeshGraph, ap: Resource, index: int, target: Resource, version: Version
) -> tuple[str, list[Related]]:
    if istio.action(ap) == "DENY":
        return _deny_verdict(ap, index, version), []
    return _allow_verdict(graph, ap, index, target, version)


def _has_sni(ap: Resource, index: int) -> bool:
    rule = as_map(_rules(ap)[index])
    return any(c.get("key") == "connection.sni" for _, c in enumerate_maps(rule.get("when")))


def _advice(ap: Resource, index: int) -> str:
    tail = (
        "remove the HTTP attributes: its connection.sni condition alone is evaluated on TCP"
        if _has_sni(ap, index)
        else "match the server name with 'when: connection.sni'"
    )
    return (
        "Send plain HTTP to an HTTP port with 'targetPort: 443' and a DestinationRule "
        f"'tls.mode: SIMPLE', or {tail}."
    )


def _check_policy(graph: MeshGraph, ap: Resource, version: Version) -> Iterator[Finding]:
    if istio.action(ap) not in ("ALLOW", "DENY") or istio.dry_run(ap):
        return
    rules = _rules(ap)
    fields = reach.fields_by_rule(istio.http_fields(ap))
    groups = [g for g in fields if _known(rules[g[0]], version)]
    if not groups:
        return
    for target, _ in graph.policy_targets(ap):
        ses = _opaque_ses(graph, target)
        if not ses:
            continue
        rel = [related(se, ("spec", "ports"), "opaque (non-HTTP) ports") for se in ses]
        pending, more = _unbound(graph, target)
        effect = pending or "The waypoint sees this traffic as opaque TLS/TCP:"
        for index, path, names in groups:
            attrs = "attribute" if len(names) == 1 else "attributes"
            verdict, others = _verdict(graph, ap, index, target, version)
            yield RULE.at(
                ap,
                path,
                f"{ap.ref} spec.rules[{index}] matches on HTTP {attrs} {reach.quoted(names)} for "
                f"{_target_text(target, ses)}. {effect} {verdict}. {_advice(ap, index)}",
                rel + more + others,
            )
        return


def check(ctx: Context) -> Iterator[Finding]:
    for ap in ctx.graph.of_kind("AuthorizationPolicy"):
        yield from _check_policy(ctx.graph, ap, ctx.istio_version)
