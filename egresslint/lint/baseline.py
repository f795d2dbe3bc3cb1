"""Baselines: record today's findings once, then report only new ones.

A finding is matched by its identity (``identity.py``, shared with ``--diff``): rule id, file,
resource (kind namespace/name) and field path, never the line, so moving lines does not
resurface a recorded finding and a new finding in another file or on another resource is
never swallowed. Findings without a resource (a YAML syntax error, a duplicate key) are matched
by their message instead. Matching counts: with two identical findings and one recorded, one
is reported.

Nothing in a version 2 file depends on where the check runs: files are named relative to the
project root (the top of the git work tree of the linted paths; outside one, the folder of the
configuration file, else the working folder), and the field path of an item of a ``kind: List``
starts at the item, so inserting another item does not change it. Version 1 files (paths
relative to the working folder, List items by index) still match from the folder they were
written in (or, written at the root, from any folder until a List item is inserted), with a
note to regenerate them.

The file is YAML (or JSON when its name ends in ``.json``), sorted, with a ``version`` key,
so that a change to it reads well in a review.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..model import Finding
from ..sources.gitroot import git_root
from .config import start_folder
from .engine import RunResult
from .identity import Identities as Identities  # re-exported for the command line

VERSION = 2
READABLE = (1, 2)
_HEADER = (
    "# egresslint baseline: findings accepted when it was written; 'egresslint check\n"
    "# --baseline FILE' reports only findings not listed here. Files are relative to the\n"
    "# top of the git work tree, so it matches from any folder. Regenerate with\n"
    "# 'egresslint check --write-baseline FILE'.\n"
)
_OLD = (
    "The baseline {path} is version 1: its files are relative to the folder it was written "
    "in and List items are named by index, so it may not match from another folder or after "
    "an item is inserted. Regenerate it with 'egresslint check --write-baseline {path}' "
    "(version 2 matches from any folder)."
)


class BaselineError(Exception):
    pass


def project_root(paths: Sequence[str], config_folder: str | None, cwd: str | None = None) -> str:
    """What baseline files are relative to: the top of the git work tree of the linted
    ``paths``, else the configuration file's folder, else the working folder."""
    base = os.path.abspath(cwd or os.getcwd())
    top = git_root(Path(start_folder(paths, base)))
    return os.path.realpath(str(top) if top is not None else config_folder or base)


def _format(rule: str, file: str, resource: str, path: str, message: str) -> str:
    """An identity from a baseline entry's fields (the format of ``identity.identity``)."""
    what = resource or f"document: {message}"
    return f"{rule}|{file}|{what}|{path}"


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path)


def _field_path(f: Finding) -> tuple[Any, ...]:
    base = f.resource.base_path if f.resource is not None else ()
    return f.path[len(base) :] if f.path[: len(base)] == base else f.path


def _entry(f: Finding, ids: Identities, count: int) -> dict[str, Any]:
    return {
        "rule": f.rule_id,
        "file": ids.path(f.file.path),
        "resource": None if f.resource is None else f.resource.source_ref,
        "path": _dotted(_field_path(f)) or None,
        "count": count,
        "message": f.message if f.resource is not None else ids.message(f.message),
    }


def entries(findings: Iterable[Finding], ids: Identities) -> list[dict[str, Any]]:
    """One entry per identity, with its count and the message of its first finding."""
    first: dict[str, Finding] = {}
    counts: Counter[str] = Counter()
    for f in sorted((f for f in findings if f.suppressed is None), key=lambda f: f.message):
        key = ids.of(f)
        counts[key] += 1
        first.setdefault(key, f)
    made = {k: _entry(f, ids, counts[k]) for k, f in first.items()}
    order = sorted(made, key=lambda k: (made[k]["file"], made[k]["rule"], k))
    return [made[k] for k in order]


def dumps(findings: Iterable[Finding], ids: Identities, as_json: bool = False) -> str:
    doc = {"version": VERSION, "findings": entries(findings, ids)}
    if as_json:
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    return _HEADER + body


def write(path: str, findings: Iterable[Finding], ids: Identities) -> int:
    items = [f for f in findings if f.suppressed is None]
    text = dumps(items, ids, as_json=path.endswith(".json"))
    try:
        with open(path, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(text)  # JSON reads a lone surrogate's backslash escape back as it was
    except OSError as exc:
        raise BaselineError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(items)


@dataclass
class Recorded:
    """A baseline file as read: its format version and the count of each identity."""

    version: int
    counts: Counter[str]


def _entry_key(i: int, item: Any, path: str) -> tuple[str, int]:
    if not isinstance(item, Mapping) or not all(
        isinstance(item.get(k), str) for k in ("rule", "file")
    ):
        raise BaselineError(f"{path}: findings[{i}]: needs the strings 'rule' and 'file'")
    count = item.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise BaselineError(f"{path}: findings[{i}].count: must be a positive integer")
    resource = str(item.get("resource") or "")
    message = "" if resource else str(item.get("message") or "")
    field_path = str(item.get("path") or "")
    return _format(item["rule"], item["file"], resource, field_path, message), count


def read(path: str) -> Recorded:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        doc = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise BaselineError(f"{path}: not a valid baseline file: {exc}") from None
    version = doc.get("version") if isinstance(doc, Mapping) else None
    if isinstance(version, bool) or version not in READABLE:
        raise BaselineError(
            f"{path}: not an egresslint baseline this version reads (expected 'version: "
            f"{VERSION}'); write a new one with 'egresslint check --write-baseline {path}'"
        )
    items = doc.get("findings")
    items = [] if items is None else items
    if not isinstance(items, list):
        raise BaselineError(f"{path}: findings: must be a list")
    counts: Counter[str] = Counter()
    for i, item in enumerate(items):
        k, n = _entry_key(i, item, path)
        counts[k] += n
    return Recorded(int(version), counts)


def _v1_keys(f: Finding, ids: Identities) -> tuple[str, ...]:
    """What version 1 recorded: the full field path (a List item's index included), the raw
    message, and the file relative to the folder it was written in (tried as the working
    folder, then as the root)."""
    resource = f.resource.source_ref if f.resource is not None else ""
    shown, rooted = f.file.path, ids.path(f.file.path)
    tail = (resource, _dotted(f.path), "" if resource else f.message)
    own = _format(f.rule_id, shown, *tail)
    return (own,) if rooted == shown else (own, _format(f.rule_id, rooted, *tail))


def apply(result: RunResult, recorded: Recorded, path: str, ids: Identities) -> int:
    """Drop the findings the baseline accounts for; return how many were dropped."""
    left = Counter(recorded.counts)
    kept: list[Finding] = []
    for f in result.findings:
        keys = (ids.of(f),) if recorded.version == VERSION else _v1_keys(f, ids)
        k = next((k for k in keys if left[k] > 0), None) if f.suppressed is None else None
        if k is None:
            kept.append(f)
        else:
            left[k] -= 1
    dropped = len(result.findings) - len(kept)
    result.findings = kept
    if dropped:
        result.notifications.append(
            f"{dropped} finding(s) recorded in the baseline {path} are not reported."
        )
    if recorded.version != VERSION:
        result.notifications.append(_OLD.format(path=path))
    return dropped
