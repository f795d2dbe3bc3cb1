"""Where this installation keeps its own files: the engine's code and the data packages.

Installed, the rule catalogue and the schemas are the ``egresslint.rules`` and
``egresslint.schemas`` packages; in a source checkout they are the top-level ``rules/`` and
``schemas/`` folders beside ``egresslint/``. The rule registry, schema validation, the
configuration schema and the run cache's code digest all find them here. It imports nothing
of egresslint.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent  # the egresslint package folder


def package_dir(name: str) -> Path:
    """The folder of a data package (``rules`` or ``schemas``), installed or in the source tree."""
    for candidate in (ROOT / name, ROOT.parent / name):
        if (candidate / "__init__.py").is_file():
            return candidate
    raise RuntimeError(f"egresslint is incompletely installed: no '{name}' folder")
