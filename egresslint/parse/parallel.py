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
import multiprocessing
import pickle
import sys
import threading
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .. import runtime
from ..model import PosDict, PosList, PosMap, PosSpans, SourceFile, Span
from ..sources.discover import STDIN, Input
from . import cache, loader

PARALLEL_MIN_BYTES = 2_000_000  # below this, starting a worker costs more than it saves
MAX_WORKERS = 8
# This process's share of the bytes, relative to a worker's. Without the cache a worker also
# pickles what it sends while this process parses only, so this process takes more; with the
# cache both pickle, and this process also unpickles the workers' shares (measured at 100k
# resources: the two sides then finish within 0.1 s of each other).
FIRST_SHARE = 1.2
FIRST_SHARE_CACHED = 1.0


# ---- compact pickles: the default protocol for slotted dict/list subclasses runs Python code
def _new_posdict(items: dict[Any, Any], marks: bytes, span: tuple[int, ...]) -> PosDict:
    d = PosDict.__new__(PosDict)
    dict.update(d, items)
    d.pos, d.span = PosMap(tuple(items), marks), tuple.__new__(Span, span)
    return d


def _new_poslist(items: list[Any], spans: bytes, span: tuple[int, ...]) -> PosList:
    lst = PosList.__new__(PosList)
    list.extend(lst, items)
    lst.pos, lst.span = PosSpans(spans), tuple.__new__(Span, span)
    return lst


def _reduce_posdict(d: PosDict) -> tuple[Any, ...]:
    pos = d.pos
    if pos.keys_ != tuple(d):  # keys changed after the parse (never, in practice): realign
        none = (0,) * 8
        flat = array("i", [m for k in d for m in (pos.get(k) or none)])
        pos = PosMap(tuple(d), flat.tobytes())
    return _new_posdict, (dict(d), pos.marks, tuple(d.span))  # a plain tuple pickles in C


def _reduce_poslist(lst: PosList) -> tuple[Any, ...]:
    return _new_poslist, (list(lst), lst.pos.packed, tuple(lst.span))


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


def _read(index: int, item: Input) -> _Job:
    try:
        if item.real == STDIN:
            data = sys.stdin.buffer.read()
        else:
            with open(item.real, "rb") as handle:  # discovery never lists FIFOs or devices
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
    (the run cache hashes the same bytes that are parsed). New cache entries are written by
    each worker for its share (the pickles it sends anyway) and by this process for its own,
    pickled as they are parsed (a forked writer would copy every page it reads)."""
    with runtime.gc_paused():
        jobs = read if read is not None else read_all(items)
        store = cache.ParseCache.open() if use_cache else None
        if store is not None:
            runtime.wait_writers()  # an earlier parse in this process may still be writing entries
        out: list[loader.ParsedFile | None] = [None] * len(jobs)
        todo = _from_cache(jobs, store, default_ns, out)
        done = len(jobs) - len(todo)
        mine: list[tuple[str, bytes]] = []  # pickles of what this process parsed, to cache
        for job, parsed, blob in _parse_many(todo, default_ns, store, workers):
            done += 1
            if progress is not None:
                progress(done, len(jobs))
            if parsed is not None and store is not None and job.key:
                _keep(mine, job.key, parsed)
            out[job.index] = parsed if parsed is not None else _from_worker(blob, job, default_ns)
        if mine and store is not None:
            store.put_many(mine)
        return [
            p if p is not None else _parse(j, default_ns) for p, j in zip(out, jobs, strict=True)
        ]


def _from_cache(
    jobs: list[_Job],
    store: cache.ParseCache | None,
    default_ns: str,
    out: list[loader.ParsedFile | None],
) -> list[_Job]:
    """Fill ``out`` with the cached parses; the jobs still to parse."""
    blobs: dict[str, bytes] = {}
    if store is not None:
        for job in jobs:
            if job.data is not None:
                job.key = job.key or cache.key(job.data, default_ns)
        blobs = store.get_many(job.key for job in jobs if job.key)
    todo = []
    for job in jobs:
        blob = blobs.pop(job.key, None)
        out[job.index] = _loads(blob, job) if blob is not None else None
        if out[job.index] is None:
            todo.append(job)
    return todo


def _from_worker(blob: bytes | None, job: _Job, default_ns: str) -> loader.ParsedFile:
    parsed = _loads(blob, job) if blob is not None else None
    return parsed if parsed is not None else _parse(job, default_ns)


def _keep(entries: list[tuple[str, bytes]], key: str, parsed: loader.ParsedFile) -> None:
    with contextlib.suppress(Exception):  # never fail a run over one cache entry
        entries.append((key, _dumps(parsed)))


Parsed = tuple[_Job, "loader.ParsedFile | None", "bytes | None"]


def _here(jobs: list[_Job], default_ns: str) -> Iterator[Parsed]:
    for job in jobs:
        yield job, _parse(job, default_ns), None


def _parse_many(
    jobs: list[_Job], default_ns: str, store: cache.ParseCache | None, workers: int | None
) -> Iterator[Parsed]:
    """(job, ParsedFile, None) for files parsed here, (job, None, pickle) for a worker's."""
    count = workers if workers is not None else runtime.cpu_count()
    total = sum(len(j.data or b"") for j in jobs)
    if count < 2 or total < PARALLEL_MIN_BYTES or len(jobs) < 2 or not runtime.can_fork():
        yield from _here(jobs, default_ns)
        return
    yield from _parse_forked(jobs, default_ns, min(count, MAX_WORKERS, len(jobs)), store)


