"""Finds the rule modules in the rule catalogue and checks their metadata.

The catalogue is the top-level ``rules/`` folder of the source tree; installed, it is the
``egresslint.rules`` package. Each ``eglNNN_<name>.py`` module defines ``RULE`` (a
:class:`~egresslint.lint.rule.Rule`) and, unless the engine itself reports it, ``check(ctx)``.
The module docstring is the rule's help.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from ..packaged import package_dir
from .rule import Rule

PACKAGE = "egresslint.rules"


def _rules_package() -> ModuleType:
    try:
        return importlib.import_module(PACKAGE)
    except ImportError:
        pass
    folder = package_dir("rules")
    spec = importlib.util.spec_from_file_location(
        PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)
    return module


def _load(module: ModuleType) -> Rule:
    rule = getattr(module, "RULE", None)
    if not isinstance(rule, Rule):
        raise RuntimeError(f"{module.__name__} defines no RULE")
    check = getattr(module, "check", None)
    help_text = rule.help or (module.__doc__ or "").strip()
    return dataclasses.replace(rule, help=help_text, check=check)


@lru_cache(maxsize=1)
def all_rules() -> tuple[Rule, ...]:
    """Every rule of the catalogue, ordered by id."""
    package = _rules_package()
    folder = Path(next(iter(package.__path__)))
    rules = [
        _load(importlib.import_module(f"{PACKAGE}.{path.stem}"))
        for path in sorted(folder.glob("egl[0-9][0-9][0-9]_*.py"))
    ]
    problems = [p for r in rules for p in r.problems()]
    for attr in ("id", "name"):
        values = [getattr(r, attr) for r in rules]
        problems += [
            f"duplicate rule {attr} {v}" for v in sorted(set(values)) if values.count(v) > 1
        ]
    if problems:
        raise RuntimeError("invalid rule catalogue: " + "; ".join(problems))
    return tuple(sorted(rules, key=lambda r: r.id))


def find(key: str) -> Rule | None:
    """A rule by id (any case) or name."""
    wanted = key.strip()
    for rule in all_rules():
        if wanted.upper() == rule.id or wanted == rule.name:
            return rule
    return None
