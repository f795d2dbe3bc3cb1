"""Running the rules on two cores: this process and one forked helper share the rule list.

After the parse, a large run spends most of its time in rules, on one core. A forked helper
sees the same graph (copy-on-write, nothing is sent to it); both take rules from a pipe
filled with one byte per rule (a read of one byte is atomic, so each rule is run exactly
once, by whichever process is free first), and the helper sends its findings back pickled.
Resources, files and values documents travel as persistent ids, i.e. their index in lists
both processes hold: only what the rule made (message, span, path) is copied. If the helper
fails, this process runs the rules it took itself; small runs never fork.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import runtime
from ..model import Finding, Related, Span
from .rule import Context, Rule

SPLIT_MIN_RESOURCES = 3_000  # below this, forking costs more than the rules take
MAX_RULES = 255  # one byte per rule in the pipe

Result = tuple[list[Finding], list[str]]  # the findings and errors of the rules run
RunRules = Callable[[Sequence[Rule], Context, "Mapping[str, Mapping[str, Any]] | None"], Result]


class _Pickler(pickle.Pickler):
    def __init__(self, out: io.BytesIO, ids: dict[int, int]) -> None:
        super().__init__(out, protocol=pickle.HIGHEST_PROTOCOL)
        self.ids = ids

    def persistent_id(self, obj: Any) -> int | None:
        return self.ids.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, shared: list[Any]) -> None:
        super().__init__(io.BytesIO(data))
        self.shared = shared

    def persistent_load(self, pid: Any) -> Any:
        return self.shared[pid]


def _shared(ctx: Context) -> list[Any]:
    """Objects both processes hold, in the same order: what findings point at."""
    graph = ctx.graph
    files = {id(r.file): r.file for r in graph.resources}
    docs = graph.values_documents()
    files.update((id(d.file), d.file) for d in docs)
    return [*graph.resources, *docs, *files.values()]


def run_split(
    rules: Sequence[Rule],
    ctx: Context,
    params: Mapping[str, Mapping[str, Any]] | None,
    run_rules: RunRules,
) -> Result:
    """``run_rules(rules, ctx, params)``, on two processes when the run is large enough."""
    if not _worth_it(rules, ctx):
        return run_rules(rules, ctx, params)
    shared = _shared(ctx)
    ids = {id(obj): i for i, obj in enumerate(shared)}
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, bytes(range(len(rules))))  # fits the pipe buffer: < 64 KiB
    finally:
        os.close(write_fd)  # at the end of the tokens both readers see EOF
    work = _Work(rules, ctx, params, run_rules)
    try:
        helper, conn = _start(work, read_fd, ids)
    except OSError:
        os.close(read_fd)
        return run_rules(rules, ctx, params)
    inbox = _Inbox(conn, shared)
    done: dict[int, Result] = {}

    def keep(index: int, result: Result) -> None:
        done[index] = result
        inbox.drain()  # what the helper sent meanwhile

    _take(work, read_fd, keep)
    os.close(read_fd)
    inbox.drain(block=True)
    _close(conn, helper)
    done.update(inbox.done)
    for i in range(len(rules)):
        if i not in done:  # the helper failed before sending this rule's findings
            done[i] = work.run(i)
    # in rule order, as one process would have found them (ties in the report keep it)
    found = [f for i in sorted(done) for f in done[i][0]]
    return found, [e for i in sorted(done) for e in done[i][1]]


def _close(conn: Any, helper: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()
    with contextlib.suppress(Exception):
        helper.join(10)


def _worth_it(rules: Sequence[Rule], ctx: Context) -> bool:
    return (
        2 <= len(rules) <= MAX_RULES
        and len(ctx.graph.resources) >= SPLIT_MIN_RESOURCES
        and runtime.two_cores()
    )


@dataclass(frozen=True)
class _Work:
    """The rules of a run and how to run one of them (both processes hold the same)."""

    rules: Sequence[Rule]
    ctx: Context
    params: Mapping[str, Mapping[str, Any]] | None
    run_rules: RunRules

    def run(self, index: int) -> Result:
        return self.run_rules([self.rules[index]], self.ctx, self.params)


def _take(work: _Work, read_fd: int, each: Callable[[int, Result], None]) -> None:
    """Run rules as their tokens come; ``each(index, result)`` after each one."""
    while token := os.read(read_fd, 1):
        each(token[0], work.run(token[0]))


def _start(work: _Work, read_fd: int, ids: dict[int, int]) -> tuple[Any, Any]:
    mp = multiprocessing.get_context("fork")
    parent, child = mp.Pipe(duplex=False)
    helper = mp.Process(target=_helper, args=(work, read_fd, ids, child), daemon=True)
    helper.start()
    child.close()
    return helper, parent


def _helper(work: _Work, read_fd: int, ids: dict[int, int], conn: Any) -> None:
    """Sends one message per rule it ran (as soon as it ran it), then an empty one. A thread
    sends: the parent reads only between its own rules, and a full pipe must not keep this
    process from taking the next rule meanwhile."""
    outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    sender = threading.Thread(target=_send_all, args=(conn, outbox))
    sender.start()

    def send(index: int, result: Result) -> None:
        out = io.BytesIO()
        _Pickler(out, ids).dump((index, [_flat(f) for f in result[0]], result[1]))
        outbox.put(out.getvalue())

    try:
        _take(work, read_fd, send)
        outbox.put(b"")
    except BaseException:  # the parent sees no end message and runs the rest itself
        pass
    finally:
        outbox.put(None)
        sender.join()


def _send_all(conn: Any, outbox: queue.SimpleQueue[bytes | None]) -> None:
    try:
        while (message := outbox.get()) is not None:
            conn.send_bytes(message)
    except BaseException:  # the parent sees no end message and runs the rest itself
        pass
    finally:
        conn.close()


def _flat(f: Finding) -> tuple[Any, ...]:
    """A finding as plain tuples (pickles without running Python code per object)."""
    related = tuple((r.resource, r.path, r.message) for r in f.related)
    span = tuple(f.span)
    return (f.rule_id, f.message, f.file, span, f.resource, f.path, related, f.level, f.suppressed)


def _finding(t: tuple[Any, ...]) -> Finding:
    rule_id, message, file, span, resource, path, related, level, suppressed = t
    rel = tuple(Related(*r) for r in related)
    return Finding(rule_id, message, file, Span(*span), resource, path, rel, level, suppressed)


class _Inbox:
    """What the helper sent, by rule index, and whether it ended."""

    def __init__(self, conn: Any, shared: list[Any]) -> None:
        self.conn = conn
        self.shared = shared
        self.done: dict[int, Result] = {}
        self.ended = False
        self.broken = False

    def drain(self, block: bool = False) -> None:
        """Read what has arrived (``block``: everything, until the helper's end message)."""
        try:
            while not (self.ended or self.broken) and (block or self.conn.poll(0)):
                self._read(self.conn.recv_bytes())
        except Exception:  # EOF (the helper died) or a damaged message
            self.broken = True

    def _read(self, data: bytes) -> None:
        if not data:
            self.ended = True
            return
        index, found, errors = _Unpickler(data, self.shared).load()
        self.done[index] = ([_finding(t) for t in found], errors)
