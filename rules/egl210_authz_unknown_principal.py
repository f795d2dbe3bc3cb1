"""An ALLOW AuthorizationPolicy names a service account that no workload of its namespace in the
repository runs as, so that principal never matches.

**Why it matters.** `principals` are SPIFFE identities `<trust-domain>/ns/<namespace>/sa/<service
account>`. A typo in the service account, or a workload that was renamed, leaves the ALLOW rule
pointing at nobody: the intended caller is denied at the egress waypoint.

**When it fires.** Only for namespaces where the repository defines workloads (Deployments,
StatefulSets, Pods, ...), for principals whose namespace is literal and whose service account
(exact, or a `prefix*`/`*suffix` pattern) matches no workload's `serviceAccountName` (default
`default`), no ServiceAccount object and no Gateway's service account in that namespace. The
trust domain is not checked. Workloads deployed from elsewhere cannot be seen, so this is a
note.

A Gateway that istiod deploys (classes `istio-waypoint`, `istio-east-west`,
`istio-agentgateway`, `istio-agentgateway-waypoint`, `istio`) runs as the service account named
by its `gateway.istio.io/service-account` annotation, else as the Gateway's name (`<name>-istio`
for class `istio`). For Gateways of other classes (deployed by another controller) both the
name and the annotation are accepted. A principal naming the default account of a Gateway whose
annotation renames it is reported even in a namespace without workloads: the waypoint no longer
runs as that account.

**How to fix.** Correct the service account name, or add the `serviceAccountName` to the
workload that should be allowed; for a renamed waypoint, use the annotation's account.

Sources: authorization_policy.proto (`Source.principals`); istio.io "Ambient and
AuthorizationPolicy" (identities in ambient); istio/istio
`pilot/pkg/config/kube/gateway/deploymentcontroller.go` (1.24.0-1.29.x) and
`pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go` (1.30.0-1.30.3):
`ServiceAccount: GetOrDefault(gw.Annotations[gateway.istio.io/service-account], defaultName)`,
the default name being the Gateway's name, suffixed `-<class>` unless the class disables it
(waypoint and east-west classes do); the templates (`files/waypoint.yaml`) set
`serviceAccountName` from it.
"""

import re
from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Path, Related, Resource, as_list, enumerate_maps

RULE = Rule(
    id="EGL210",
    name="authz-unknown-principal",
    tag="unreachable",
    level="note",
    summary="ALLOW policy principal names a service account no workload in the repo uses.",
    kinds=("AuthorizationPolicy", "Deployment", "ServiceAccount"),
    precision="medium",
)

_PRINCIPAL = re.compile(r"^[^/]*/ns/(?P<ns>[^/*]+)/sa/(?P<sa>[^/]+)$")


SA_ANNOTATION = "gateway.istio.io/service-account"
# GatewayClasses istiod deploys, and whether their default names carry a "-<class>" suffix.
_ISTIOD_CLASSES = {
    "istio-waypoint": False,
    "istio-east-west": False,
    "istio-agentgateway": False,
    "istio-agentgateway-waypoint": False,
    "istio": True,
}


def _default_account(graph: MeshGraph, gw: Resource) -> str:
    cls = graph.gateway_class(gw)
    return f"{gw.name}-{cls}" if _ISTIOD_CLASSES.get(cls) else gw.name


def gateway_accounts(graph: MeshGraph, gw: Resource) -> set[str]:
    """The service accounts a Gateway's pods may run as."""
    renamed = gw.annotations.get(SA_ANNOTATION, "")
    if graph.gateway_class(gw) in _ISTIOD_CLASSES:
        return {renamed or _default_account(graph, gw)}
    return {gw.name, renamed} - {""}


def _gateway_named(graph: MeshGraph, ns: str, sa: str) -> Resource | None:
    """An istiod-deployed Gateway that ``sa`` seems to mean (its name or default account) but
    which runs as another account (renamed, or suffixed ``-<class>``)."""
    for gw in graph.in_namespace("Gateway", ns):
        if graph.gateway_class(gw) not in _ISTIOD_CLASSES:
            continue
        if sa in (gw.name, _default_account(graph, gw)) and sa not in gateway_accounts(graph, gw):
            return gw
    return None


def _known_accounts(graph: MeshGraph, ns: str) -> set[str]:
    known = {w.service_account for w in graph.workloads(ns)}
    known |= {sa.name for sa in graph.in_namespace("ServiceAccount", ns)}
    for gw in graph.in_namespace("Gateway", ns):
        known |= gateway_accounts(graph, gw)
    return known


def _principals(ap: Resource) -> Iterator[tuple[Path, str]]:
    for r, rule in enumerate_maps(ap.spec.get("rules")):
        for f, frm in enumerate_maps(rule.get("from")):
            src = frm.get("source")
            if not isinstance(src, dict):
                continue
            for k, value in enumerate(as_list(src.get("principals"))):
                if isinstance(value, str):
                    yield ("spec", "rules", r, "from", f, "source", "principals", k), value


def _unknown(graph: MeshGraph, principal: str) -> tuple[str, str, Resource | None] | None:
    match = _PRINCIPAL.match(principal.strip())
    if match is None:
        return None
    ns, sa = match["ns"], match["sa"]
    if any(reach.string_match(sa, known) for known in _known_accounts(graph, ns)):
        return None
    gw = _gateway_named(graph, ns, sa)
    if gw is None and not graph.workloads(ns):
        return None
    return ns, sa, gw


def _message(
    graph: MeshGraph, ap: Resource, principal: str, found: tuple[str, str, Resource | None]
) -> str:
    ns, sa, gw = found
    if gw is not None:
        account = min(gateway_accounts(graph, gw))
        why = f" ({SA_ANNOTATION})" if gw.annotations.get(SA_ANNOTATION) else ""
        return (
            f"{ap.ref} allows principal {principal}, but {gw.ref} runs as service account "
            f"'{account}'{why}, not '{sa}': this principal never matches. Use "
            f"{principal.strip().rsplit('/sa/', 1)[0]}/sa/{account}."
        )
    users = sorted({w.service_account for w in graph.workloads(ns)})
    return (
        f"{ap.ref} allows principal {principal}, but no workload in namespace {ns} runs "
        f"as service account '{sa}' (they use: {', '.join(users)}): this principal never "
        "matches. Fix the service account name or the workload's serviceAccountName."
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for ap in graph.of_kind("AuthorizationPolicy"):
        if istio.action(ap) != "ALLOW":
            continue
        for path, principal in _principals(ap):
            found = _unknown(graph, principal)
            if found is None:
                continue
            rel = [] if found[2] is None else [_gateway_related(found[2])]
            yield RULE.at(ap, path, _message(graph, ap, principal, found), rel)


def _gateway_related(gw: Resource) -> Related:
    if SA_ANNOTATION in gw.annotations:
        return related(gw, ("metadata", "annotations", SA_ANNOTATION), "sets its service account")
    return related(gw, ("spec", "gatewayClassName"), "its class names the deployment")
