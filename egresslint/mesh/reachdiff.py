"""Posture diff: the pairs of two reachability models (a git revision's and the work tree's)
whose verdict or path differ.

Pairs are matched by view, client label and destination label; paths are compared by the
steps' kinds, outcomes and summaries (``Pair.path_text``), never by line numbers, so moving a
resource in its file changes nothing. For each changed step the sources that appear (resources
cited now and not before) and disappear are listed; a source whose resource does not exist on
the other side at all is marked new (or removed): the AuthorizationPolicy a pull request adds,
the NetworkPolicy it deletes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .reachtypes import STEP_KINDS, Pair, Reachability, Source, Step, StepKind


@dataclass(frozen=True)
class Cited:
    """A source in a changed step: ``state`` is ``new``/``removed`` when its resource exists
    only after/before, else ``added``/``dropped`` (cited on one side only)."""

    source: Source
    state: str


@dataclass(frozen=True)
class StepChange:
    kind: StepKind
    before: Step | None
    after: Step | None
    cited: tuple[Cited, ...]


@dataclass(frozen=True)
class Change:
    """One pair whose verdict or path changed (``before`` None: a new pair, ``after`` None: a
    pair that is gone)."""

    view: str
    client: str
    destination: str
    before: Pair | None
    after: Pair | None
    steps: tuple[StepChange, ...]

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        return "removed" if self.after is None else "changed"

    @property
    def verdicts(self) -> tuple[str, str]:
        return (
            self.before.verdict if self.before is not None else "none",
            self.after.verdict if self.after is not None else "none",
        )


def _cited(
    before: Step | None, after: Step | None, old: frozenset[str], new: frozenset[str]
) -> tuple[Cited, ...]:
    was = {(s.ref, s.role) for s in before.sources} if before is not None else set()
    now = {(s.ref, s.role) for s in after.sources} if after is not None else set()
    found = [
        Cited(s, "new" if s.ref not in old else "added")
        for s in (after.sources if after is not None else ())
        if (s.ref, s.role) not in was
    ]
    found += [
        Cited(s, "removed" if s.ref not in new else "dropped")
        for s in (before.sources if before is not None else ())
        if (s.ref, s.role) not in now
    ]
    return tuple(found)


def _same(a: Step | None, b: Step | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.text == b.text


def _steps(
    before: Pair | None, after: Pair | None, old: frozenset[str], new: frozenset[str]
) -> tuple[StepChange, ...]:
    out = []
    for kind in STEP_KINDS:
        a = before.step(kind) if before is not None else None
        b = after.step(kind) if after is not None else None
        if not _same(a, b):
            out.append(StepChange(kind, a, b, _cited(a, b, old, new)))
    return tuple(out)


def compare(
    view: str,
    before: Reachability | None,
    after: Reachability | None,
    old_refs: Iterable[str] = (),
    new_refs: Iterable[str] = (),
) -> list[Change]:
    """The changed pairs of one view, in the work tree's order (then the pairs that are gone).
    ``old_refs``/``new_refs``: every resource of the view at the revision and now."""
    old, new = frozenset(old_refs), frozenset(new_refs)
    was: Mapping[tuple[str, str], Pair] = {p.key: p for p in before or ()}
    now: Mapping[tuple[str, str], Pair] = {p.key: p for p in after or ()}
    changes = []
    for key in [*now, *(k for k in was if k not in now)]:
        a, b = was.get(key), now.get(key)
        if (
            a is not None
            and b is not None
            and (a.verdict, a.path_text()) == (b.verdict, b.path_text())
        ):
            continue
        changes.append(Change(view, key[0], key[1], a, b, _steps(a, b, old, new)))
    return changes
