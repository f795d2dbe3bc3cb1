"""Baselines: record today's findings once, then report only new ones.

A finding is matched by rule id, file, resource (kind namespace/name) and field path, never by
line, so moving lines does not resurface a recorded finding and a new finding in another file
or on another resource is never swallowed. Findings without a resource (a YAML syntax error,
a duplicate key) are matched by their message instead of a field path. Matching counts: with
two identical findings and one recorded, one is reported.

The file is YAML (or JSON when its name ends in ``.json``), sorted, with a ``version`` key,
so that a change to it reads well in a review.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from ..model import Finding
from .engine import RunResult

VERSION = 1
Key = tuple[str, str, str, str, str]
_HEADER = (
    "# egresslint baseline: findings accepted when it was written; 'egresslint check\n"
    "# --baseline FILE' reports only findings not listed here. Regenerate with\n"
    "# 'egresslint check --write-baseline FILE'.\n"
)


class BaselineError(Exception):
    pass


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path)


def key(f: Finding) -> Key:
    if f.resource is None:
        return (f.rule_id, f.file.path, "", "", f.message)
    return (f.rule_id, f.file.path, f.resource.source_ref, _dotted(f.path), "")


def entries(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    active = sorted(
        (f for f in findings if f.suppressed is None), key=lambda f: (key(f), f.message)
    )
    counts = Counter(key(f) for f in active)
    messages: dict[Key, str] = {}
    for f in active:
        messages.setdefault(key(f), f.message)
    return [
        {
            "rule": k[0],
            "file": k[1],
            "resource": k[2] or None,
            "path": k[3] or None,
            "count": counts[k],
            "message": messages[k],
        }
        for k in sorted(counts, key=lambda k: (k[1], k[0], k[2], k[3], k[4]))
    ]


def dumps(findings: Iterable[Finding], as_json: bool = False) -> str:
    doc = {"version": VERSION, "findings": entries(findings)}
    if as_json:
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    return _HEADER + body


def write(path: str, findings: Iterable[Finding]) -> int:
    items = [f for f in findings if f.suppressed is None]
    text = dumps(items, as_json=path.endswith(".json"))
    try:
        with open(path, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(text)  # JSON reads a lone surrogate's backslash escape back as it was
    except OSError as exc:
        raise BaselineError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(items)


def _entry_key(i: int, item: Any, path: str) -> tuple[Key, int]:
    if not isinstance(item, Mapping) or not all(
        isinstance(item.get(k), str) for k in ("rule", "file")
    ):
        raise BaselineError(f"{path}: findings[{i}]: needs the strings 'rule' and 'file'")
    count = item.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise BaselineError(f"{path}: findings[{i}].count: must be a positive integer")
    resource = item.get("resource") or ""
    message = "" if resource else str(item.get("message") or "")
    return (item["rule"], item["file"], str(resource), str(item.get("path") or ""), message), count


def read(path: str) -> Counter[Key]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        doc = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise BaselineError(f"{path}: not a valid baseline file: {exc}") from None
    if not isinstance(doc, Mapping) or doc.get("version") != VERSION:
        raise BaselineError(f"{path}: not an egresslint baseline (expected 'version: {VERSION}')")
    items = doc.get("findings")
    items = [] if items is None else items
    if not isinstance(items, list):
        raise BaselineError(f"{path}: findings: must be a list")
    counts: Counter[Key] = Counter()
    for i, item in enumerate(items):
        k, n = _entry_key(i, item, path)
        counts[k] += n
    return counts


def apply(result: RunResult, recorded: Counter[Key], path: str) -> int:
    """Drop the findings the baseline accounts for; return how many were dropped."""
    left = Counter(recorded)
    kept: list[Finding] = []
    for f in result.findings:
        k = key(f)
        if f.suppressed is None and left[k] > 0:
            left[k] -= 1
            continue
        kept.append(f)
    dropped = len(result.findings) - len(kept)
    result.findings = kept
    if dropped:
        result.notifications.append(
            f"{dropped} finding(s) recorded in the baseline {path} are not reported."
        )
    return dropped
