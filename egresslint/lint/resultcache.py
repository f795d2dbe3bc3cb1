"""Run cache: the report of a whole run, reused when nothing that shapes it changed.

The parse cache (``parse/cache.py``) saves parsing, but a run over an unchanged tree still links
the graph, runs every rule and renders the report. This cache keeps the rendered report,
with the highest level among its unsuppressed findings (the exit code for any --fail-on),
under a key that hashes everything it depends on:

- egresslint's version and the bytes of its own code, rule catalogue and schemas;
- every effective option (paths, excludes, namespace, mode, Istio version, rule selection,
  levels and parameters, suppressions) and the folder the run started in;
- the list of inputs as discovered (shown and real paths, skipped entries with their
  reason) and each input's content hash;
- what shapes the report besides the findings: format, colour, SARIF category, the files a
  --context run reports on, and the baseline's bytes.

Any changed byte, option or version gives another key, so the run is computed again (another
format too: the parse cache still saves its parsing). One entry per (folder, options, report
kind): a new report replaces the old one, so the cache does not grow with every edit. The
entry holds the full key and a checksum and is ignored unless both match; it is written to a
temporary file and renamed (atomic). Standard input, runs with internal errors and
--write-baseline are never cached; ``--no-cache`` turns it off. (Findings used to be stored
too; writing them cost a first run at 100k resources two seconds of a core, for the rare
second run in another format.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from .. import __version__, packaged, runtime
from ..packaged import package_dir
from ..parse import cache, cachedir
from ..sources.discover import Input, Skipped

if TYPE_CHECKING:
    from ..parse.parallel import _Job

FORMAT = b"egresslint-run-v3\0"
MAX_ENTRY_BYTES = 512 * 1024 * 1024


@lru_cache(maxsize=1)
def code_digest() -> bytes:
    """Version plus every source, rule and schema file of this installation."""
    digest = hashlib.blake2b(__version__.encode(), digest_size=20)
    roots = [packaged.ROOT, package_dir("rules"), package_dir("schemas")]
    for root in dict.fromkeys(roots):
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".json", ".md") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                try:
                    digest.update(path.read_bytes())
                except OSError:
                    digest.update(b"\1unreadable")
    return digest.digest()


def _options_text(settings: Mapping[str, Any], rule_ids: list[str], base: str) -> bytes:
    data = dict(settings)
    data["_base"] = base
    data["_rules"] = rule_ids
    return json.dumps(data, sort_keys=True, default=repr).encode()


class RunCache:
    """The entry for one run: ``report(parts)`` before linting, ``keep_report`` after.

    ``settings``: every effective option of the run, as plain data (the engine passes its
    options as a dict; this module knows nothing of their shape); ``rule_ids``: the enabled
    rules; ``default_ns``: the namespace the parse gives resources without one; ``extra``:
    what else the report depends on (the keys of the renders, which cover files that are not
    inputs, such as a generator's .env file)."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        rule_ids: list[str],
        default_ns: str,
        inputs: tuple[list[Input | Skipped], list[_Job]],
        base: str,
        extra: bytes = b"",
    ) -> None:
        opts = _options_text(settings, rule_ids, base)
        slot = hashlib.blake2b(opts + code_digest(), digest_size=16).hexdigest()
        self.path = cache.folder() / cachedir.RUN_STORE / slot
        digest = hashlib.blake2b(FORMAT + code_digest() + opts, digest_size=32)
        digest.update(len(extra).to_bytes(8, "little") + extra)  # what renders read
        items, jobs = inputs
        by_index = iter(jobs)
        for item in items:
            if isinstance(item, Skipped):
                digest.update(f"\0S\0{item.shown}\0{item.why}".encode("utf-8", "surrogatepass"))
                continue
            job = next(by_index)
            if job.data is not None:
                job.key = job.key or cache.key(job.data, default_ns)
                state = job.key
            else:
                state = "unreadable:" + job.error
            line = f"\0I\0{item.shown}\0{item.real}\0{state}"
            digest.update(line.encode("utf-8", "surrogatepass"))  # paths may not be UTF-8
        self.key = digest.digest()

    def _seal(self, payload: bytes) -> bytes:
        """Key, checksum of the payload, payload: a damaged or foreign entry is never used."""
        return self.key + hashlib.blake2b(payload, digest_size=16).digest() + payload

    def _unseal(self, blob: bytes) -> bytes | None:
        head = len(self.key) + 16
        if len(blob) > MAX_ENTRY_BYTES or not blob.startswith(self.key):
            return None
        payload = blob[head:]
        if hashlib.blake2b(payload, digest_size=16).digest() != blob[len(self.key) : head]:
            return None
        return payload

    # ---- the rendered report ---------------------------------------------------------------
    def _report_path(self, parts: list[str]) -> FsPath:
        text = "\0".join(parts).encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(text, digest_size=8).hexdigest()
        return self.path.with_name(f"{self.path.name}-report-{digest}")

    def report(self, parts: list[str]) -> tuple[str, int] | None:
        """(report, highest level rank among its unsuppressed findings) rendered for this
        very run key with the same ``parts`` (format, colour, category, reported paths,
        baseline), or None."""
        path = self._report_path(parts)
        try:
            with open(path, "rb") as handle:
                blob = handle.read(MAX_ENTRY_BYTES + 1)
            payload = self._unseal(blob)
            if payload is None or payload[:1] not in (b"0", b"1", b"2", b"3"):
                return None
            text = payload[1:].decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used: pruning removes the least recently used reports first
        return text, int(payload[:1])

    def keep_report(self, parts: list[str], text: str, worst: int) -> None:
        """Store the report from a thread, beside writing it out (``runtime.wait_writers``)."""
        thread = threading.Thread(target=self._keep_now, args=(parts, text, worst))
        thread.start()
        runtime.watch(thread)

    def _keep_now(self, parts: list[str], text: str, worst: int) -> None:
        report = text.encode("utf-8", "backslashreplace")  # as the output shows it
        blob = self._seal(str(min(max(worst, 0), 3)).encode() + report)
        if len(blob) <= MAX_ENTRY_BYTES:
            _write_atomic(self._report_path(parts), blob)
            cachedir.prune_quietly()  # the cache folder stays within its bound


def _write_atomic(target: FsPath, blob: bytes) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
        os.replace(tmp, target)  # readers see the old entry or the whole new one
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
