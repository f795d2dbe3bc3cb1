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

**How to fix.** Add `targetPort: 443` to the ServiceEntry port that the DestinationRule
originates TLS on, or add a DestinationRule with `tls.mode: SIMPLE` for the port that maps to
443 (port-level settings use the ServiceEntry port `number`, not `targetPort`).
`egresslint fix` adds the `targetPort: 443` for the first case.

A `BackendTLSPolicy` targeting the ServiceEntry (Istio 1.28+) also originates TLS and silences
the second case. Sources: istio.io "Egress gateways" (ambient) and the TLS-origination
walkthrough; istio/istio#56430.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.edits import Edit, set_key
from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL201",
    name="tls-origination-port-mismatch",
    tag="unreachable",
    level="error",
    summary="TLS origination and the ServiceEntry targetPort disagree; calls to the host fail.",
    kinds=("ServiceEntry", "DestinationRule", "BackendTLSPolicy"),
    fixable=True,
)


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


def _backend_tls(ctx: Context, se: Resource) -> bool:
    return any(
        isinstance(ref, Mapping)
        and ref.get("kind") == "ServiceEntry"
        and ref.get("name") == se.name
        for pol in ctx.graph.in_namespace("BackendTLSPolicy", se.namespace)
        for ref in (pol.spec.get("targetRefs") or [])
    )


def _plaintext_to_tls(
    ctx: Context, se: Resource, i: int, port: Mapping[str, Any]
) -> Finding | None:
    number = istio.port_number(port)
    target = port.get("targetPort")
    if not isinstance(target, int) or not istio.is_http(port):
        return None
    if target not in istio.TLS_PORTS or target == number:
        return None
    drs = ctx.graph.destination_rules_for(se)
    if any(istio.originates_tls(dr, number) for dr in drs) or _backend_tls(ctx, se):
        return None
    return RULE.at(
        se,
        ("spec", "ports", i, "targetPort"),
        f"{se.ref} sends plain HTTP from port {number} to targetPort {target}, but no "
        f"DestinationRule originates TLS for port {number}: the server's TLS port receives "
        f"plaintext. Add a DestinationRule for {', '.join(ctx.graph.se_hosts(se))} with "
        f"portLevelSettings port {number} tls.mode: SIMPLE.",
        [related(dr, ("spec",), "applies to this host without TLS origination") for dr in drs],
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for se in graph.of_kind("ServiceEntry"):
        for i, port in graph.ports(se):
            for dr in graph.destination_rules_for(se):
                hit = _tls_to_plaintext(dr, se, i, port)
                if hit is not None:
                    yield hit
            plain = _plaintext_to_tls(ctx, se, i, port)
            if plain is not None:
                yield plain


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
