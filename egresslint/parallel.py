"""Reading and parsing every input file: from the parse cache, in one process, or on all cores.

Parsing dominates a run. Small inputs parse in this process (starting a worker costs more
than it saves); large ones are split by size between this process and forked workers, which
send their results back pickled. The same pickles fill the parse cache (``cache.py``), so a
second run over unchanged files only unpickles. The garbage collector is paused while the
many small objects of the parse are created (it would scan them again and again for cycles
they do not have) and the survivors are frozen afterwards.
"""

from __future__ import annotations

import contextlib
import copyreg
import gc
import multiprocessing
import os
import pickle
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import cache, loader
from .files import STDIN, Input
from .model import PosDict, PosList, SourceFile, Span

PARALLEL_MIN_BYTES = 2_000_000  # below this, starting a worker costs more than it saves
MAX_WORKERS = 8


# ---- compact pickles: the default protocol for slotted dict/list subclasses runs Python code
def _new_posdict(items: dict[Any, Any], pos: dict[Any, Any], span: Span) -> PosDict:
    d = PosDict.__new__(PosDict)
    dict.update(d, items)
    d.pos, d.span = pos, span
    return d


def _new_poslist(items: list[Any], pos: list[Span], span: Span) -> PosList:
    lst = PosList.__new__(PosList)
    list.extend(lst, items)
    lst.pos, lst.span = pos, span
    return lst


def _reduce_posdict(d: PosDict) -> tuple[Any, ...]:
    return _new_posdict, (dict(d), d.pos, d.span)


def _reduce_poslist(lst: PosList) -> tuple[Any, ...]:
    return _new_poslist, (list(lst), lst.pos, lst.span)


def _reduce_span(s: Span) -> tuple[Any, ...]:
    return tuple.__new__, (Span, tuple(s))


copyreg.pickle(PosDict, _reduce_posdict)
copyreg.pickle(PosList, _reduce_poslist)
copyreg.pickle(Span, _reduce_span)


@dataclass
class _Job:
    index: int
    item: Input
    data: bytes | None  # None: could not be read (see error)
    error: str = ""
    key: str = ""


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cycle collection while building the parse trees; freeze what survives."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if hasattr(gc, "freeze"):
            gc.freeze()  # the trees live until exit: keep later collections from rescanning them
        if was:
            gc.enable()


def _read(index: int, item: Input) -> _Job:
    try:
        if item.real == STDIN:
            data = sys.stdin.buffer.read()
        else:
            with open(item.real, "rb") as handle:  # files.py never lists FIFOs or devices
                data = handle.read()
    except OSError as exc:
        return _Job(index, item, None, exc.strerror or str(exc))
    return _Job(index, item, data)


def _parse(job: _Job, default_ns: str) -> loader.ParsedFile:
    source = SourceFile(job.item.shown)
    if job.data is None:
        finding = loader._error(source, f"Cannot read file: {job.error}.")
        return loader.ParsedFile(source, findings=[finding])
    return loader.parse_bytes(job.data, source, default_ns)


def _dumps(parsed: loader.ParsedFile) -> bytes:
    """Pickle without the file text (the reader has the bytes and decodes them again)."""
    text, parsed.source.text, parsed.source.lines = parsed.source.text, "", None
    try:
        return pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        parsed.source.text = text


def _loads(blob: bytes, job: _Job) -> loader.ParsedFile | None:
    try:
        parsed = pickle.loads(blob)
    except Exception:  # a damaged cache entry is ignored and the file parsed again
        return None
    if not isinstance(parsed, loader.ParsedFile) or job.data is None:
        return None
    parsed.source.path = job.item.shown
    parsed.source.text = loader.decode(job.data)[0] or ""
    return parsed


def read_all(items: Sequence[Input]) -> list[_Job]:
    """Every input's bytes (or why it could not be read), in input order."""
    return [_read(i, item) for i, item in enumerate(items)]