def _shares(jobs: list[_Job], count: int, first: float = 1.0) -> list[list[_Job]]:
    """Split by bytes, biggest first, each job to the lightest share; the first share (this
    process's) is meant to hold ``first`` times the bytes of each other one."""
    shares: list[list[_Job]] = [[] for _ in range(count)]
    weights = [0.0] * count
    scale = [1 / first] + [1.0] * (count - 1)
    for job in sorted(jobs, key=lambda j: -len(j.data or b"")):
        i = min(range(count), key=lambda k: weights[k] * scale[k])
        shares[i].append(job)
        weights[i] += len(job.data or b"") + 1
    return shares


def _worker(
    share: list[_Job],
    default_ns: str,
    conn: Any,
    store: cache.ParseCache | None,
) -> None:
    """One message per file, then an empty one: the parent unpickles each as it arrives, so
    neither side ever holds the pickles of a whole share (peak memory at 100k resources).
    With a cache, the worker writes its own entries as one pack meanwhile."""
    try:
        blobs = [b"\1" + _dumps(_parse(job, default_ns)) for job in share]
    except BaseException:  # the parent parses this share itself
        with contextlib.suppress(BaseException):
            conn.send_bytes(b"\0")
        conn.close()
        return
    # a thread sends (a full pipe blocks until the parent, busy with its own share, reads)
    # while this one writes the cache entries
    sender = threading.Thread(target=_send_all, args=(conn, blobs))
    sender.start()
    try:
        if store is not None:
            store.put_many((j.key, b[1:]) for j, b in zip(share, blobs, strict=True) if j.key)
    finally:
        sender.join()


def _send_all(conn: Any, blobs: list[bytes]) -> None:
    try:
        for blob in blobs:
            conn.send_bytes(blob)
        conn.send_bytes(b"")
    except BaseException:  # the parent parses the rest of this share itself
        pass
    finally:
        conn.close()


def _parse_forked(
    jobs: list[_Job], default_ns: str, count: int, store: cache.ParseCache | None
) -> Iterator[Parsed]:
    """Workers take all shares but the first, which this process parses meanwhile."""
    ctx = multiprocessing.get_context("fork")
    shares = _shares(jobs, count, FIRST_SHARE_CACHED if store is not None else FIRST_SHARE)
    running = []
    for share in shares[1:]:
        parent, child = ctx.Pipe(duplex=False)
        args = (share, default_ns, child, store)
        proc = ctx.Process(target=_worker, args=args, daemon=False)
        proc.start()
        child.close()
        running.append((share, parent, proc))
    yield from _here(shares[0], default_ns)
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
        runtime.watch(proc)  # it may still be writing its cache entries
    yield from _here(share[done:], default_ns)
