"""Test session setup: egresslint's parse cache goes to a temporary folder, never the user's."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Tools the tests install once (e.g. the SARIF Multitool) may stay in the real user cache.
os.environ.setdefault(
    "EGRESSLINT_TEST_TOOL_CACHE", os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
)
_SESSION_CACHE = tempfile.TemporaryDirectory(prefix="egresslint-test-cache-")
os.environ["XDG_CACHE_HOME"] = _SESSION_CACHE.name
