"""``check --diff REF``: only the findings that are new against a git revision.

The work tree is linted as usual; then the tree at REF, written to a private temporary folder
(``sources/revision.py``), is linted with the same options, its paths and base folder mapped
into the copy. A finding of the work tree is new when REF has fewer findings with its
identity (``identity.py``: rule, repository-relative file, resource, field; never the line),
wherever it is located: a change in one file that breaks a binding in another shows at the
other file. Both runs share the parse cache, which is keyed by content, so the files REF
has in common with the work tree are not parsed again.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from ..sources import revision
from . import engine
from .identity import Identities

RevisionError = revision.RevisionError


def key(ref: str, paths: Sequence[str]) -> str:
    """What the report of a run on ``paths`` depends on besides the work tree: the tree REF
    names (cheap: no file is read), for the run cache."""
    found = revision.resolve(ref, paths)
    return f"diff:{found.tree}:{found.top}"


def run(
    options: engine.Options,
    ref: str,
    progress: Callable[[int, int], None] | None = None,
    prepared: engine.Prepared | None = None,
) -> engine.RunResult:
    """Lint the work tree and REF; keep the work tree's findings that REF does not have.
    Raises :class:`RevisionError` when REF cannot be read."""
    revision.resolve(ref, options.paths)  # errors before the work tree is linted
    result = engine.run(options, progress=progress, prepared=prepared)
    base = options.base_dir or os.getcwd()
    with revision.checkout(ref, options.paths) as copy:
        known: Counter[str] = Counter()
        before = _at_revision(options, copy, base)
        if before is not None:
            old = engine.run(before)
            known = Identities(copy.root, before.base_dir).counts(old.findings)
            result.internal_errors += [f"at {ref}: {e}" for e in old.internal_errors]
        _keep_new(result, Identities(copy.revision.top, base), known, ref)
        if copy.missing:
            missing = ", ".join(copy.missing)
            result.notifications.append(f"{missing}: not in {ref}; every finding there is new.")
    return result


def _at_revision(
    options: engine.Options, copy: revision.Checkout, base: str
) -> engine.Options | None:
    """The options of the run on REF's copy (None when none of the paths existed at REF)."""
    if not copy.paths:
        return None

    def mapped(path: str) -> str:
        return copy.map(os.path.join(base, path))

    return dataclasses.replace(
        options,
        paths=list(copy.paths),
        base_dir=copy.map(base),
        reuse_results=False,
        views={name: [mapped(f) for f in folders] for name, folders in options.views.items()},
        helm_releases=[_release(r, mapped) for r in options.helm_releases],
    )


def _release(entry: dict[str, Any], mapped: Callable[[str], str]) -> dict[str, Any]:
    out = dict(entry)
    if isinstance(entry.get("chart"), str):
        out["chart"] = mapped(entry["chart"])
    values = entry.get("values")
    if isinstance(values, list):
        out["values"] = [mapped(v) if isinstance(v, str) else v for v in values]
    return out


def _keep_new(result: engine.RunResult, ids: Identities, known: Counter[str], ref: str) -> None:
    """Drop the active findings that REF accounts for, one per finding it has."""
    left = known.copy()
    kept = []
    for f in result.findings:
        if f.suppressed is None:
            key = ids.of(f)
            if left[key] > 0:
                left[key] -= 1
                continue
        kept.append(f)
    dropped = len(result.findings) - len(kept)
    result.findings = kept
    if dropped:
        result.notifications.append(
            f"{dropped} finding(s) present at {ref} already are not reported (--diff)."
        )
