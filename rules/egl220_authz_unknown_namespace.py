"""An AuthorizationPolicy source names a namespace that matches no namespace of the view, so that
condition never matches a caller.

**Why it matters.** `from.source.namespaces` matches the namespace in the caller's identity. An
entry that names no existing namespace (a typo, a renamed or deleted namespace) matches nobody:
in an ALLOW policy the callers it was meant to admit are denied (at the egress waypoint: the
external host becomes unreachable for them), in a DENY policy it refuses nobody. A
`notNamespaces` entry that names no namespace excludes nothing: when it is a typo, the namespace
meant to be excluded is not (an ALLOW source admits it, a DENY source refuses it). `istioctl
analyze` reports the same entry as IST0101 (ReferencedResourceNotFound).

**When it fires.** For every `namespaces` and `notNamespaces` entry of every AuthorizationPolicy
rule, as istioctl's analyzer reads them: `*` matches any namespace; `*` elsewhere in the entry
matches any characters, as the proxy's matcher does (`prefix*`, `*suffix`, `a*b`); an entry
without `*` is compared ignoring case. The namespaces of the view are those with a Namespace
object or any resource in them, plus the ones every cluster has (`default`, `kube-system`,
`kube-public`, `kube-node-lease`) and Istio's root namespace `istio-system`. A repository rarely
holds every namespace, so the finding is a note that says the namespace may be defined
elsewhere (with the closest known namespace when one looks like a typo); it is a warning when
the view is declared complete (`--complete`, or `complete: true` for the view).

**How to fix.** Correct the namespace name, or remove the entry when the namespace is gone; add
the Namespace to the repository if it is managed there.

Holds since Istio 1.24. Sources: istio/istio
`pkg/config/analysis/analyzers/authz/authorizationpolicies.go` (`analyzeNamespaceNotFound`,
`namespaceMatch`, 1.24.0 and 1.30.3); the proxy's matcher for source namespaces,
`pilot/pkg/security/authz/model/generator.go` `srcNamespaceGenerator` (every `*` becomes `.*`,
1.24.0 and 1.30.3); authorization_policy.proto (`Source.namespaces`, `Source.notNamespaces`).
"""

import difflib
import re
from collections.abc import Iterator
from functools import lru_cache

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio
from egresslint.mesh.graph import ROOT_NAMESPACE, MeshGraph
from egresslint.model import Finding, Path, Resource, as_list, as_map, enumerate_maps

RULE = Rule(
    id="EGL220",
    name="authz-unknown-namespace",
    tag="unreachable",
    level="warning",
    summary="AuthorizationPolicy source (not)namespaces entry matches no namespace of the view.",
    kinds=("AuthorizationPolicy", "Namespace"),
    precision="medium",
    istio_analyzer=("IST0101",),
)

# Namespaces every Kubernetes cluster has, and Istio's root namespace.
ALWAYS = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", ROOT_NAMESPACE})
FIELDS = ("namespaces", "notNamespaces")


def _known(graph: MeshGraph) -> tuple[frozenset[str], frozenset[str]]:
    """The view's namespaces, and the same folded for case-insensitive lookups."""

    def compute() -> tuple[frozenset[str], frozenset[str]]:
        names = graph.known_namespaces() | ALWAYS
        return names, frozenset(n.casefold() for n in names)

    return graph.memo("EGL220.known", compute)


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(map(re.escape, pattern.split("*"))))


def matches(pattern: str, namespace: str) -> bool:
    """Whether a source namespace entry matches ``namespace``."""
    if "*" not in pattern:
        return pattern.casefold() == namespace.casefold()
    return _glob(pattern).fullmatch(namespace) is not None


def _matches_any(graph: MeshGraph, value: str) -> bool:
    names, folded = _known(graph)
    if "*" not in value:
        return value.casefold() in folded
    return any(matches(value, ns) for ns in names)


def _entries(ap: Resource) -> Iterator[tuple[Path, str, str]]:
    for r, rule in enumerate_maps(ap.spec.get("rules")):
        for f, frm in enumerate_maps(rule.get("from")):
            source = as_map(frm.get("source"))
            for name in FIELDS:
                for k, value in enumerate(as_list(source.get(name))):
                    if isinstance(value, str) and value.strip():
                        yield ("spec", "rules", r, "from", f, "source", name, k), name, value


def _effect(ap: Resource, field: str) -> str:
    if field == "notNamespaces":
        return "excludes no namespace and does not narrow this source"
    verb = {"ALLOW": "admits", "DENY": "refuses"}.get(istio.action(ap), "matches")
    return f"{verb} no caller"


def _hint(known: frozenset[str], value: str) -> str:
    if "*" in value:
        return ""
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.8)
    return f" Did you mean '{close[0]}'?" if close else ""


def _finding(graph: MeshGraph, ap: Resource, path: Path, field: str, value: str) -> Finding:
    kind = "pattern" if "*" in value else "namespace"
    if graph.scope.complete:
        where = "no namespace of the view (declared complete)"
        effect = f"the entry {_effect(ap, field)}"
    else:
        where = "no namespace of the repository"
        effect = f"unless such a namespace is created elsewhere, the entry {_effect(ap, field)}"
    finding = RULE.at(
        ap,
        path,
        f"{ap.ref} names {kind} '{value}' in {field}, which matches {where}: {effect}."
        f"{_hint(_known(graph)[0], value)} Fix the namespace name, or remove the entry if the "
        "namespace is gone.",
    )
    if not graph.scope.complete:
        finding.level = "note"
    return finding


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for ap in graph.of_kind("AuthorizationPolicy"):
        for path, field, value in _entries(ap):
            if not _matches_any(graph, value):
                yield _finding(graph, ap, path, field, value)
