"""Suppressions that carry a reason.

Two forms, both naming rules by id or name, several separated by commas:

- on the resource, the annotation
  ``egresslint.io/ignore: "EGL101=owned by team X until 2027-01, EGL204=..."``;
- in the YAML, a comment ``# egresslint: ignore EGL101 -- reason``: at the end of the line a
  finding points at, on its own line just above that line (other comment lines may sit in
  between), or at the top of a document (before its first key) for the whole document.

A suppression without a reason suppresses nothing and is itself reported (EGL004). A
suppressed finding is kept, with ``finding.suppressed`` set to the reason, so reports can show
it as dismissed.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from ..model import Finding, Resource, SourceFile, Span
from .registry import all_rules
from .rule import Rule

ANNOTATION = "egresslint.io/ignore"
RULE_ID = "EGL004"
_COMMENT = re.compile(r"(?:^|\s)(#\s*egresslint:\s*ignore\b(?P<body>.*))$")
_DOC_MARK = re.compile(r"^(---|\.\.\.)(\s|$)")


@dataclass(frozen=True)
class Suppression:
    keys: tuple[str, ...]
    reason: str
    file: SourceFile
    first: int = 0  # line range for comments (inclusive); 0 for an annotation
    last: int = 0
    resource: Resource | None = None

    def covers(self, finding: Finding, names: Mapping[str, str]) -> bool:
        if not any(
            k.upper() == finding.rule_id or k == names.get(finding.rule_id) for k in self.keys
        ):
            return False
        if self.resource is not None:
            return finding.resource is self.resource
        return finding.file is self.file and self.first <= finding.span.line <= self.last


def apply(
    findings: list[Finding],
    resources: Iterable[Resource],
    sources: Iterable[SourceFile],
    enabled: Mapping[str, Rule],
    levels: Mapping[str, str],
) -> list[Finding]:
    """Mark the suppressed findings; return EGL004 findings for suppressions without a reason
    (only when EGL004 is enabled)."""
    found: list[Suppression] = []
    problems: list[Finding] = []
    for source in sources:
        _collect(comment_suppressions(source), found, problems)
    for res in resources:
        _collect(annotation_suppressions(res), found, problems)
    names = {r.id: r.name for r in all_rules()}
    by_owner: dict[int, list[Suppression]] = {}  # comments by file, annotations by resource
    for s in found:
        by_owner.setdefault(id(s.resource if s.resource is not None else s.file), []).append(s)
    for f in findings:
        if f.suppressed is None and f.rule_id != RULE_ID:
            mine = [*by_owner.get(id(f.file), ()), *by_owner.get(id(f.resource), ())]
            f.suppressed = next((s.reason for s in mine if s.covers(f, names)), None)
    if RULE_ID not in enabled:
        return []
    for p in problems:
        p.level = levels.get(RULE_ID) or enabled[RULE_ID].level
    return problems


def _collect(
    items: Iterable[Suppression | Finding], found: list[Suppression], problems: list[Finding]
) -> None:
    for item in items:
        if isinstance(item, Suppression):
            found.append(item)
        else:
            problems.append(item)


# --- comments --------------------------------------------------------------------------------


def _documents(lines: list[str]) -> list[tuple[int, int, int]]:
    """(first line, last line, first content line or 0) of each document, 1-based."""
    docs: list[list[int]] = [[1, 0, 0]]
    for n, text in enumerate(lines, 1):
        if _DOC_MARK.match(text):
            if n > 1:
                docs[-1][1] = n - 1
                docs.append([n, 0, 0])
            continue
        stripped = text.strip()
        if docs[-1][2] == 0 and stripped and not stripped.startswith(("#", "%")):
            docs[-1][2] = n
    docs[-1][1] = len(lines)
    return [(a, b, c) for a, b, c in docs]


def _is_comment_line(text: str) -> bool:
    return text.lstrip().startswith("#")


def _scope(lines: list[str], n: int, docs: list[tuple[int, int, int]]) -> tuple[int, int]:
    """The lines a comment on line ``n`` applies to."""
    text = lines[n - 1]
    own_line = _is_comment_line(text) or bool(_DOC_MARK.match(text))
    if not own_line:
        return n, n
    doc = docs[bisect.bisect_right(docs, (n, len(lines) + 1, 0)) - 1]  # the last starting <= n
    if doc[2] == 0 or n < doc[2]:
        return doc[0], doc[1]
    target = n + 1
    while target <= len(lines) and _is_comment_line(lines[target - 1]):
        target += 1
    return target, target


def parse_comment(body: str) -> tuple[list[str], str]:
    """``EGL101, EGL204 -- reason`` -> (keys, reason); the reason is empty when missing."""
    head, sep, reason = body.partition("--")
    keys = [k for k in re.split(r"[\s,]+", head.split("#", 1)[0]) if k]
    return keys, reason.strip() if sep else ""


def comment_suppressions(source: SourceFile) -> Iterator[Suppression | Finding]:
    if "egresslint" not in source.text:
        return
    lines = source.text.splitlines()
    docs = _documents(lines)
    for n, text in enumerate(lines, 1):
        match = _comment(text) if "egresslint" in text else None
        if match is None:
            continue
        keys, reason = parse_comment(match.group("body"))
        if keys and reason:
            first, last = _scope(lines, n, docs)
            yield Suppression(tuple(keys), reason, source, first, last)
        else:
            span = Span(n, match.start(1) + 1, n, len(text.rstrip()) + 1)
            yield _comment_problem(source, span, keys)


def _comment(text: str) -> re.Match[str] | None:
    """The suppression comment of a line: a ``#`` inside a quoted scalar is not one."""
    start = 0
    while (match := _COMMENT.search(text, start)) is not None:
        if not _in_quotes(text, match.start(1)):
            return match
        start = match.start(1) + 1
    return None


