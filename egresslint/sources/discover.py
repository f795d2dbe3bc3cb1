"""Which files to read: folders walked for *.yaml / *.yml, never leaving the given roots."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

YAML_SUFFIXES = (".yaml", ".yml")
STDIN = "-"


@dataclass(frozen=True)
class Input:
    """A file to read: ``real`` is the path opened, ``shown`` the one printed."""

    real: str
    shown: str
    ident: tuple[int, int] | None = field(default=None, compare=False, repr=False)  # dev, inode


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


def _child(shown_dir: str, name: str) -> str:
    return name if shown_dir == os.curdir else f"{shown_dir}/{name}"


def _walk(root: str, roots: list[str], base: str, excludes: list[str]) -> Iterator[Input | Skipped]:
    """Depth first, in name order: a folder's files, then its subfolders. Symlinked folders are
    not entered; a folder that cannot be listed is reported as skipped, with the reason."""
    top = display_path(root, base)
    if os.path.abspath(root) == base:
        top = os.curdir  # the files under it are shown relative to it
    pending = [(root, top)]
    while pending:
        path, shown = pending.pop()
        try:
            with os.scandir(path) as listing:
                entries = sorted(listing, key=lambda e: e.name)
            device = os.stat(path).st_dev
        except OSError as exc:
            yield Skipped(shown, f"folder cannot be listed ({exc.strerror or exc})")
            continue
        folders = []
        for entry in entries:
            child = _child(shown, entry.name)
            if _is_folder(entry):
                if not entry.name.startswith(".") and not excluded(child, excludes):
                    folders.append((entry.path, child))
            elif entry.name.endswith(YAML_SUFFIXES):
                yield from _entry(entry, device, child, roots, excludes)
        pending.extend(reversed(folders))


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir() and not entry.is_symlink()
    except OSError:
        return False


def _entry(
    entry: os.DirEntry[str], device: int, shown: str, roots: list[str], excludes: list[str]
) -> Iterator[Input | Skipped]:
    """A listed *.yaml name: a regular file is taken as listed (no extra system call);
    symlinks are resolved and must stay inside the roots; anything else is never opened."""
    if excluded(shown, excludes):
        return
    try:
        if entry.is_file(follow_symlinks=False):
            yield Input(entry.path, shown, (device, entry.inode()))
            return
        if not entry.is_symlink():
            return  # FIFOs, sockets, devices: never opened
        st = os.stat(entry.path)
    except OSError as exc:
        yield Skipped(shown, f"cannot be read ({exc.strerror or exc})")
        return
    if not stat.S_ISREG(st.st_mode):
        return  # a link to a folder or a FIFO
    if not _inside(os.path.realpath(entry.path), roots):
        yield Skipped(shown, "symlink to a file outside the linted folders; not followed")
        return
    yield Input(entry.path, shown, (st.st_dev, st.st_ino))


def discover(
    paths: Iterable[str], excludes: Iterable[str] = (), base: str | None = None
) -> Iterator[Input | Skipped]:
    """Expand the command-line paths into the files to read, in a stable order. A file met
    twice (two arguments, or a symlink and its target) is read once: the first time."""
    base = os.path.abspath(base or os.getcwd())
    excludes = list(excludes)
    paths = list(paths)
    roots = [os.path.realpath(p) for p in paths if p != STDIN]
    seen: set[object] = set()
    for path in paths:
        for item in _expand(path, roots, base, excludes):
            key: object = item.shown
            if isinstance(item, Input):
                key = STDIN if item.real == STDIN else item.ident or os.path.realpath(item.real)
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
            st = os.stat(path)
        except OSError as exc:
            yield Skipped(shown, f"cannot be read ({exc.strerror or exc})")
            return
        if stat.S_ISREG(st.st_mode):
            yield Input(path, shown, (st.st_dev, st.st_ino))
        else:
            yield Skipped(shown, "not a regular file; skipped")
    else:
        yield Skipped(display_path(path, base), "no such file or folder")
