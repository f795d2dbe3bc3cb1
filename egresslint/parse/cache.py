"""Parse cache: what a file parsed to, keyed by its bytes, in the user's cache folder.

``$XDG_CACHE_HOME/egresslint`` (else ``~/.cache/egresslint``), entries packed per writer;
``cachedir.py`` keeps the whole folder within its size bound after each write.
The key hashes the file's content, the default namespace, and the source of the modules
that shape a parse, so an upgrade or an edit of the loader never reads stale entries.
Writes go to a temporary file renamed into place (atomic: concurrent runs never see half an
entry); an entry that cannot be read or unpickled is ignored and the file parsed again. The
cache is an optimisation only: any error here means "not cached", never a failed run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from .. import __version__, packaged
from . import cachedir
from .cachedir import folder as folder  # where every store lives (re-exported)

_SHAPING_MODULES = (
    "parse/loader.py",
    "parse/yamlbuild.py",
    "model.py",
    "parse/parallel.py",
    "parse/cache.py",
)
MAX_ENTRY_BYTES = 64 * 1024 * 1024
MAX_PACKS = 32  # beyond this many packs, the oldest are removed (a cache, not an archive)
MAGIC = b"EGLPACK2"
PACK_SUFFIX = ".pack"


@lru_cache(maxsize=1)
def _code_version() -> bytes:
    digest = hashlib.blake2b(__version__.encode(), digest_size=16)
    for name in _SHAPING_MODULES:
        try:
            digest.update((packaged.ROOT / name).read_bytes())
        except OSError:
            digest.update(name.encode())
    return digest.digest()


def key(data: bytes, default_ns: str) -> str:
    digest = hashlib.blake2b(data, digest_size=20)
    digest.update(b"\0" + default_ns.encode("utf-8", "surrogatepass") + b"\0" + _code_version())
    return digest.hexdigest()


class ParseCache:
    """Packs under ``folder()/v2/``: each writer (a worker for its share, the parent for its
    own) writes all its entries as one pack, so a first run over 100k resources creates a
    few files instead of one per input (file creation dominated the cost of filling the
    cache). A pack is the entries' bytes, then an index (key -> offset, length), then the
    index's length and a magic tag; it is written to a temporary file and renamed (readers
    never see half a pack), under a unique name (concurrent runs never overwrite each other).
    Newer packs win; beyond ``MAX_PACKS`` the oldest are removed. Every method swallows OS
    errors, and a damaged pack or entry only means "not cached"."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def open(cls, name: str = cachedir.PARSE_STORE) -> ParseCache | None:
        """The store in ``folder()/name`` (``cachedir.PARSE_STORE``: parsed files; other
        stores, such as rendered kustomizations, keep their own packs beside it)."""
        root = folder() / name
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return cls(root)

    def _packs(self) -> list[Path]:
        """Newest first."""
        try:
            found = [(e.stat().st_mtime_ns, e.name, Path(e.path)) for e in os.scandir(self.root)]
        except OSError:
            return []
        found = [f for f in found if f[1].endswith(PACK_SUFFIX)]
        return [path for _, _, path in sorted(found, reverse=True)]

    def get_many(self, wanted: Iterable[str]) -> dict[str, bytes]:
        """The stored entries among ``wanted`` (missing ones are absent)."""
        want = set(wanted)
        found: dict[str, bytes] = {}
        for pack in self._packs() if want else []:
            _read_pack(pack, want, found)
            if len(found) == len(want):
                break
        return found

    def get(self, entry: str) -> bytes | None:
        return self.get_many([entry]).get(entry)

    def put_many(self, entries: Iterable[tuple[str, bytes]]) -> None:
        """Write ``entries`` as one new pack."""
        try:
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                index = _write_entries(handle, entries)
                footer = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)
                handle.write(footer + len(footer).to_bytes(8, "little") + MAGIC)
            if index:
                target = self.root / f"{os.getpid()}-{os.urandom(8).hex()}{PACK_SUFFIX}"
                os.replace(tmp, target)  # atomic: readers see no pack, or the whole pack
        except OSError:
            pass
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # left only when empty or failed
        self._trim()

    def put(self, entry: str, blob: bytes) -> None:
        self.put_many([(entry, blob)])

    def _trim(self) -> None:
        for old in self._packs()[MAX_PACKS:]:
            with contextlib.suppress(OSError):
                old.unlink()
        cachedir.prune_quietly()  # the whole cache folder stays within its bound


def _write_entries(handle: BinaryIO, entries: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    index: dict[str, tuple[int, int]] = {}
    offset = 0
    for entry, blob in entries:
        if len(blob) <= MAX_ENTRY_BYTES and entry not in index:
            handle.write(blob)
            index[entry] = (offset, len(blob))
            offset += len(blob)
    return index


def _read_pack(pack: Path, want: set[str], found: dict[str, bytes]) -> None:
    """Add to ``found`` the entries of ``pack`` that are wanted and not found yet."""
    try:
        with open(pack, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 16))
            tail = handle.read(16)
            length = int.from_bytes(tail[:8], "little")
            if tail[8:] != MAGIC or length > size - 16:
                return
            handle.seek(size - 16 - length)
            index = pickle.loads(handle.read(length))
            hits = sorted(
                (span, key) for key, span in index.items() if key in want and key not in found
            )
            if not hits:
                return
            handle.seek(0)
            data = memoryview(handle.read(size - 16 - length))
            for (offset, count), key in hits:
                if (
                    isinstance(offset, int)
                    and isinstance(count, int)
                    and offset + count <= len(data)
                ):
                    found[key] = bytes(data[offset : offset + count])
    except Exception:  # a damaged pack is skipped: its files are parsed again
        return