def _in_quotes(text: str, end: int) -> bool:
    """Whether ``text[end]`` is inside a single- or double-quoted scalar opened on this line
    (a quote opens one at the start of a value: after a space, a tab or ``[{,:-?``)."""
    quote, i = "", 0
    while i < end:
        ch = text[i]
        if not quote:
            if ch in "'\"" and (i == 0 or text[i - 1] in " \t[{,:-?"):
                quote = ch
        elif quote == "'" and ch == "'":
            if text[i + 1 : i + 2] == "'":
                i += 1  # '' is an escaped quote
            else:
                quote = ""
        elif quote == '"' and ch == "\\":
            i += 1  # an escaped character
        elif quote == '"' and ch == '"':
            quote = ""
        i += 1
    return bool(quote)


def _comment_problem(source: SourceFile, span: Span, keys: list[str]) -> Finding:
    named = ", ".join(keys) or "<rule>"
    what = "has no reason" if keys else "names no rule"
    return Finding(
        RULE_ID,
        f"Suppression comment 'egresslint: ignore {', '.join(keys)}' {what}, so it suppresses "
        f"nothing. Write '# egresslint: ignore {named} -- <why this is acceptable>'.",
        source,
        span,
    )


# --- annotations -----------------------------------------------------------------------------


def _split_entries(value: str) -> list[str]:
    names = "|".join(re.escape(r.name) for r in all_rules())
    key = rf"(?:EGL\d{{3}}|{names})" if names else r"EGL\d{3}"
    boundary = re.compile(rf",\s*(?={key}\s*(?:=|,|$))", re.I)
    return [p.strip() for p in boundary.split(value.strip()) if p.strip()]


def annotation_suppressions(res: Resource) -> Iterator[Suppression | Finding]:
    value = res.annotations.get(ANNOTATION)
    if value is None:
        return
    for entry in _split_entries(value):
        key, _, reason = entry.partition("=")
        key, reason = key.strip(), reason.strip()
        if key and reason:
            yield Suppression((key,), reason, res.file, resource=res)
        else:
            yield _annotation_problem(res, key)


def _annotation_problem(res: Resource, key: str) -> Finding:
    path = ("metadata", "annotations", ANNOTATION)
    return Finding(
        RULE_ID,
        f"{res.ref}: the {ANNOTATION} entry '{key}' has no reason, so it suppresses nothing. "
        f"Write '{key or '<rule>'}=<why this is acceptable>' (entries separated by commas).",
        res.file,
        res.locate(path),
        res,
        (*res.base_path, *path),
    )
