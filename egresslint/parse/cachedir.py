"""The user's cache folder: its stores, their bound, and what ``egresslint cache`` shows.

``$XDG_CACHE_HOME/egresslint`` (else ``~/.cache/egresslint``) holds one store per kind of
entry: parsed files (packs, ``parse/cache.py``), kustomize and Helm renders (packs,
``views/render.py`` and ``views/helm.py``), whole-run reports (``lint/resultcache.py``) and the
versions of the rendering engines (``views/tools.py``). A store's name carries the version of
its format: when a format changes, so does the name (``runs-v2`` became ``runs-v3``), and the
stores of older versions are removed.

After every write the stores are pruned: entries are removed oldest first (a run report
that is reused counts as new again) until the folder holds at most ``EGRESSLINT_CACHE_MAX``
bytes (default 512 MiB: a first run over 100,000 resources stores about 200 MB), temporary
files that a crashed writer left behind for a day are removed, and so are the stores of older
versions. Like the rest of the cache, pruning never fails a run: an error means the file
stays. Stores of newer versions (another installation's) are left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

PARSE_STORE = "v2"
RENDER_STORE = "renders-v1"
RUN_STORE = "runs-v3"
TOOL_STORE = "tools-v1.json"
STORES = {
    PARSE_STORE: "parsed files",
    RENDER_STORE: "kustomize and Helm renders",
    RUN_STORE: "run reports",
    TOOL_STORE: "engine versions",
}
FOLDER_STORES = (PARSE_STORE, RENDER_STORE, RUN_STORE)  # the ones pruned entry by entry

MAX_ENV = "EGRESSLINT_CACHE_MAX"
DEFAULT_MAX = 512 * 1024 * 1024
STALE_SECONDS = 24 * 3600  # a temporary file this old belongs to no running writer
TMP_PREFIX = ".tmp-"
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.I)
_VERSIONED = re.compile(r"(?P<kind>(?:[a-z]+-)?v)(?P<number>\d+)(?P<ext>\.json)?")


def folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "egresslint"


# ---- the bound ---------------------------------------------------------------------------
def parse_size(text: str) -> int:
    """Bytes in ``text``: a number with an optional unit K, M, G or T (powers of 1024; "MB",
    "MiB" and "M" are the same). ValueError names what is wrong."""
    found = _SIZE.fullmatch(text)
    if not found:
        raise ValueError(f"{text!r} is not a size (a number of bytes, or with K, M or G: 512M)")
    return int(float(found.group(1)) * _UNITS[found.group(2).lower()])


def limit() -> tuple[int, str | None]:
    """The bound in bytes, and what is wrong with ``EGRESSLINT_CACHE_MAX`` when it is not a
    size (the default applies then)."""
    text = os.environ.get(MAX_ENV, "").strip()
    if not text:
        return DEFAULT_MAX, None
    try:
        return parse_size(text), None
    except ValueError as exc:
        return DEFAULT_MAX, f"{MAX_ENV}: {exc}; using the default, {human(DEFAULT_MAX)}"


def human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            shown = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
            return f"{size} bytes" if unit == "bytes" else f"{shown} {unit}"
        value /= 1024
    raise AssertionError("not reached")


# ---- what the folder holds ---------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    path: Path
    size: int
    mtime_ns: int


def _listing(where: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(where) as found:
            return list(found)
    except OSError:
        return []


def _entry(item: os.DirEntry[str]) -> Entry | None:
    try:
        info = item.stat(follow_symlinks=False)
    except OSError:
        return None
    return Entry(Path(item.path), info.st_size, info.st_mtime_ns)


def entries(root: Path, store: str) -> list[Entry]:
    """The complete entries of a folder store (temporary files are not entries)."""
    found = []
    for item in _listing(root / store):
        if not item.name.startswith(TMP_PREFIX) and item.is_file(follow_symlinks=False):
            entry = _entry(item)
            if entry is not None:
                found.append(entry)
    return found


def _version_of(name: str) -> tuple[str, int] | None:
    """("runs-v", 3) for ``runs-v3``, ("tools-v.json", 1) for ``tools-v1.json``."""
    found = _VERSIONED.fullmatch(name)
    if not found:
        return None
    return found.group("kind") + (found.group("ext") or ""), int(found.group("number"))


_CURRENT = {v[0]: v[1] for v in map(_version_of, STORES) if v is not None}


def is_older(name: str) -> bool:
    """Whether ``name`` is a store of an older version than this installation's."""
    version = _version_of(name)
    return version is not None and version[1] < _CURRENT.get(version[0], -1)


