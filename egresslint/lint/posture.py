"""``egresslint reach``: the reachability model of every view of a run, and the posture diff
against a git revision (``reach --diff REF``).

The run reads the same inputs, views and configuration as ``check`` but runs no rule: the
model (``mesh/reachability.py``) is computed from the views' graphs. For ``--diff`` the tree at
REF is written to a private temporary folder (``sources/revision.py``) and read with the same
options, its paths and base folder mapped into the copy (as ``check --diff`` does,
``lint/diff.py``), so that file names compare equal on both sides.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from ..mesh import reachability, reachdiff
from ..sources import revision
from . import diff, engine
from .registry import all_rules

Version = tuple[int, int, int]
RevisionError = revision.RevisionError


@dataclass
class Models:
    """The models of a run's views (in the run's order), and what the run had to say."""

    views: dict[str, reachability.Reachability]
    refs: dict[str, frozenset[str]]  # every resource of each view, as messages name it
    files: int = 0
    notifications: list[str] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)


@dataclass
class Posture:
    """The pairs that changed between REF and the work tree."""

    ref: str
    changes: list[reachdiff.Change]
    notifications: list[str] = field(default_factory=list)


def without_rules(options: engine.Options) -> engine.Options:
    """The options of a run that only builds the views' graphs."""
    return dataclasses.replace(
        options, select=[], ignore=[r.id for r in all_rules()], reuse_results=False
    )


def models(
    options: engine.Options,
    version: Version,
    progress: Callable[[int, int], None] | None = None,
) -> Models:
    """Read the inputs and compute the model of every view."""
    result = engine.run(without_rules(options), progress=progress)
    return Models(
        {name: reachability.compute(g, version) for name, g in result.graphs.items()},
        {name: frozenset(r.ref for r in g.resources) for name, g in result.graphs.items()},
        result.files,
        list(result.notifications),
        list(result.internal_errors),
    )


class TooLarge(Exception):
    """More pairs to compare than the caller allows."""


def _check_size(found: Models, view: str | None, limit: int) -> None:
    size = sum(m.extent() for name, m in found.views.items() if view is None or name == view)
    if limit and size > limit:
        raise TooLarge(f"{size} pairs to compare, more than --max-pairs {limit}")


def posture(
    options: engine.Options,
    ref: str,
    version: Version,
    view: str | None = None,
    limit: int = 0,
) -> Posture:
    """The changed pairs of every view (or of ``view``) between REF and the work tree, each
    side refused (:class:`TooLarge`) beyond ``limit`` pairs (0: no limit). Raises
    :class:`RevisionError` when REF cannot be read."""
    revision.resolve(ref, options.paths)  # errors before the work tree is read
    now = models(options, version)
    _check_size(now, view, limit)
    out = Posture(ref, [], list(now.notifications))
    with revision.checkout(ref, options.paths) as copy:
        before = diff._at_revision(options, copy, options.base_dir or os.getcwd())
        was = models(before, version) if before is not None else Models({}, {})
        _check_size(was, view, limit)
        if copy.missing:
            out.notifications.append(f"{', '.join(copy.missing)}: not in {ref}.")
    for name in [*now.views, *(v for v in was.views if v not in now.views)]:
        if view is not None and name != view:
            continue
        out.changes += reachdiff.compare(
            name,
            was.views.get(name),
            now.views.get(name),
            was.refs.get(name, frozenset()),
            now.refs.get(name, frozenset()),
        )
    return out
