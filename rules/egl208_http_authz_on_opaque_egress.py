"""An AuthorizationPolicy matches on HTTP attributes for egress traffic the waypoint only sees
as opaque TLS or TCP, so it never matches (ALLOW: every call denied) or matches everything
(DENY: every call denied).

**Why it matters.** A waypoint evaluates methods, paths, hosts, request principals and HTTP
`when` keys only on traffic it parses as HTTP. On a ServiceEntry port declared `HTTPS`, `TLS`
or `TCP` the client's bytes are opaque: for sidecars and waypoints alike (same Envoy RBAC
builder) an ALLOW rule with HTTP-only fields is dropped, so it never matches and the calls it
was meant to allow are denied; a DENY rule with HTTP-only fields denies all traffic.

**When it fires.** For policies whose `targetRefs` name a ServiceEntry with only
HTTPS/TLS/TCP-class ports, or a waypoint Gateway whose bound ServiceEntries are all such (and no
Kubernetes Service or namespace with workloads is known to use it). ServiceEntries that egress
through `solo-ztunnel-egress` (EGL401) or an agentgateway waypoint (which ignores
AuthorizationPolicy) are skipped. One finding per policy rule (`spec.rules[i]`), listing its
HTTP-only fields and pointing at the first. When the targeted ServiceEntry's waypoint binding
does not take effect (no binding, waypoint missing, refused by `allowedRoutes` or
`istio.io/waypoint-for`; EGL101-EGL104 report it), the policy is not applied at all today
(`AncestorNotBound`, see also EGL114): the message says so and states the consequence once the
binding works.

**How to fix.** For L7 rules use the TLS origination pattern: the app sends plain HTTP to port
80, the ServiceEntry port is `protocol: HTTP` with `targetPort: 443`, and a DestinationRule
sets `tls.mode: SIMPLE` for port 80. To keep end-to-end TLS, match the server name instead:
`when: [{key: connection.sni, values: [api.example.com]}]` (waypoints since Istio 1.24).

Sources: istio.io "Authorization for TCP traffic" task; istio.io 1.24 change notes
(`connection.sni` at waypoints); istio/istio#58644; Alibaba ASM ambient egress doc.
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, istio, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Related, Resource

RULE = Rule(
    id="EGL208",
    name="http-authz-on-opaque-egress",
    tag="unreachable",
    level="error",
    summary="HTTP-attribute AuthorizationPolicy on egress traffic the waypoint sees as TLS/TCP.",
    kinds=("AuthorizationPolicy", "ServiceEntry", "Gateway"),
    security_severity="5.0",
)


def _opaque_ses(graph: MeshGraph, target: Resource) -> list[Resource]:
    """The opaque ServiceEntries behind a policy target, or [] when the target may see HTTP."""
    if target.kind == "ServiceEntry":
        if reach.envoy_applies(graph, target) and reach.is_opaque(target):
            return [target]
        return []
    if target.kind == "Gateway" and graph.is_waypoint(target):
        return reach.opaque_waypoint(graph, target)
    return []


def _verdict(ap: Resource) -> str:
    if istio.action(ap) == "DENY":
        return "a DENY rule with HTTP-only fields denies all of it"
    return "the rule never matches, so every call it should allow is denied"


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


def _check_policy(graph: MeshGraph, ap: Resource) -> Iterator[Finding]:
    if istio.action(ap) not in ("ALLOW", "DENY"):
        return
    groups = reach.fields_by_rule(istio.http_fields(ap))
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
            yield RULE.at(
                ap,
                path,
                f"{ap.ref} spec.rules[{index}] matches on HTTP {attrs} {reach.quoted(names)} for "
                f"{_target_text(target, ses)}. {effect} {_verdict(ap)}. Send plain HTTP to an HTTP port with 'targetPort: 443' "
                "and a DestinationRule 'tls.mode: SIMPLE', or match the server name with "
                "'when: connection.sni'.",
                rel + more,
            )
        return


def check(ctx: Context) -> Iterator[Finding]:
    for ap in ctx.graph.of_kind("AuthorizationPolicy"):
        yield from _check_policy(ctx.graph, ap)
