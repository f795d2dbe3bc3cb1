"""An AuthorizationPolicy source or operation excludes every value it includes (for example
`namespaces: [ci]` with `notNamespaces: [ci]`), so it can never match.

**Why it matters.** Within one `source` or `operation` all fields must match (AND). When the
`not*` field covers every value of its positive field (`namespaces`/`notNamespaces`,
`principals`/`notPrincipals`, `ports`/`notPorts`, `hosts`/`notHosts`, `methods`/`notMethods`,
`paths`/`notPaths`), nothing satisfies both. In an ALLOW policy on an egress target that source
or operation allows no one; when it is the only one of its rule, the whole rule is dead and the
callers it names are denied.

**When it fires.** For ALLOW policies (the default action), at the positive field of each such
source or operation. Istio's match forms are respected: exact, `prefix*`, `*suffix` and `*`; a
value counts as excluded only when a `not*` pattern covers all values it can match.

**How to fix.** Remove the value from one of the two lists; usually the `not*` list was copied
from another rule, or one of the two was meant for a separate rule (rules are OR-ed).

Sources: authorization_policy.proto (`Source`, `Operation`, "Rule" semantics).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio, reach
from egresslint.model import Finding, Path, Resource, as_list, enumerate_maps

RULE = Rule(
    id="EGL209",
    name="authz-contradictory-match",
    tag="unreachable",
    level="warning",
    summary="AuthorizationPolicy source/operation whose not-field excludes all its values.",
    kinds=("AuthorizationPolicy",),
)

_SOURCE_PAIRS = (
    ("namespaces", "notNamespaces"),
    ("principals", "notPrincipals"),
    ("requestPrincipals", "notRequestPrincipals"),
)
_OPERATION_PAIRS = (
    ("ports", "notPorts"),
    ("hosts", "notHosts"),
    ("methods", "notMethods"),
    ("paths", "notPaths"),
)


def _strings(value: Any) -> list[str]:
    return [str(v) for v in as_list(value) if isinstance(v, (str, int)) and not isinstance(v, bool)]


def _contradictions(
    block: Mapping[str, Any], pairs: tuple[tuple[str, str], ...]
) -> Iterator[tuple[str, str]]:
    for positive, negative in pairs:
        if reach.all_excluded(_strings(block.get(positive)), _strings(block.get(negative))):
            yield positive, negative


def _blocks(ap: Resource) -> Iterator[tuple[Path, Mapping[str, Any], str]]:
    for r, rule in enumerate_maps(ap.spec.get("rules")):
        for f, frm in enumerate_maps(rule.get("from")):
            src = frm.get("source")
            if isinstance(src, Mapping):
                yield ("spec", "rules", r, "from", f, "source"), src, "source"
        for t, to in enumerate_maps(rule.get("to")):
            op = to.get("operation")
            if isinstance(op, Mapping):
                yield ("spec", "rules", r, "to", t, "operation"), op, "operation"


def check(ctx: Context) -> Iterator[Finding]:
    for ap in ctx.graph.of_kind("AuthorizationPolicy"):
        if istio.action(ap) != "ALLOW":
            continue
        for path, block, what in _blocks(ap):
            pairs = _SOURCE_PAIRS if what == "source" else _OPERATION_PAIRS
            for positive, negative in _contradictions(block, pairs):
                yield RULE.at(
                    ap,
                    (*path, positive),
                    f"{ap.ref} has a {what} whose '{negative}' excludes every value of "
                    f"'{positive}' ({', '.join(_strings(block.get(positive)))}): it can never "
                    "match, so the callers it was meant to allow are denied. Remove the value "
                    f"from '{negative}' or move it to a separate rule.",
                )
