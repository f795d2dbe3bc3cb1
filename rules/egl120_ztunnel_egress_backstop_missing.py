"""The vendor's ztunnel `egressPolicies` backstop is missing or lets everything through where
L4 ztunnel-native egress relies on it, so traffic to unregistered hosts leaves unchecked.

**Why it matters.** In ambient mode ztunnel passes traffic to destinations that are not in the
service registry (no Service or ServiceEntry) straight through as plain TCP;
`outboundTrafficPolicy: REGISTRY_ONLY` is not honoured (istio/istio#54281). The vendor's L4
ztunnel-native egress design (GatewayClass `solo-ztunnel-egress`) offers a ztunnel Helm value,
`egressPolicies`, as "a default-deny backstop for unknown external destinations"; the other
backstop is an egress NetworkPolicy on application namespaces. Without either, any pod can
reach any unregistered host.

**When it fires** (as a note), only where the vendor's ztunnel egress mode is in use (a
Gateway of class `solo-ztunnel-egress`, or `--mode solo-ztunnel-egress`):

- a ztunnel Helm values document (recognised by its content) has `egressPolicies` that let
  every unregistered destination through: empty, only `Passthrough` entries, or a catch-all
  `Passthrough` before any `Deny` or `Gateway` entry; or
- there is no egress NetworkPolicy in the repository (the other backstop) and a ztunnel values
  document has no `egressPolicies`, or there is no ztunnel values document and the repository
  has a `solo-ztunnel-egress` Gateway (reported there).

It understands the modes `Deny`, `Passthrough` and `Gateway` (the vendor mode that forces
unknown destinations through the egress gateway: a catch-all `Gateway` entry is a backstop);
an entry with any other mode makes it say nothing. The accepted shape, the modes and their
sources are in `egresslint/mesh/ztunnel_values.py`.

It is silent for upstream Istio: the upstream ztunnel chart has no `egressPolicies` value
(`manifests/charts/ztunnel/values.yaml` and `templates/`, 1.22.0 through 1.30.3 and
1.31.0-rc.0; no `values.schema.json`, so Helm ignores the key). There the backstop is an egress
NetworkPolicy (EGL106).

**How to fix.** Add an `egressPolicies` entry for unregistered destinations (e.g.
`matchCidrs: [0.0.0.0/0]`) with `policy: Deny`, or `policy: Gateway` to send them through the
ztunnel egress gateway; or lock application namespaces down with an egress NetworkPolicy that
allows only in-cluster destinations and DNS.

The value, its `Gateway` mode and the ztunnel egress mode follow the vendor's documentation
(Solo "Egress approaches" overview, which lists `egressPolicies` as optional); `Deny` and
`Passthrough` follow Alibaba Cloud ASM "ztunnel configuration" (the only published schema).
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
    summary="The vendor's ztunnel egressPolicies backstop is missing or lets everything through "
    "where L4 ztunnel-native egress relies on it.",
    kinds=("Gateway", "NetworkPolicy"),
    precision="low",
)

_WHY = (
    "ztunnel passes traffic to unregistered hosts straight through, and L4 ztunnel-native "
    "egress relies on the backstop"
)
_FIX = (
    "add an entry for unregistered destinations (e.g. matchCidrs: [0.0.0.0/0]) with "
    "policy: Deny, or policy: Gateway to send them through the ztunnel egress gateway; or an "
    "egress NetworkPolicy on application namespaces"
)


def _has_egress_netpol(graph: MeshGraph) -> bool:
    for np_ in graph.of_kind("NetworkPolicy"):
        types = np_.spec.get("policyTypes")
        if (isinstance(types, list) and "Egress" in types) or "egress" in np_.spec:
            return True
    return False


def _ztunnel_egress_used(graph: MeshGraph) -> bool:
    return bool(modes.gateways_of_class(graph, ZTUNNEL_EGRESS)) or (
        graph.mode_override == ZTUNNEL_EGRESS
    )


def _values_findings(graph: MeshGraph) -> Iterator[Finding]:
    for zt in ztunnel_values.sections(graph.values_documents()):
        doc = zt.doc
        value = zt.get("egressPolicies")
        if value is None:
            if _has_egress_netpol(graph):
                continue
            path = zt.base or next(iter(doc.body), ())
            path = path if isinstance(path, tuple) else (path,)
            what = "sets no egressPolicies and no egress NetworkPolicy exists"
        else:
            why = ztunnel_values.permissive(value)
            if why is None:
                continue
            path = zt.policies_path
            what = f"has egressPolicies that let every unregistered destination through: {why}"
        yield Finding(
            RULE.id,
            f"{doc.ref} configures ztunnel but {what}. L4 ztunnel-native egress is used, and "
            f"{_WHY}: {_FIX}.",
            doc.file,
            doc.locate(path),
            path=path,
        )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    if not _ztunnel_egress_used(graph):
        return
    if any(True for _ in ztunnel_values.sections(graph.values_documents())):
        yield from _values_findings(graph)
        return
    gateways = modes.gateways_of_class(graph, ZTUNNEL_EGRESS)
    if gateways and not _has_egress_netpol(graph):
        gw = gateways[0]
        yield RULE.at(
            gw,
            ("spec", "gatewayClassName"),
            f"{gw.ref} provides L4 ztunnel-native egress, but no ztunnel Helm values with "
            f"egressPolicies are in the repository and no egress NetworkPolicy exists: {_WHY}. "
            "Add egressPolicies with a Deny or Gateway entry for unregistered destinations to "
            "the ztunnel values, or lock application namespaces down with egress "
            "NetworkPolicies.",
            [related(gw, ("metadata", "name"), "L4 egress gateway")],
        )
