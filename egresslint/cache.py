"""Parse cache: what a file parsed to, keyed by its bytes, in the user's cache folder.

``$XDG_CACHE_HOME/egresslint`` (else ``~/.cache/egresslint``), one small file per entry.
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
import tempfile
from functools import lru_cache
from pathlib import Path

from . import __version__

_SHAPING_MODULES = ("loader.py", "yamlbuild.py", "model.py", "parallel.py", "cache.py")
MAX_ENTRY_BYTES = 64 * 1024 * 1024


def folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "egresslint"


@lru_cache(maxsize=1)
def _code_version() -> bytes:
    digest = hashlib.blake2b(__version__.encode(), digest_size=16)
    here = Path(__file__).resolve().parent
    for name in _SHAPING_MODULES:
        try:
            digest.update((here / name).read_bytes())
        except OSError:
            digest.update(name.encode())
    return digest.digest()


def key(data: bytes, default_ns: str) -> str:
    digest = hashlib.blake2b(data, digest_size=20)
    digest.update(b"\0" + default_ns.encode() + b"\0" + _code_version())
    return digest.hexdigest()


class ParseCache:
    """Entries under ``folder()/v1/<2 hex>/<key>``; every method swallows OS errors."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def open(cls) -> ParseCache | None:
        root = folder() / "v1"
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return cls(root)

    def _path(self, entry: str) -> Path:
        return self.root / entry[:2] / entry

    def get(self, entry: str) -> bytes | None:
        try:
            with open(self._path(entry), "rb") as handle:
                return handle.read(MAX_ENTRY_BYTES)
        except OSError:
            return None

    def put(self, entry: str, blob: bytes) -> None:
        if len(blob) > MAX_ENTRY_BYTES:
            return
        target = self._path(entry)
        try:
            target.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            os.replace(tmp, target)  # atomic: readers see the old entry, or the whole new one
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
