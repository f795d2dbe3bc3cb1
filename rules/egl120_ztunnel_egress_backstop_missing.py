"""ztunnel's `egressPolicies` backstop is missing or permissive where the design relies on it,
so traffic to hosts that are not registered leaves the cluster unchecked.

**Why it matters.** In ambient mode ztunnel passes traffic to destinations that are not in the
service registry (no Service or ServiceEntry) straight through as plain TCP;
`outboundTrafficPolicy: REGISTRY_ONLY` is not honoured. Solo's L4 ztunnel-native egress design
offers an optional ztunnel Helm value, `egressPolicies`, as "a default-deny backstop for
unknown external destinations"; the other backstop is an egress NetworkPolicy on application
namespaces. Without either, any pod can reach any unregistered host.

**When it fires** (as a note; the value's schema is not publicly documented by Solo, see
`egresslint/mesh/ztunnel_values.py` for the accepted shape): when the repository uses L4
ztunnel-native egress (a `solo-ztunnel-egress` Gateway or `--mode solo-ztunnel-egress`), or
routes egress through waypoints with no egress NetworkPolicy at all, and

- a ztunnel Helm values document (recognised by its content) has `egressPolicies` that deny
  nothing (empty, no `Deny` entry, or a catch-all `Passthrough` first); or
- there is no egress NetworkPolicy in the repository (the other backstop) and a ztunnel values
  document has no `egressPolicies`, or there is no ztunnel values document and the repository
  has a `solo-ztunnel-egress` Gateway (reported there).

**How to fix.** Add an `egressPolicies` entry with `policy: Deny` for unregistered
destinations (e.g. `matchCidrs: [0.0.0.0/0]`), or lock application namespaces down with an
egress NetworkPolicy that allows only in-cluster destinations and DNS.

Sources: Solo "Egress approaches" overview (ztunnel egressPolicies, optional); Alibaba Cloud ASM
"ztunnel configuration" (the only published `egressPolicies` schema); istio/istio#54281
(REGISTRY_ONLY not honoured by ztunnel).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import modes, ztunnel_values
from egresslint.mesh.graph import ZTUNNEL_EGRESS, MeshGraph
from egresslint.model import Finding

RULE = Rule(
    id="EGL120",
    name="ztunnel-egress-backstop-missing",
    tag="bypass",
    level="note",
    summary="ztunnel egressPolicies backstop missing or permissive where the egress design relies on it.",
    kinds=("Gateway", "NetworkPolicy"),
    precision="low",
)

_WHY = (
    "ztunnel passes traffic to unregistered hosts straight through, and this repository relies "
    "on the backstop"
)


def _has_egress_netpol(graph: MeshGraph) -> bool:
    for np_ in graph.of_kind("NetworkPolicy"):
        types = np_.spec.get("policyTypes")
        if (isinstance(types, list) and "Egress" in types) or "egress" in np_.spec:
            return True
    return False


def _relied_on(graph: MeshGraph) -> str | None:
    if modes.gateways_of_class(graph, ZTUNNEL_EGRESS) or graph.mode_override == ZTUNNEL_EGRESS:
        return "L4 ztunnel-native egress is used"
    if graph.egress_controlled() and not _has_egress_netpol(graph):
        return "egress goes through waypoints but no egress NetworkPolicy exists"
    return None


def _values_findings(graph: MeshGraph, reason: str) -> Iterator[Finding]:
    for zt in ztunnel_values.sections(graph.values_documents()):
        doc = zt.doc
        value = zt.get("egressPolicies")
        if value is None:
            if _has_egress_netpol(graph):
                continue
            path = zt.base or next(iter(doc.body), ())
            path = path if isinstance(path, tuple) else (path,)
            what = "sets no egressPolicies"
        else:
            why = ztunnel_values.permissive(value)
            if why is None:
                continue
            path, what = zt.policies_path, f"has egressPolicies that deny nothing: {why}"
        yield Finding(
            RULE.id,
            f"{doc.ref} configures ztunnel but {what}. {reason[0].upper()}{reason[1:]}, and "
            f"{_WHY}: add an entry with policy: Deny for unregistered destinations, or an egress "
            "NetworkPolicy on application namespaces.",
            doc.file,
            doc.locate(path),
            path=path,
        )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    reason = _relied_on(graph)
    if reason is None:
        return
    if any(True for _ in ztunnel_values.sections(graph.values_documents())):
        yield from _values_findings(graph, reason)
        return
    gateways = modes.gateways_of_class(graph, ZTUNNEL_EGRESS)
    if gateways and not _has_egress_netpol(graph):
        gw = gateways[0]
        yield RULE.at(
            gw,
            ("spec", "gatewayClassName"),
            f"{gw.ref} provides L4 ztunnel-native egress, but no ztunnel Helm values with "
            f"egressPolicies are in the repository: {_WHY}. Add egressPolicies with a Deny "
            "entry to the ztunnel values, or lock application namespaces down with egress "
            "NetworkPolicies.",
            [related(gw, ("metadata", "name"), "L4 egress gateway")],
        )
