"""Which files to read: folders walked for *.yaml / *.yml, never leaving the given roots.

By default (``default_excludes``) a walk does not enter folders named ``node_modules`` or
``vendor``, nor, inside a git work tree, what git ignores (see ``ignore.py``); a path given by
name is read all the same. The ``templates/`` folder of a Helm chart (a folder with a
``Chart.yaml``) is never walked: templates are not YAML until rendered. ``discover(...,
charts=True)`` also yields a :class:`Chart` for each chart folder it meets.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload

from .ignore import Chain, GitIgnores, descend, ignored

YAML_SUFFIXES = (".yaml", ".yml")
STDIN = "-"
DEFAULT_EXCLUDED_FOLDERS = frozenset({"node_modules", "vendor"})
CONFIG_FILES = (".egresslint.yaml", ".egresslint.yml")  # egresslint's own: never linted
KUSTOMIZATION = "Kustomization"  # kustomize's third file name: YAML without the suffix
CHART_FILE = "Chart.yaml"
CHART_TEMPLATES = "templates"


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


@dataclass(frozen=True)
class Chart:
    """A Helm chart's folder (``real`` as opened, ``shown`` as printed); its ``templates/``
    were not read."""

    real: str
    shown: str


@dataclass
class _Walk:
    """What every folder of a discovery is walked with."""

    roots: list[str]
    base: str
    excludes: list[str]
    ignores: GitIgnores | None  # None: no default excludes
    charts: bool


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


def _walk(root: str, walk: _Walk) -> Iterator[Input | Skipped | Chart]:
    """Depth first, in name order: a folder's files, then its subfolders. Symlinked folders are
    not entered; a folder that cannot be listed is reported as skipped, with the reason."""
    top = display_path(root, walk.base)
    if os.path.abspath(root) == walk.base:
        top = os.curdir  # the files under it are shown relative to it
    chain = walk.ignores.above(root) if walk.ignores is not None else None
    pending: list[tuple[str, str, Chain | None]] = [(root, top, chain)]
    while pending:
        path, shown, chain = pending.pop()
        try:
            with os.scandir(path) as listing:
                entries = sorted(listing, key=lambda e: e.name)
            device = os.stat(path).st_dev
        except OSError as exc:
            yield Skipped(shown, f"folder cannot be listed ({exc.strerror or exc})")
            continue
        if walk.ignores is not None:
            chain = walk.ignores.enter(chain, path, {e.name for e in entries})
        chart = any(e.name == CHART_FILE and _is_file(e) for e in entries)
        if chart and walk.charts:
            yield Chart(path, shown)
        folders = []
        for entry in entries:
            child = _child(shown, entry.name)
            if _is_folder(entry):
                if _enters(entry.name, child, chart, chain, walk):
                    folders.append((entry.path, child, descend(chain, entry.name)))
            elif _reads(entry.name, chain):
                yield from _entry(entry, device, child, walk.roots, walk.excludes)
        pending.extend(reversed(folders))


def _reads(name: str, chain: Chain | None) -> bool:
    """Whether a walk reads the file ``name``: YAML, not egresslint's own configuration,
    not ignored by git."""
    if not (name.endswith(YAML_SUFFIXES) or name == KUSTOMIZATION) or name in CONFIG_FILES:
        return False
    return not (chain and ignored(chain, name, False))


def _enters(name: str, shown: str, chart: bool, chain: Chain | None, walk: _Walk) -> bool:
    """Whether the walk enters the subfolder ``name`` (shown as ``shown``)."""
    if name.startswith(".") or excluded(shown, walk.excludes):
        return False
    if chart and name == CHART_TEMPLATES:
        return False
    if walk.ignores is None:
        return True
    return name not in DEFAULT_EXCLUDED_FOLDERS and not (chain and ignored(chain, name, True))


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


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


@overload
def discover(
    paths: Iterable[str],
    excludes: Iterable[str] = (),
    base: str | None = None,
    *,
    default_excludes: bool = True,
    charts: Literal[False] = False,
) -> Iterator[Input | Skipped]: ...


@overload
def discover(
    paths: Iterable[str],
    excludes: Iterable[str] = (),
    base: str | None = None,
    *,
    default_excludes: bool = True,
    charts: bool,
) -> Iterator[Input | Skipped | Chart]: ...


def discover(
    paths: Iterable[str],
    excludes: Iterable[str] = (),
    base: str | None = None,
    *,
    default_excludes: bool = True,
    charts: bool = False,
) -> Iterator[Input | Skipped | Chart]:
    """Expand the command-line paths into the files to read, in a stable order. A file met
    twice (two arguments, or a symlink and its target) is read once: the first time.
    ``default_excludes``: skip node_modules/, vendor/ and what git ignores; ``charts``: also
    yield each Helm chart folder met, before its files."""
    paths = list(paths)
    walk = _Walk(
        roots=[os.path.realpath(p) for p in paths if p != STDIN],
        base=os.path.abspath(base or os.getcwd()),
        excludes=list(excludes),
        ignores=GitIgnores() if default_excludes else None,
        charts=charts,
    )
    seen: set[object] = set()
    for path in paths:
        for item in _expand(path, walk):
            key = _identity(item)
            if key not in seen:
                seen.add(key)
                yield item


def _identity(item: Input | Skipped | Chart) -> object:
    """What makes two items the same: a file's identity, a chart's folder, else the name."""
    if isinstance(item, Input):
        return STDIN if item.real == STDIN else item.ident or os.path.realpath(item.real)
    if isinstance(item, Chart):
        return (CHART_FILE, os.path.realpath(item.real))
    return item.shown


def _expand(path: str, walk: _Walk) -> Iterator[Input | Skipped | Chart]:
    base = walk.base
    if path == STDIN:
        yield Input(STDIN, "<stdin>")
    elif os.path.isdir(path):
        yield from _walk(path, walk)
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
