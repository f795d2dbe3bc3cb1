"""Suppressions that carry a reason.

Two forms, both naming rules by id or name, several separated by commas:

- on the resource, the annotation
  ``egresslint.io/ignore: "EGL101=owned by team X until 2027-01, EGL204=..."``;
- in the YAML, a comment ``# egresslint: ignore EGL101 -- reason``: at the end of the line a
  finding points at, on its own line just above that line (other comment lines may sit in
  between), or at the top of a document (before its first key) for the whole document.

A suppression without a reason suppresses nothing and is itself reported (EGL004). So are, as
notes (EGL007), comments that look like a suppression but do not parse (``# egresslint ignore
EGL101``, ``# egresslint: disable ...``, ``# egresslint-disable``, ``# egresslint: ignroe``,
a rule id right after the tool name) and suppressions naming something that is no rule id
or name; a comment that merely mentions egresslint gets nothing. A suppressed finding is
kept, with ``finding.suppressed`` set to the reason, so reports can show it as dismissed.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from ..model import Finding, Resource, SourceFile, Span
from .registry import all_rules
from .rule import Rule

ANNOTATION = "egresslint.io/ignore"
RULE_ID = "EGL004"
MALFORMED = "EGL007"
SYNTAX = "# egresslint: ignore {keys} -- {reason}"
_COMMENT = re.compile(r"(?:^|\s)(#\s*egresslint:\s*ignore\b(?P<body>.*))$")
# a comment starting with the tool's name in any spelling; a literal '#' first keeps the
# search of a whole file fast
_MENTION = re.compile(r"#\s*[Ee][Gg][Rr][Ee][Ss][Ss][-_ ]?[Ll][Ii][Nn][Tt]")
_NEAR = re.compile(
    r"(?:^|\s)(#\s*egress[-_ ]?lint(?P<sep>[\s:=_-]*)(?P<word>[a-z][\w-]*)?(?P<body>.*))$", re.I
)
_DIRECTIVES = ("ignore", "disable", "suppress", "noqa", "nolint", "skip", "off", "allow")
_RULE_ID = re.compile(r"EGL\d{3}", re.I)
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
    """Mark the suppressed findings; return the EGL004 findings for suppressions without a
    reason and the EGL007 notes for malformed ones (those of the enabled rules)."""
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
    kept = [p for p in problems if p.rule_id in enabled]
    for p in kept:
        p.level = levels.get(p.rule_id) or enabled[p.rule_id].level
    return kept


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
    if _MENTION.search(source.text) is None:
        return
    lines = source.text.splitlines()
    docs = _documents(lines)
    for n, text in enumerate(lines, 1):
        if "#" not in text or _MENTION.search(text) is None:
            continue
        match = _comment(text)
        if match is None:
            yield from _near_miss(source, n, text)
            continue
        keys, reason = parse_comment(match.group("body"))
        span = Span(n, match.start(1) + 1, n, len(text.rstrip()) + 1)
        if keys and reason:
            first, last = _scope(lines, n, docs)
            yield Suppression(tuple(keys), reason, source, first, last)
            yield from _unknown_keys(source, span, keys)
        else:
            yield _comment_problem(source, span, keys)


def _comment(text: str, pattern: re.Pattern[str] = _COMMENT) -> re.Match[str] | None:
    """The suppression comment of a line: a ``#`` inside a quoted scalar is not one."""
    start = 0
    while (match := pattern.search(text, start)) is not None:
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


@lru_cache(maxsize=1)
def _rule_keys() -> frozenset[str]:
    """What a suppression may name: rule ids (any case, compared upper-cased) and names."""
    return frozenset(k for r in all_rules() for k in (r.id, r.name))


def is_rule_key(key: str) -> bool:
    return key.upper() in _rule_keys() or key in _rule_keys()


def _looks_like_directive(word: str, sep: str) -> bool:
    """Whether the word after the tool's name is a try at ``ignore``: a known directive of
    some linter, a misspelling when it is attached (``egresslint:ignroe``, ``egresslint-``),
    or a rule id (the directive left out). ``egresslint ignores ...`` is prose."""
    w = word.lower()
    if _RULE_ID.fullmatch(w) or w in _DIRECTIVES or w.startswith(("ignore-", "disable-")):
        return True
    if not sep.strip():  # only spaces: take exact directives alone
        return False
    return any(difflib.SequenceMatcher(None, w, d).ratio() >= 0.8 for d in _DIRECTIVES[:3])


def _near_miss(source: SourceFile, n: int, text: str) -> Iterator[Finding]:
    match = _comment(text, _NEAR)
    word = match.group("word") if match else None
    if match is None or word is None or not _looks_like_directive(word, match.group("sep")):
        return
    body = match.group("body")
    keys, _ = parse_comment(f"{word} {body}" if _RULE_ID.fullmatch(word) else body)
    right = SYNTAX.format(
        keys=", ".join(k for k in keys if is_rule_key(k)) or "<rule>",
        reason="<why this is acceptable>",
    )
    yield Finding(
        MALFORMED,
        "This comment looks like a suppression but egresslint does not read it as one, so it "
        f"suppresses nothing. Write '{right}' (lower case, a colon after egresslint, then "
        "'ignore', the rules and the reason).",
        source,
        Span(n, match.start(1) + 1, n, len(text.rstrip()) + 1),
    )


def _unknown_keys(source: SourceFile, span: Span, keys: list[str]) -> Iterator[Finding]:
    unknown = [k for k in keys if not is_rule_key(k) and any(c.isalnum() for c in k)]
    if unknown:
        yield Finding(MALFORMED, _unknown_message("The suppression comment", unknown), source, span)


def _unknown_message(what: str, unknown: list[str]) -> str:
    names = ", ".join(f"'{k}'" for k in unknown)
    return (
        f"{what} names {names}, which is no rule id or name, so it suppresses nothing for "
        f"{'it' if len(unknown) == 1 else 'them'}. Name rules by id or name (a tag is not "
        "enough); 'egresslint rules' lists them."
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
            if not is_rule_key(key):
                yield _annotation_problem(res, key, MALFORMED)
        else:
            yield _annotation_problem(res, key)


def _annotation_problem(res: Resource, key: str, rule_id: str = RULE_ID) -> Finding:
    path = ("metadata", "annotations", ANNOTATION)
    message = (
        f"{res.ref}: the {ANNOTATION} entry '{key}' has no reason, so it suppresses nothing. "
        f"Write '{key or '<rule>'}=<why this is acceptable>' (entries separated by commas)."
    )
    if rule_id == MALFORMED:
        message = _unknown_message(f"{res.ref}: the {ANNOTATION} entry", [key])
    return Finding(
        rule_id,
        message,
        res.file,
        res.locate(path),
        res,
        (*res.base_path, *path),
    )
