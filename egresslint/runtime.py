"""What a run may use of this machine: cores, forked processes, the garbage collector, and
writers that finish after the report.

The speed machinery itself stays beside what it speeds up (the parallel parse in
``parse/parallel.py``, the rule helper in ``lint/rulesplit.py``, the forked SARIF rendering in
``report/forked.py``); this module answers the questions they share, so that each of them
asks in one place whether another core is free, and the process waits for every cache
writer before it exits. It imports nothing of egresslint.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


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


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def two_cores() -> bool:
    """Whether work can be shared with a forked process on another core."""
    return cpu_count() >= 2 and can_fork()


# ---- cache writers that outlive their part of the run ------------------------------------
_writers: list[Any] = []


def watch(proc: Any) -> None:
    """Have ``wait_writers`` wait for ``proc`` (a process or a thread) before the exit."""
    if not _writers:
        atexit.register(wait_writers)
    _writers.append(proc)


def busy() -> bool:
    """Whether a cache writer of this run is still working (on another core)."""
    return any(_alive(proc) for proc in _writers)


def _alive(proc: Any) -> bool:
    try:
        return bool(proc.is_alive())
    except Exception:
        return False


def wait_writers(timeout: float = 300.0) -> None:
    """Wait for this run's cache writers (workers, the run cache's thread) to finish."""
    while _writers:
        proc = _writers.pop()
        with contextlib.suppress(Exception):
            proc.join(timeout)
