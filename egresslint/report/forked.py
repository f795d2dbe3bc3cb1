"""Text made from many items on both cores: a forked child renders the second half.

A report of tens of thousands of findings takes a while to turn into JSON, on one core, at
the end of the run. The child sees the findings copy-on-write and sends back only its text;
if it fails for any reason, this process renders that half too. Small inputs never fork, nor
does a run whose cache writer is still busy on the other core.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .. import runtime

T = TypeVar("T")

MIN_ITEMS = 4_000  # below this, forking costs more than half the rendering


def joined_halves(
    render: Callable[[Sequence[T]], str],
    items: Sequence[T],
    sep: str,
    min_items: int | None = None,
) -> str:
    """``render(first half) + sep + render(second half)``; empty halves are left out, so the
    result equals ``render(items)`` for a ``render`` that joins items with ``sep``."""
    half = len(items) // 2
    first, second = items[:half], items[half:]
    least = MIN_ITEMS if min_items is None else min_items
    if len(items) < max(least, 2) or not _can_fork():
        parts = [render(first), render(second)]
    else:
        child = _start(render, second)
        parts = [render(first), _finish(child, render, second)]
    return sep.join(p for p in parts if p)


def _can_fork() -> bool:
    # not while a cache writer has the other core: a child would only compete with it
    return runtime.two_cores() and not runtime.busy()


def _start(render: Callable[[Sequence[T]], str], items: Sequence[T]) -> tuple[Any, Any] | None:
    mp = multiprocessing.get_context("fork")
    try:
        parent, child = mp.Pipe(duplex=False)
        proc = mp.Process(target=_child, args=(render, items, child), daemon=True)
        proc.start()
    except OSError:
        return None
    child.close()
    return proc, parent


def _child(render: Callable[[Sequence[T]], str], items: Sequence[T], conn: Any) -> None:
    try:
        conn.send_bytes(render(items).encode("utf-8", "surrogatepass"))
    except BaseException:  # the parent sees no message and renders this half itself
        pass
    finally:
        conn.close()


def _finish(
    started: tuple[Any, Any] | None, render: Callable[[Sequence[T]], str], items: Sequence[T]
) -> str:
    if started is None:
        return render(items)
    proc, conn = started
    try:
        return str(conn.recv_bytes().decode("utf-8", "surrogatepass"))
    except Exception:  # the child failed: render here
        return render(items)
    finally:
        with contextlib.suppress(Exception):
            conn.close()
        with contextlib.suppress(Exception):
            proc.join(10)
