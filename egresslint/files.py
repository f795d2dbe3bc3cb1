"""Which files to read: folders walked for *.yaml / *.yml, never leaving the given roots."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

YAML_SUFFIXES = (".yaml", ".yml")
STDIN = "-"


@dataclass(frozen=True)
class Input:
    """A file to read: ``real`` is the path opened, ``shown`` the one printed."""

    real: str
    shown: str


@dataclass(frozen=True)
class Skipped:
    shown: str
    why: str


def display_path(path: str, base: str) -> str:
    """Relative to ``base`` (POSIX separators) when inside it, else as given."""
    absolute = os.path.abspath(path)
    try:
        rel = os.path.relpath(absolute, base)
    except ValueError:
        return Path(path).as_posix()
    if rel == os.curdir or rel.startswith(os.pardir):
        return Path(path).as_posix()
    return Path(rel).as_posix()


def excluded(shown: str, patterns: Iterable[str]) -> bool:
    name = shown.rsplit("/", 1)[-1]
    for pattern in patterns:
        pat = pattern.rstrip("/")
        if fnmatch.fnmatchcase(shown, pat) or fnmatch.fnmatchcase(name, pat):
            return True
        if fnmatch.fnmatchcase(shown, pat + "/*") or shown.startswith(pat + "/"):
            return True
    return False


def _inside(real: str, roots: list[str]) -> bool:
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _walk(root: str, roots: list[str], base: str, excludes: list[str]) -> Iterator[Input | Skipped]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and not excluded(display_path(os.path.join(dirpath, d), base), excludes)
        )
        for name in sorted(filenames):
            if name.endswith(YAML_SUFFIXES):
                yield from _candidate(os.path.join(dirpath, name), roots, base, excludes)


def _candidate(
    path: str, roots: list[str], base: str, excludes: list[str]
) -> Iterator[Input | Skipped]:
    shown = display_path(path, base)
    if excluded(shown, excludes):
        return
    try:
        st = os.stat(path)  # follows a symlink to its target
    except OSError as exc:
        yield Skipped(shown, f"cannot be read ({exc.strerror or exc})")
        return
    if not stat.S_ISREG(st.st_mode):
        return  # FIFOs, sockets, devices, folders named *.yaml: never opened
    if os.path.islink(path) and not _inside(os.path.realpath(path), roots):
        yield Skipped(shown, "symlink to a file outside the linted folders; not followed")
        return
    yield Input(path, shown)


def discover(
    paths: Iterable[str], excludes: Iterable[str] = (), base: str | None = None
) -> Iterator[Input | Skipped]:
    """Expand the command-line paths into the files to read, in a stable order."""
    base = os.path.abspath(base or os.getcwd())
    excludes = list(excludes)
    paths = list(paths)
    roots = [os.path.realpath(p) for p in paths if p != STDIN]
    seen: set[str] = set()
    for path in paths:
        for item in _expand(path, roots, base, excludes):
            key = os.path.realpath(item.real) if isinstance(item, Input) else item.shown
            if isinstance(item, Input) and item.real == STDIN:
                key = STDIN
            if key not in seen:
                seen.add(key)
                yield item


def _expand(
    path: str, roots: list[str], base: str, excludes: list[str]
) -> Iterator[Input | Skipped]:
    if path == STDIN:
        yield Input(STDIN, "<stdin>")
    elif os.path.isdir(path):
        yield from _walk(path, roots, base, excludes)
    elif os.path.lexists(path):
        shown = display_path(path, base)
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            yield Skipped(shown, f"cannot be read ({exc.strerror or exc})")
            return
        if stat.S_ISREG(mode):
            yield Input(path, shown)
        else:
            yield Skipped(shown, "not a regular file; skipped")
    else:
        yield Skipped(display_path(path, base), "no such file or folder")
