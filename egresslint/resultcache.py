"""Run cache: the findings of a whole run, reused when nothing that shapes them changed.

The parse cache (``cache.py``) saves parsing, but a run over an unchanged tree still links
the graph, runs every rule and ranks the findings. This cache stores the finished findings
under a key that hashes everything they depend on:

- egresslint's version and the bytes of its own code, rule catalogue and schemas;
- every effective option (paths, excludes, namespace, mode, Istio version, rule selection,
  levels and parameters, suppressions) and the folder the run started in;
- the list of inputs as discovered (shown and real paths, skipped entries with their
  reason) and each input's content hash.

Any changed byte, option or version gives another key, so the run is computed again. One
entry per (folder, options): a new result replaces the old one, so the cache does not grow
with every edit. The entry holds the full key and is ignored unless it matches; it is written
to a temporary file and renamed (atomic), and an entry that cannot be read or unpickled is
ignored. Standard input and runs with internal errors are never cached; ``--no-cache`` turns
it off. The stored findings keep what reporters read of a resource (kind, name, namespace,
file and the positions of the fields they point at) instead of the whole parse tree.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from . import __version__, cache, loader
from .files import Input, Skipped
from .model import Finding, Path, PosDict, Related, Resource, SourceFile, Span
from .registry import package_dir

if TYPE_CHECKING:
    from .engine import Options, RunResult
    from .parallel import _Job
    from .rule import Rule

FORMAT = b"egresslint-run-v2\0"
MAX_ENTRY_BYTES = 512 * 1024 * 1024


@lru_cache(maxsize=1)
def code_digest() -> bytes:
    """Version plus every source, rule and schema file of this installation."""
    digest = hashlib.blake2b(__version__.encode(), digest_size=20)
    here = FsPath(__file__).resolve().parent
    roots = [here, package_dir("rules"), package_dir("schemas")]
    for root in dict.fromkeys(roots):
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".json", ".md") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                try:
                    digest.update(path.read_bytes())
                except OSError:
                    digest.update(b"\1unreadable")
    return digest.digest()


@dataclass(eq=False)
class ResourceStub(Resource):
    """A resource as reporters see it after the run: its identity, file and the positions
    of the fields findings point at (not its parse tree)."""

    spans: dict[Path, Span] = field(default_factory=dict)

    def locate(self, path: Path) -> Span:
        return self.spans.get(tuple(path), self.body.span)


# A stored run is flat: tuples of strings and numbers that pickle without running Python code
# per object (dataclasses and named tuples do), with files and resources by index.
FileRow = str  # the shown path
ResourceRow = tuple[Any, ...]  # api, kind, name, namespace, file, doc, base path, scoped,
#                                body span, ((field path, span), ...)
FindingRow = tuple[Any, ...]  # rule, message, file, span, resource or -1, path,
#                               ((resource, path, message), ...), level, suppressed


class _Flattener:
    """Findings as rows; one row per file and per resource, with the spans findings use."""

    def __init__(self) -> None:
        self.files: dict[int, int] = {}
        self.file_rows: list[FileRow] = []
        self.resources: dict[int, int] = {}
        self.resource_rows: list[ResourceRow] = []
        self.spans: list[dict[Path, tuple[int, ...]]] = []

    def file(self, source: SourceFile) -> int:
        index = self.files.get(id(source))
        if index is None:
            index = self.files[id(source)] = len(self.file_rows)
            self.file_rows.append(source.path)
        return index

    def resource(self, res: Resource) -> int:
        index = self.resources.get(id(res))
        if index is None:
            index = self.resources[id(res)] = len(self.resource_rows)
            head = (res.api_version, res.kind, res.name, res.namespace, self.file(res.file))
            body_span = tuple(res.body.span)
            self.resource_rows.append(
                (*head, res.doc_index, res.base_path, res.cluster_scoped, body_span)
            )
            self.spans.append({})
        return index

    def related(self, rel: Related) -> tuple[int, Path, str]:
        index = self.resource(rel.resource)
        local = tuple(rel.path[len(rel.resource.base_path) :])
        spans = self.spans[index]
        if local not in spans:  # many findings name the same related field
            spans[local] = tuple(rel.resource.locate(local))
        return index, rel.path, rel.message

    def finding(self, f: Finding) -> FindingRow:
        res = self.resource(f.resource) if f.resource is not None else -1
        related = tuple(self.related(r) for r in f.related)
        file = self.file(f.file)
        return (
            f.rule_id,
            f.message,
            file,
            tuple(f.span),
            res,
            f.path,
            related,
            f.level,
            f.suppressed,
        )

    def resource_table(self) -> list[ResourceRow]:
        return [
            (*row, tuple(spans.items()))
            for row, spans in zip(self.resource_rows, self.spans, strict=True)
        ]


def _rebuild(
    file_rows: list[FileRow], resource_rows: list[ResourceRow], rows: list[FindingRow]
) -> list[Finding]:
    """The findings of a stored run, on stubs (see ``ResourceStub``)."""
    files = [SourceFile(path) for path in file_rows]
    stubs = []
    for api, kind, name, ns, file, doc, base, scoped, body_span, spans in resource_rows:
        body = PosDict()
        body.span = Span(*body_span)
        stub = ResourceStub(api, kind, name, ns, body, files[file], doc, base, scoped)
        stub.spans = {path: Span(*span) for path, span in spans}
        stubs.append(stub)
    findings = []
    for rule, message, file, span, res, path, related, level, suppressed in rows:
        rel = tuple(Related(stubs[i], p, m) for i, p, m in related)
        owner = stubs[res] if res >= 0 else None
        findings.append(
            Finding(rule, message, files[file], Span(*span), owner, path, rel, level, suppressed)
        )
    return findings


def _options_text(options: Options, rules: list[Rule], base: str) -> bytes:
    data = dataclasses.asdict(options)
    data["_base"] = base
    data["_rules"] = [r.id for r in rules]
    return json.dumps(data, sort_keys=True, default=repr).encode()


class RunCache:
    """The entry for one run: ``load()`` before linting, ``store()`` after."""

    def __init__(
        self,
        options: Options,
        rules: list[Rule],
        items: list[Input | Skipped],
        jobs: list[_Job],
        base: str,
    ) -> None:
        self.jobs = jobs
        opts = _options_text(options, rules, base)
        slot = hashlib.blake2b(opts + code_digest(), digest_size=16).hexdigest()
        self.path = cache.folder() / "runs-v2" / slot
        digest = hashlib.blake2b(FORMAT + code_digest() + opts, digest_size=32)
        by_index = iter(jobs)
        for item in items:
            if isinstance(item, Skipped):
                digest.update(f"\0S\0{item.shown}\0{item.why}".encode())
                continue
            job = next(by_index)
            if job.data is not None:
                job.key = job.key or cache.key(job.data, options.default_namespace)
                state = job.key
            else:
                state = "unreadable:" + job.error
            digest.update(f"\0I\0{item.shown}\0{item.real}\0{state}".encode())
        self.key = digest.digest()

    def load(self, rules: list[Rule]) -> RunResult | None:
        from .parallel import wait_writers

        wait_writers()  # an earlier run in this process may still be writing its entry
        try:
            with open(self.path, "rb") as handle:
                blob = handle.read(MAX_ENTRY_BYTES + 1)
        except OSError:
            return None
        payload = self._unseal(blob)
        if payload is None:
            return None
        try:
            stored = pickle.loads(payload)
        except Exception:  # a damaged entry is ignored: the run is computed again
            return None
        return self._result(stored, rules)

    def _result(self, stored: Any, rules: list[Rule]) -> RunResult | None:
        from .engine import RunResult

        if not isinstance(stored, dict) or not isinstance(stored.get("findings"), list):
            return None
        try:
            findings = _rebuild(stored["file_rows"], stored["resource_rows"], stored["findings"])
        except (KeyError, TypeError, ValueError, IndexError):  # not an entry this code wrote
            return None
        texts = {job.item.shown: job.data for job in self.jobs if job.data is not None}
        seen: set[int] = set()
        for f in findings:  # the text reporter shows source lines: decode only those files
            if id(f.file) not in seen:
                seen.add(id(f.file))
                data = texts.get(f.file.path)
                f.file.text = (loader.decode(data)[0] or "") if data is not None else ""
        result = RunResult(findings, rules, stored["files"], stored["documents"])
        result.resources = stored["resources"]
        result.skipped = stored["skipped"]
        result.notifications = stored["notifications"]
        return result

    def store(self, result: RunResult) -> None:
        """Write the entry from a forked child, beside the rendering of the report."""
        if not result.internal_errors:
            from .parallel import in_background

            in_background(self._store_now, result)

    def _store_now(self, result: RunResult) -> None:
        flat = _Flattener()
        findings = [flat.finding(f) for f in result.findings]
        stored = {
            "findings": findings,
            "file_rows": flat.file_rows,
            "resource_rows": flat.resource_table(),
            "files": result.files,
            "documents": result.documents,
            "resources": result.resources,
            "skipped": list(result.skipped),
            "notifications": list(result.notifications),
        }
        try:
            blob = self._seal(pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:  # never fail a run because its result cannot be stored
            return
        if len(blob) <= MAX_ENTRY_BYTES:
            _write_atomic(self.path, blob)

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

    # ---- the rendered report of a run, beside its findings -------------------------------
    def _report_path(self, parts: list[str]) -> FsPath:
        digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=8).hexdigest()
        return self.path.with_name(f"{self.path.name}-report-{digest}")

    def report(self, parts: list[str]) -> str | None:
        """The report rendered for this very run key with the same ``parts`` (format, colour,
        category, reported paths, baseline), or None."""
        try:
            with open(self._report_path(parts), "rb") as handle:
                blob = handle.read(MAX_ENTRY_BYTES + 1)
            payload = self._unseal(blob)
            return payload.decode("utf-8") if payload is not None else None
        except (OSError, UnicodeDecodeError):
            return None

    def keep_report(self, parts: list[str], text: str) -> None:
        blob = self._seal(text.encode("utf-8"))
        if len(blob) <= MAX_ENTRY_BYTES:
            _write_atomic(self._report_path(parts), blob)


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
