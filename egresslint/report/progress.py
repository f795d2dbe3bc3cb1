"""Progress on standard error for long runs, only when a person is watching a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

MIN_FILES = 500  # below this a run is short enough to need no progress line
INTERVAL = 0.1  # seconds between redraws


class Progress:
    """A ``progress(done, total)`` callback that redraws one line, then erases it."""

    def __init__(self, stream: TextIO, min_files: int = MIN_FILES) -> None:
        self.stream = stream
        self.min_files = min_files
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if total < self.min_files:
            return
        now = time.monotonic()
        if done < total and now - self.last < INTERVAL:
            return
        self.last = now
        self.stream.write(
            f"\r\x1b[Kegresslint: reading files {done}/{total} ({done * 100 // total}%)"
        )
        self.stream.flush()
        self.shown = True
        if done >= total:
            self.clear()

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def for_stderr() -> Callable[[int, int], None] | None:
    """A progress callback for standard error when it is a terminal, else None."""
    return Progress(sys.stderr) if sys.stderr.isatty() else None
