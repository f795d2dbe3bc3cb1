"""The top folder of the git work tree a path is in (what ``git rev-parse --show-toplevel``
prints), for paths that must not depend on the working folder: baselines, SARIF locations."""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

from .ignore import work_tree

_TIMEOUT = 10.0  # seconds: git answers this from the file system alone
# set inside git hooks; they would name the hook's repository, not the one ``path`` is in
_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_PREFIX")


def git_root(path: Path) -> Path | None:
    """The work tree's top folder for ``path`` (a file or a folder), or None outside one."""
    folder = os.path.abspath(path)
    if not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    top = _toplevel(folder)
    return Path(top) if top else None


@lru_cache(maxsize=64)
def _toplevel(folder: str) -> str | None:
    env = {k: v for k, v in os.environ.items() if k not in _REDIRECTS}
    try:
        done = subprocess.run(
            ["git", "-C", folder, "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
            env=env,
        )
        top = done.stdout.strip() if done.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        top = ""
    if not top:  # no git installed, or it refused (say, a folder of another owner)
        top = work_tree(folder) or ""
    return os.path.realpath(top) if top else None
