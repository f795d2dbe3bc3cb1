"""TLS origination and the ServiceEntry's `targetPort` disagree, so the external host cannot be
reached.

**Why it matters.** The ambient egress pattern for L7 control over HTTPS is: the application
sends plain HTTP to port 80, the ServiceEntry port is `protocol: HTTP` with `targetPort: 443`,
and a DestinationRule with `tls.mode: SIMPLE` on port 80 makes the waypoint originate TLS
to 443. Getting one half without the other breaks every call:

- **TLS to a plaintext port**: the DestinationRule originates TLS on a port whose target is 80
  (no `targetPort`), so the TLS handshake reaches the server's plain-HTTP port.
- **Plaintext to a TLS port**: the port maps to `targetPort: 443` but nothing originates TLS,
  so plain HTTP reaches the server's HTTPS port (the server answers 400 or resets).

**Which DestinationRule counts.** For a ServiceEntry bound to a waypoint, only the rules that
waypoint applies: istiod looks the rule up for each ServiceEntry host as the waypoint's
*inbound* side (`sidecarScope.DestinationRule(TrafficDirectionInbound, ...)` in
`buildWaypointInboundVIP`, pilot/pkg/networking/core/cluster_waypoint.go), that is in the
waypoint's own namespace, else in the ServiceEntry's namespace, else in `istio-system`, each
time only rules exported to the waypoint's namespace, and never a rule with a
`workloadSelector` (pilot/pkg/model/push_context.go `destinationRule`,
pilot/pkg/model/sidecar.go `DestinationRule`). A rule in a client's namespace neither
originates TLS nor silences this rule. A `portLevelSettings` entry for the port replaces the
top-level `tls` (`GetPortLevelTrafficPolicy`, pilot/pkg/networking/util/util.go). Checked at
Istio 1.24.0 to 1.30.3. A ServiceEntry bound to no waypoint is checked against every
DestinationRule for its hosts.

**Not reported here.** A port whose DestinationRule says `ISTIO_MUTUAL`: a sidecar originates
Istio mutual TLS there (not plain HTTP), and a waypoint ignores that mode, which EGL412
reports. TLS to a plaintext port is not reported for ServiceEntries bound to
`solo-ztunnel-egress` or an agentgateway waypoint: those proxies apply no DestinationRule at
all (EGL402 and EGL404 report the rule).

**How to fix.** Add `targetPort: 443` to the ServiceEntry port that the DestinationRule
originates TLS on, or add a DestinationRule with `tls.mode: SIMPLE` for the port that maps to
443 (port-level settings use the ServiceEntry port `number`, not `targetPort`), in a namespace
the waypoint reads. `egresslint fix` adds the `targetPort: 443` for the first case.

A `BackendTLSPolicy` targeting the ServiceEntry (Istio 1.28+) also originates TLS and silences
the second case. Sources: istio.io "Egress gateways" (ambient) and the TLS-origination
walkthrough; istio/istio#56430; the istio/istio files named above.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from egresslint.lint.edits import Edit, set_key
from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, reach
from egresslint.mesh.graph import ROOT_NAMESPACE, MeshGraph
from egresslint.model import Finding, Related, Resource, listed

RULE = Rule(
    id="EGL201",
    name="tls-origination-port-mismatch",
    tag="unreachable",
    level="error",
    summary="TLS origination and the ServiceEntry targetPort disagree; calls to the host fail.",
    kinds=("ServiceEntry", "DestinationRule", "BackendTLSPolicy"),
    fixable=True,
)

# Modes in which a port's tls block means the proxy does not send plain HTTP: SIMPLE/MUTUAL
# originate TLS; ISTIO_MUTUAL is Istio mTLS at a sidecar and EGL412's case at a waypoint.
_TLS_SET = frozenset({*istio.ORIGINATING_TLS, "ISTIO_MUTUAL"})


@dataclass
class _Rules:
    """The DestinationRules that apply to a ServiceEntry, per group of its hosts."""

    waypoint_ns: str | None  # the waypoint namespace whose lookup was used, None: all rules
    groups: list[tuple[list[str], list[Resource]]]

    def all(self) -> list[Resource]:
        return list(dict.fromkeys(dr for _, drs in self.groups for dr in drs))


def _applied(graph: MeshGraph, se: Resource) -> _Rules:
    binding = graph.binding(se)
    if binding is None or binding.opted_out or not reach.envoy_applies(graph, se):
        return _Rules(None, [(graph.se_hosts(se), graph.destination_rules_for(se))])
    ns = binding.namespace
    return _Rules(
        ns, [([h], graph.waypoint_destination_rules(se, h, ns)) for h in graph.se_hosts(se)]
    )


def _sets_tls(dr: Resource, number: int | None) -> bool:
    found = istio.tls_for_port(dr, number)
    return found is not None and istio.tls_mode(found[0]) in _TLS_SET


def _tls_to_plaintext(
    dr: Resource, se: Resource, i: int, port: Mapping[str, Any]
) -> Finding | None:
    number = istio.port_number(port)
    found = istio.originates_tls(dr, number)
    if (
        found is None
        or not istio.is_http(port)
        or istio.target_port(port) not in istio.PLAINTEXT_PORTS
    ):
        return None
    _, path = found
    return RULE.at(
        dr,
        (*path, "mode"),
        f"{dr.ref} originates TLS on port {number} of {dr.spec.get('host')}, but {se.ref} sends "
        f"that port to {istio.target_port(port)}, a plain-HTTP port: the TLS handshake fails. "
        f"Add 'targetPort: 443' to port {number} of the ServiceEntry.",
        [related(se, ("spec", "ports", i), f"port {number} has no TLS targetPort")],
    )


def _plaintext_target(port: Mapping[str, Any]) -> int | None:
    """The TLS port an HTTP ServiceEntry port sends its plain HTTP to, if it does."""
    number = istio.port_number(port)
    target = port.get("targetPort")
    if not isinstance(target, int) or isinstance(target, bool) or not istio.is_http(port):
        return None
    return target if target in istio.TLS_PORTS and target != number else None


def _unused(graph: MeshGraph, se: Resource, rules: _Rules, number: int | None) -> list[Resource]:
    """Rules for the ServiceEntry's hosts that would set TLS on the port but that the waypoint
    does not apply (another namespace, not exported, or with a workloadSelector)."""
    if rules.waypoint_ns is None:
        return []
    applied = rules.all()
    return [
        dr for dr in graph.destination_rules_for(se) if dr not in applied and _sets_tls(dr, number)
    ]


def _why(rules: _Rules, unused: list[Resource]) -> tuple[str, str]:
    """Which rules the message speaks of, and why those that would help do not count."""
    if rules.waypoint_ns is None:
        return "", ""
    which = f" the waypoint in namespace {rules.waypoint_ns} applies"
    if not unused:
        return which, ""
    names = listed(dr.ref for dr in unused)
    return which, (
        f" {names} would, but the waypoint does not use it: a waypoint reads the "
        "DestinationRules of its own namespace, else those of the ServiceEntry's namespace, "
        f"else those of {ROOT_NAMESPACE}, exported to it and without a workloadSelector."
    )


def _advice(rules: _Rules, shown: list[Resource], hosts: str, number: int | None) -> str:
    if shown:
        names = listed(dr.ref for dr in shown)
        return f"Set tls.mode: SIMPLE for port {number} (portLevelSettings) in {names}."
    where = f" in namespace {rules.waypoint_ns}" if rules.waypoint_ns is not None else ""
    return (
        f"Add a DestinationRule for {hosts}{where} with portLevelSettings port {number} "
        "tls.mode: SIMPLE."
    )


def _plaintext_to_tls(
    ctx: Context, se: Resource, i: int, port: Mapping[str, Any], rules: _Rules
) -> Finding | None:
    number = istio.port_number(port)
    target = _plaintext_target(port)
    if target is None:
        return None
    lacking = [
        (hosts, drs) for hosts, drs in rules.groups if not any(_sets_tls(dr, number) for dr in drs)
    ]
    if not lacking or reach.backend_tls_policy(ctx.graph, se):
        return None
    hosts = listed(h for hs, _ in lacking for h in hs)
    shown = list(dict.fromkeys(dr for _, drs in lacking for dr in drs))
    unused = _unused(ctx.graph, se, rules, number)
    rel: list[Related] = [
        related(dr, ("spec",), "applies to this host without TLS origination") for dr in shown
    ]
    rel += [related(dr, ("metadata",), "not applied by the waypoint") for dr in unused]
    which, why = _why(rules, unused)
    return RULE.at(
        se,
        ("spec", "ports", i, "targetPort"),
        f"{se.ref} sends plain HTTP from port {number} to targetPort {target}, but no "
        f"DestinationRule{which} originates TLS for port {number} of {hosts}: the server's TLS "
        f"port receives plaintext.{why} {_advice(rules, shown, hosts, number)}",
        rel,
    )


def _findings(ctx: Context, se: Resource) -> Iterator[Finding]:
    graph = ctx.graph
    rules = _applied(graph, se)
    originating = reach.envoy_applies(graph, se)
    for i, port in graph.ports(se):
        for dr in rules.all() if originating else []:
            hit = _tls_to_plaintext(dr, se, i, port)
            if hit is not None:
                yield hit
        plain = _plaintext_to_tls(ctx, se, i, port, rules)
        if plain is not None:
            yield plain


def check(ctx: Context) -> Iterator[Finding]:
    seen: set[tuple[Resource | None, tuple[Any, ...]]] = set()
    for se in ctx.graph.of_kind("ServiceEntry"):
        for hit in _findings(ctx, se):
            key = (hit.resource, tuple(hit.path))
            if key not in seen:  # one DestinationRule field, whatever number of entries
                seen.add(key)
                yield hit


def fix(finding: Finding) -> Edit | None:
    """TLS to a plaintext port: add `targetPort: 443` to the ServiceEntry port."""
    if finding.resource is None or finding.resource.kind != "DestinationRule":
        return None
    for rel in finding.related:
        se = rel.resource
        path = rel.path[len(se.base_path) :]
        if se.kind == "ServiceEntry" and len(path) == 3 and path[:2] == ("spec", "ports"):
            return set_key(
                se,
                path,
                "targetPort",
                443,
                f"add targetPort: 443 to port {se.get(*path, 'number')} of {se.ref}",
                after=("protocol", "name", "number"),
            )
    return None