def parse_inputs(
    items: Sequence[Input],
    default_ns: str,
    use_cache: bool = True,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    read: list[_Job] | None = None,
) -> list[loader.ParsedFile]:
    """Every input parsed, in input order; unreadable files become EGL001 findings.

    ``progress(done, total)`` is called as files complete (cached ones count at once).
    ``read``: the inputs as ``read_all`` returned them, when the caller has read them already
    (the run cache hashes the same bytes that are parsed)."""
    with gc_paused():
        jobs = read if read is not None else read_all(items)
        store = cache.ParseCache.open() if use_cache else None
        out: list[loader.ParsedFile | None] = [None] * len(jobs)
        todo = []
        for job in jobs:
            if store is not None and job.data is not None:
                job.key = job.key or cache.key(job.data, default_ns)
                blob = store.get(job.key)
                out[job.index] = _loads(blob, job) if blob is not None else None
            if out[job.index] is None:
                todo.append(job)
        done = len(jobs) - len(todo)
        for job, parsed, blob in _parse_many(todo, default_ns, store is not None, workers):
            done += 1
            if progress is not None:
                progress(done, len(jobs))
            if store is not None and job.key and blob is not None:
                store.put(job.key, blob)
            out[job.index] = parsed if parsed is not None else _from_worker(blob, job, default_ns)
        return [
            p if p is not None else _parse(j, default_ns) for p, j in zip(out, jobs, strict=True)
        ]


def _from_worker(blob: bytes | None, job: _Job, default_ns: str) -> loader.ParsedFile:
    parsed = _loads(blob, job) if blob is not None else None
    return parsed if parsed is not None else _parse(job, default_ns)


Parsed = tuple[_Job, "loader.ParsedFile | None", "bytes | None"]


def _here(jobs: list[_Job], default_ns: str, want_blobs: bool) -> Iterator[Parsed]:
    for job in jobs:
        parsed = _parse(job, default_ns)
        yield job, parsed, (_dumps(parsed) if want_blobs and job.data is not None else None)


def _parse_many(
    jobs: list[_Job], default_ns: str, want_blobs: bool, workers: int | None
) -> Iterator[Parsed]:
    """(job, ParsedFile, pickle): a worker's results come as pickles only; this process
    pickles its own only for the cache."""
    count = workers if workers is not None else _cpu_count()
    total = sum(len(j.data or b"") for j in jobs)
    if count < 2 or total < PARALLEL_MIN_BYTES or len(jobs) < 2 or not _can_fork():
        yield from _here(jobs, default_ns, want_blobs)
        return
    yield from _parse_forked(jobs, default_ns, min(count, MAX_WORKERS, len(jobs)), want_blobs)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _shares(jobs: list[_Job], count: int) -> list[list[_Job]]:
    """Split by bytes, biggest first, each job to the lightest share."""
    shares: list[list[_Job]] = [[] for _ in range(count)]
    weights = [0] * count
    for job in sorted(jobs, key=lambda j: -len(j.data or b"")):
        i = weights.index(min(weights))
        shares[i].append(job)
        weights[i] += len(job.data or b"") + 1
    return shares


def _worker(share: list[_Job], default_ns: str, conn: Any) -> None:
    """One message per file, then an empty one: the parent unpickles each as it arrives, so
    neither side ever holds the pickles of a whole share (peak memory at 100k resources)."""
    try:
        blobs = [b"\1" + _dumps(_parse(job, default_ns)) for job in share]  # then send: a full
        for blob in blobs:  # pipe would stall the worker while the parent parses its own share
            conn.send_bytes(blob)
        conn.send_bytes(b"")
    except BaseException:  # the parent parses the rest of this share itself
        with contextlib.suppress(BaseException):
            conn.send_bytes(b"\0")
    finally:
        conn.close()


def _parse_forked(
    jobs: list[_Job], default_ns: str, count: int, want_blobs: bool
) -> Iterator[Parsed]:
    """Workers take all shares but the first, which this process parses meanwhile."""
    ctx = multiprocessing.get_context("fork")
    shares = _shares(jobs, count)
    running = []
    for share in shares[1:]:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(share, default_ns, child), daemon=True)
        proc.start()
        child.close()
        running.append((share, parent, proc))
    yield from _here(shares[0], default_ns, want_blobs)
    for share, conn, proc in running:
        yield from _collect(share, conn, proc, default_ns)


def _collect(share: list[_Job], conn: Any, proc: Any, default_ns: str) -> Iterator[Parsed]:
    done = 0
    try:
        while done < len(share):
            message = conn.recv_bytes()
            if not message.startswith(b"\1"):
                break  # the worker failed (or ended early): the rest is parsed here
            yield share[done], None, message[1:]
            done += 1
    except (EOFError, OSError):
        pass
    finally:
        conn.close()
        proc.join()
    yield from _here(share[done:], default_ns, True)