def stale_temporaries(root: Path, now_ns: int) -> list[Path]:
    """Temporary files of writers that ended without renaming them."""
    old = now_ns - STALE_SECONDS * 1_000_000_000
    found = []
    for where in (root, *(root / s for s in FOLDER_STORES)):
        for item in _listing(where):
            entry = _entry(item) if item.name.startswith(TMP_PREFIX) else None
            if entry is not None and entry.mtime_ns < old:
                found.append(entry.path)
    return found


# ---- pruning -----------------------------------------------------------------------------
def prune(root: Path | None = None, bound: int | None = None) -> int:
    """Remove older versions' stores, stale temporary files, and the oldest entries beyond
    the bound; the bytes the stores hold afterwards."""
    root = folder() if root is None else root
    bound = limit()[0] if bound is None else bound
    for item in _listing(root):
        if is_older(item.name):
            _remove(Path(item.path))
    for path in stale_temporaries(root, time.time_ns()):
        _remove(path)
    found = [e for store in FOLDER_STORES for e in entries(root, store)]
    total = sum(e.size for e in found)
    for entry in sorted(found, key=lambda e: (e.mtime_ns, e.path.name)):
        if total <= bound:
            break
        if _remove(entry.path):
            total -= entry.size
    return total


def prune_quietly() -> None:
    """``prune`` for the cache writers: never raises."""
    try:
        prune()
    except Exception:  # the cache is an optimisation: a failed prune is tried at the next write
        return


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return True  # another run removed it first
    except OSError:
        return False
    return True


# ---- egresslint cache info / clean -------------------------------------------------------
@dataclass
class Summary:
    root: Path
    exists: bool
    bound: int
    problem: str | None
    stores: list[tuple[str, str, int, int]] = field(default_factory=list)  # name, what, n, bytes
    older: list[tuple[str, int]] = field(default_factory=list)  # name, bytes
    others: list[tuple[str, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(s[3] for s in self.stores) + sum(o[1] for o in self.older + self.others)


def _measure(path: Path) -> tuple[int, int]:
    """(files, bytes) under ``path`` (symbolic links count as files, never followed)."""
    if path.is_symlink() or not path.is_dir():
        try:
            return 1, path.lstat().st_size
        except OSError:
            return 0, 0
    files = size = 0
    for item in _listing(path):
        more = _measure(Path(item.path))
        files, size = files + more[0], size + more[1]
    return files, size


def summary(root: Path | None = None) -> Summary:
    root = folder() if root is None else root
    bound, problem = limit()
    info = Summary(root, root.is_dir(), bound, problem)
    for name, what in STORES.items():
        if name in FOLDER_STORES:
            found = entries(root, name)
            info.stores.append((name, what, len(found), sum(e.size for e in found)))
        else:
            info.stores.append((name, what, *_measure(root / name)))
    for item in sorted(_listing(root), key=lambda i: i.name):
        if item.name not in STORES:
            target = info.older if is_older(item.name) else info.others
            target.append((item.name, _measure(Path(item.path))[1]))
    return info


def describe(info: Summary) -> str:
    """The text of ``egresslint cache info``."""
    given = os.environ.get(MAX_ENV, "").strip() and not info.problem
    source = f"from {MAX_ENV}" if given else f"the default; {MAX_ENV} sets another"
    lines = [
        f"cache folder: {info.root}" + ("" if info.exists else " (does not exist yet)"),
        f"size: {human(info.total)}, pruned after each write to at most {human(info.bound)} "
        f"({source})",
    ]
    if info.problem:
        lines.append(f"warning: {info.problem}")
    for name, what, count, size in info.stores:
        shown = name if name.endswith(".json") else name + "/"
        lines.append(f"  {what} ({shown}): {_count(count, 'entry', 'entries')}, {human(size)}")
    for name, size in info.older:
        lines.append(f"  older version, removed at the next write ({name}): {human(size)}")
    for name, size in info.others:
        lines.append(f"  another version's or unknown, left alone ({name}): {human(size)}")
    return "\n".join(lines) + "\n"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def clean(root: Path | None = None) -> tuple[int, int, list[str]]:
    """Remove everything in the cache folder: (files removed, their bytes, what stayed)."""
    root = folder() if root is None else root
    removed = freed = 0
    failed = []
    for item in sorted(_listing(root), key=lambda i: i.name):
        path = Path(item.path)
        files, size = _measure(path)
        if _remove(path):
            removed, freed = removed + files, freed + size
        else:
            failed.append(str(path))
    return removed, freed, failed
