"""The same kind, namespace and name is defined twice in one view, with different content.

**Why it matters.** A cluster keeps one object per kind, namespace and name. When a view (the
set of files applied to one cluster together) defines it twice, `kubectl apply` applies both
and the one applied last silently replaces the other, and with it its labels, bindings or
rules; which one wins depends on file order. egresslint keeps only the first for every other
check, so what the second would change is not judged until one definition is left.

**When it fires.** At the second definition (by file order), for each pair whose content
differs. Identical copies (the same Namespace declared by two applications) are not
reported. Within one kustomize render, kustomize itself refuses duplicates (EGL005).
Sibling folders that define the same objects, such as `clusters/prod` and
`clusters/staging`, are separate views and never duplicates of each other.

**How to fix.** Keep one definition, merge what each adds, or declare the folders as separate
views in the configuration (`views:`) when they go to different clusters.

Sources: Kubernetes documentation, "Object Names and IDs" (a name is unique per kind and
namespace) and "Declarative Management of Kubernetes Objects" (`kubectl apply` of a folder
applies each file in turn, the last configuration applied wins).
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.model import Finding

RULE = Rule(
    id="EGL006",
    name="duplicate-resource",
    tag="invalid",
    level="warning",
    summary="The same kind/namespace/name is defined twice in one view with different content.",
    precision="very-high",
)


def check(ctx: Context) -> Iterator[Finding]:
    for first, later in ctx.graph.duplicates:
        if later.body == first.body:
            continue
        file, span = first.place(("metadata", "name"))
        yield RULE.at(
            later,
            ("metadata", "name"),
            f"{later.ref} is defined twice in this view (first at {file.path}:{span.line}) "
            "with different content: when both are applied, the later one silently replaces "
            "the earlier. Keep one definition, or declare the folders as separate views.",
            [related(first, ("metadata", "name"), "the first definition")],
        )
