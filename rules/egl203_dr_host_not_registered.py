"""A DestinationRule names a host that no ServiceEntry or Service registers, so it is ignored.

**Why it matters.** A DestinationRule only applies to a service in Istio's registry. For an
external host the registry entry is a ServiceEntry; without one the rule (and its TLS
origination, connection pool or outlier settings) silently does nothing, and the traffic is
not routed through the egress waypoint either. `istioctl analyze` reports the same situation
as IST0174 (UnknownDestinationRuleHost).

**When it fires.** For a DestinationRule whose `host` looks external (it has a dot and does
not end in a cluster domain such as `.svc.cluster.local` or `.cluster.local`, nor `.svc`) and
matches no ServiceEntry host anywhere in the repository, exactly or by wildcard in either
direction. When the repository holds no ServiceEntry at all the registry likely lives
elsewhere, and the finding is a note. A host in the cluster domain (a short name resolves in
the rule's namespace, as istiod and `istioctl analyze` read it) that no Service of the
repository (`name.namespace...`) and no ServiceEntry registers is a note too: the Service may
be deployed from another repository. It is a warning when the view is declared complete
(`--complete`). Wildcard hosts in the cluster domain (`*.local`) and IP addresses are not
reported.

**How to fix.** Add a ServiceEntry for the host (bound to the egress waypoint), or correct a
typo in `spec.host`, or delete the unused DestinationRule.

Sources: destination_rule.proto (`host`); istioctl analyze IST0174
(`UnknownDestinationRuleHost`, `pkg/config/analysis/analyzers/destinationrule/subset.go`,
1.27.0-1.30.3, which resolves short names with the rule's namespace and reports a host that
matches no Service and no ServiceEntry).
"""

import ipaddress
from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh.selectors import fqdn
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL203",
    name="dr-host-not-registered",
    tag="unreachable",
    level="warning",
    summary="DestinationRule for an external host that no ServiceEntry registers; it is ignored.",
    kinds=("DestinationRule", "ServiceEntry", "Service"),
    istio_analyzer=("IST0174",),
)

_CLUSTER_SUFFIXES = (".cluster.local", ".svc", ".local")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _looks_external(host: str) -> bool:
    name = host.lstrip("*.")
    return "." in name and not name.endswith(_CLUSTER_SUFFIXES) and not _is_ip(name)


def _is_k8s_service(ctx: Context, host: str) -> bool:
    """``name.namespace`` (or longer) naming a Service of the repository."""
    parts = host.split(".")
    return len(parts) >= 2 and ctx.graph.get("Service", parts[1], parts[0]) is not None


def _in_cluster(host: str) -> bool:
    return host.endswith(_CLUSTER_SUFFIXES) and not host.startswith("*")


def _unregistered(ctx: Context, dr: Resource) -> str | None:
    host = dr.spec.get("host")
    if not isinstance(host, str) or not host.strip():
        return None
    name = fqdn(host, dr.namespace)
    if not (_looks_external(name) or _in_cluster(name)) or _is_k8s_service(ctx, name):
        return None
    if ctx.graph.service_entries_for_host(name, dr.namespace):
        return None
    return name


def _in_cluster_note(ctx: Context, dr: Resource, host: str) -> Finding:
    finding = RULE.at(
        dr,
        ("spec", "host"),
        f"{dr.ref} applies to {host}, which no Service or ServiceEntry in the repository "
        "registers: Istio ignores a DestinationRule for a host outside its registry. If the "
        "Service is deployed from elsewhere this is fine; otherwise fix the host name or "
        "delete the rule.",
    )
    if not ctx.graph.scope.complete:
        finding.level = "note"
    return finding


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    has_registry = bool(graph.of_kind("ServiceEntry"))
    for dr in graph.of_kind("DestinationRule"):
        host = _unregistered(ctx, dr)
        if host is None:
            continue
        if _in_cluster(host):
            yield _in_cluster_note(ctx, dr, host)
            continue
        where = (
            "no ServiceEntry in the repository registers it"
            if has_registry
            else "the repository defines no ServiceEntry at all"
        )
        finding = RULE.at(
            dr,
            ("spec", "host"),
            f"{dr.ref} applies to {host}, but {where}: Istio ignores a DestinationRule for a host "
            "outside its registry, so its settings (such as TLS origination) never take effect. "
            "Add a ServiceEntry for the host bound to the egress waypoint, or fix the host name.",
        )
        if not has_registry:
            finding.level = "note"
        yield finding
