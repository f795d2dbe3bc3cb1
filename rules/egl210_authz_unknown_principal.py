"""An ALLOW AuthorizationPolicy names a service account that no workload of its namespace in the
repository runs as, so that principal never matches.

**Why it matters.** `principals` are SPIFFE identities `<trust-domain>/ns/<namespace>/sa/<service
account>`. A typo in the service account, or a workload that was renamed, leaves the ALLOW rule
pointing at nobody: the intended caller is denied at the egress waypoint.

**When it fires.** Only for namespaces where the repository defines workloads (Deployments,
StatefulSets, Pods, ...), for principals whose namespace is literal and whose service account
(exact, or a `prefix*`/`*suffix` pattern) matches no workload's `serviceAccountName` (default
`default`), no ServiceAccount object and no Gateway (a waypoint runs as the Gateway's name) of
that namespace. The trust domain is not checked. Workloads deployed from elsewhere cannot be
seen, so this is a note.

**How to fix.** Correct the service account name, or add the `serviceAccountName` to the
workload that should be allowed.

Sources: authorization_policy.proto (`Source.principals`); istio.io "Ambient and
AuthorizationPolicy" (identities in ambient).
"""

import re
from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Path, Resource, as_list, enumerate_maps

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


def _known_accounts(graph: MeshGraph, ns: str) -> set[str]:
    known = {w.service_account for w in graph.workloads(ns)}
    known |= {sa.name for sa in graph.in_namespace("ServiceAccount", ns)}
    known |= {gw.name for gw in graph.in_namespace("Gateway", ns)}
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


def _unknown(graph: MeshGraph, principal: str) -> tuple[str, str] | None:
    match = _PRINCIPAL.match(principal.strip())
    if match is None:
        return None
    ns, sa = match["ns"], match["sa"]
    if not graph.workloads(ns):
        return None
    if any(reach.string_match(sa, known) for known in _known_accounts(graph, ns)):
        return None
    return ns, sa


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for ap in graph.of_kind("AuthorizationPolicy"):
        if istio.action(ap) != "ALLOW":
            continue
        for path, principal in _principals(ap):
            found = _unknown(graph, principal)
            if found is None:
                continue
            ns, sa = found
            users = sorted({w.service_account for w in graph.workloads(ns)})
            yield RULE.at(
                ap,
                path,
                f"{ap.ref} allows principal {principal}, but no workload in namespace {ns} runs "
                f"as service account '{sa}' (they use: {', '.join(users)}): this principal never "
                "matches. Fix the service account name or the workload's serviceAccountName.",
            )
