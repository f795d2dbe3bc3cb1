"""Lint some files against the whole manifest tree (``--context``).

With ``--context PATH`` the files of the context folders are loaded too, so references
resolve against the unchanged files; only findings located in the given paths are reported.
Nothing outside the given paths is read unless asked for this way. A change that breaks a
reference in a file it does not touch is reported only by ``--diff`` (``diff.py``), which the
pre-commit hook uses.
"""

from __future__ import annotations

import os

from ..sources.discover import STDIN, display_path, excluded
from .engine import Options, RunResult


def drop_excluded(paths: list[str], excludes: list[str], base: str) -> list[str]:
    """Given files that match an exclude glob are skipped too (a hook passes every file)."""
    return [
        p
        for p in paths
        if p == STDIN or os.path.isdir(p) or not excluded(display_path(p, base), excludes)
    ]


def plan(options: Options, context: list[str]) -> set[str] | None:
    """Add the context folders to ``options.paths``; return the shown paths whose findings
    are reported, or None to report everything."""
    if not context:
        return None
    given = options.paths
    base = options.base_dir or os.getcwd()
    reported = {"<stdin>" if p == STDIN else display_path(p, base) for p in given}
    options.paths = [*given, *(c for c in context if c not in given)]
    return reported


def restrict(result: RunResult, reported: set[str] | None) -> None:
    """Keep only what concerns the given files."""
    if reported is None:
        return
    result.findings = [f for f in result.findings if _inside(f.file.path, reported)]
    result.skipped = [s for s in result.skipped if _inside(s.shown, reported)]


def _inside(shown: str, reported: set[str]) -> bool:
    return any(shown == r or r == "." or shown.startswith(r.rstrip("/") + "/") for r in reported)
