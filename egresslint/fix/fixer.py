"""Apply the mechanical fixes rules offer, keeping every other byte of the file.

A fixable rule returns declarative :class:`~egresslint.edits.Edit` objects from its
``fix(finding)``. For each file to change, this module:

1. refuses files with a parse or duplicate-key finding, standard input, and files that
   changed since they were linted;
2. cuts out the text of each edited document (from the first line of its root node to its
   end, so ``---``/``...`` markers, directives, a BOM and the other documents are never
   re-serialised), with line endings normalised to LF;
3. loads that text with ruamel.yaml's round-trip loader, using the indentation the file
   itself uses, applies the edits, and dumps it;
4. accepts the result only if every changed line lies inside a mapping that was edited: if
   ruamel would reformat anything else, the file is left alone and the reason reported;
5. puts the original line endings and BOM back, and checks that the new file still parses.
"""

from __future__ import annotations

import codecs
import copy
import difflib
import inspect
import io
import os
import re
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.tokens import CommentToken

from ..lint import engine
from ..lint.edits import Edit, as_edits
from ..lint.registry import all_rules
from ..model import Finding, PosDict, PosList, SourceFile, Span
from ..parse import loader

STDIN_SHOWN = "<stdin>"
BLOCKING = (loader.UNPARSEABLE, loader.DUPLICATE_KEY)


class FixError(Exception):
    """Why a file is left unchanged."""


@dataclass
class Applied:
    finding: Finding
    edit: Edit


@dataclass
class FileFix:
    """The planned change of one file."""

    path: str  # as shown
    real: str  # as opened
    old: bytes
    new: bytes
    applied: list[Applied] = field(default_factory=list)

    def diff(self) -> str:
        old = _text(self.old).splitlines(keepends=True)
        new = _text(self.new).splitlines(keepends=True)
        lines = difflib.unified_diff(old, new, f"a/{self.path}", f"b/{self.path}")
        out = []
        for line in lines:
            out.append(line)
            if not line.endswith("\n"):
                out.append("\n\\ No newline at end of file\n")
        return "".join(out)


@dataclass
class FixReport:
    files: list[FileFix] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    unfixable: int = 0  # findings of fixable rules whose fix did not apply to them
    run: engine.RunResult | None = None


def _text(data: bytes) -> str:
    return data.decode("utf-8-sig", errors="replace")


# ---- planning ------------------------------------------------------------------------------
def fix_function(rule_id: str) -> Any:
    """The module-level ``fix`` of a rule, or None."""
    for rule in all_rules():
        if rule.id == rule_id and rule.fixable and rule.check is not None:
            module = sys.modules.get(rule.check.__module__)
            return getattr(module, "fix", None)
    return None


RENDERED = (
    "the finding is on a rendered resource (kustomize or Helm): change the source by hand, "
    "at the line the finding names"
)


def plan(options: engine.Options) -> FixReport:
    """Lint with every rule, then compute the changes of the selected fixable rules."""
    everything = engine.Options(**{**vars(options), "select": [], "ignore": []})
    result = engine.run(everything)
    wanted = {r.id for r in engine.enabled_rules(options) if r.fixable}
    report = FixReport(run=result)
    blocked = {f.file.path for f in result.findings if f.rule_id in BLOCKING}
    by_file: dict[str, list[Applied]] = defaultdict(list)
    seen: set[tuple[str, int, Any, str]] = set()
    for finding in result.findings:
        if finding.rule_id not in wanted or finding.suppressed is not None:
            continue
        if finding.resource is not None and finding.resource.origin is not None:
            # a rendered resource: the field may come from a base, a patch or a transformer
            if (finding.file.path, RENDERED) not in report.refused:
                report.refused.append((finding.file.path, RENDERED))
            continue
        edits = _edits_for(finding, result)
        report.unfixable += not edits
        for edit in edits:
            if edit.identity not in seen:
                seen.add(edit.identity)
                by_file[edit.resource.file.path].append(Applied(finding, edit))
    base = options.base_dir or os.getcwd()
    for path in sorted(by_file):
        if path == STDIN_SHOWN:
            report.refused.append((path, "standard input is never changed; fix the source file"))
        elif path in blocked:
            report.refused.append(
                (path, "the file has a YAML error or duplicate key; fix it first")
            )
        else:
            _plan_file(report, path, os.path.join(base, path), by_file[path])
    return report


def _edits_for(finding: Finding, run: engine.RunResult) -> list[Edit]:
    """The edits a rule's ``fix(finding)`` (or ``fix(finding, graph)``: the graph of the view
    the finding holds in, for fixes that need to look around) offers."""
    func = fix_function(finding.rule_id)
    if func is None:
        return []
    try:
        if len(inspect.signature(func).parameters) >= 2:
            graph = run.graphs.get(finding.views[0]) if finding.views else run.graph
            return as_edits(func(finding, graph))
        return as_edits(func(finding))
    except Exception:  # a bug in one rule's fix must not stop the others
        return []


def _plan_file(report: FixReport, path: str, real: str, applied: list[Applied]) -> None:
    try:
        with open(real, "rb") as handle:
            old = handle.read()
        source = applied[0].edit.resource.file
        new = apply_edits(old, source, [a.edit for a in applied])
    except OSError as exc:
        report.refused.append((path, f"cannot read: {exc.strerror or exc}"))
        return
    except FixError as exc:
        report.refused.append((path, str(exc)))
        return
    if new != old:
        report.files.append(FileFix(path, real, old, new, applied))


def write(fix: FileFix) -> None:
    """Replace the file atomically, keeping its permissions."""
    folder = os.path.dirname(os.path.abspath(fix.real))
    fd, tmp = tempfile.mkstemp(prefix=".egresslint-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(fix.new)
        os.chmod(tmp, os.stat(fix.real).st_mode & 0o7777)
        os.replace(tmp, fix.real)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---- applying ------------------------------------------------------------------------------
def apply_edits(data: bytes, source: SourceFile, edits: list[Edit]) -> bytes:
    """The file's new bytes after ``edits`` (all on this file); raises FixError."""
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    try:
        text = data[len(bom) :].decode("utf-8")
    except UnicodeDecodeError:
        raise FixError("the file is not UTF-8 text") from None
    if text.replace("\r\n", "\n") != source.text.replace("\r\n", "\n"):
        raise FixError("the file changed since it was linted; run the command again")
    newline = _newline(text)
    lines = text.replace("\r\n", "\n").split("\n")
    roots = _document_roots(text.replace("\r\n", "\n"))
    by_doc: dict[int, list[Edit]] = defaultdict(list)
    for edit in edits:
        by_doc[edit.resource.doc_index].append(edit)
    for index in sorted(by_doc, reverse=True):  # later documents first: line numbers hold
        if index >= len(roots):
            raise FixError(f"document {index + 1} not found")
        first, last = roots[index]
        segment = lines[first - 1 : last]
        new = _edit_segment(segment, first, by_doc[index])
        lines[first - 1 : last] = new
    out = "\n".join(lines)
    _check_parses(out, source)
    return bom + out.replace("\n", newline).encode("utf-8")


def _newline(text: str) -> str:
    crlf = text.count("\r\n")
    if crlf and crlf != text.count("\n"):
        raise FixError("the file mixes CRLF and LF line endings; not changed")
    if "\r" in text.replace("\r\n", ""):
        raise FixError("the file uses bare CR line endings; not changed")
    return "\r\n" if crlf else "\n"


def _document_roots(text: str) -> list[tuple[int, int]]:
    """(first line, last line), 1-based inclusive, of each document's root node."""
    roots = []
    parser = yaml.CSafeLoader(text)
    try:
        while parser.check_node():
            node = parser.get_node()
            if node is None:
                roots.append((0, -1))
                continue
            start, end = node.start_mark, node.end_mark
            if start.column != 0:
                roots.append((0, -1))  # not editable: the root shares a line with a marker
                continue
            last = end.line if end.column == 0 else end.line + 1
            roots.append((start.line + 1, max(start.line + 1, last)))
    except yaml.YAMLError as exc:
        raise FixError(f"cannot parse the file: {exc}") from None
    finally:
        parser.dispose()
    return roots


def _edit_segment(segment: list[str], first: int, edits: list[Edit]) -> list[str]:
    """Round-trip one document's lines through ruamel.yaml with ``edits`` applied.

    Files do not always indent every sequence alike, so each indentation style the document
    uses is tried, and the output that changes the fewest original lines wins.
    """
    if first <= 0:
        raise FixError("the edited document starts on the line of its '---' marker")
    best: tuple[int, list[str]] | None = None
    error: FixError | None = None
    for indent in guess_indent(segment):
        try:
            new = _round_trip(segment, first, edits, indent)
        except FixError as exc:
            error = error or exc
            continue
        matcher = difflib.SequenceMatcher(None, segment, new, autojunk=False)
        cost = sum(
            max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
        )
        if best is None or cost < best[0]:
            best = (cost, new)
    if best is None:
        raise error or FixError("cannot edit the document")
    return best[1]


def _round_trip(
    segment: list[str], first: int, edits: list[Edit], indent: tuple[int, int, int]
) -> list[str]:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 1 << 30  # never fold long lines
    rt.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    try:
        doc = rt.load("\n".join(segment) + "\n")
        changed = [e for e in edits if _apply(doc, e)]
        if not changed:
            return segment
        out = io.StringIO()
        rt.dump(doc, out)
    except FixError:
        raise
    except Exception as exc:  # ruamel raises many kinds of errors on unusual input
        raise FixError(f"cannot edit the document: {type(exc).__name__}: {exc}") from None
    new = out.getvalue().split("\n")
    if new and new[-1] == "":
        new.pop()
    allowed = set()
    for edit in changed:
        allowed |= _region(edit, first)
    return _splice(segment, new, allowed)


_KEY_ONLY = re.compile(r"^( *)((?:- +)*)([^\s#][^#]*?):[ \t]*(#.*)?$")


def guess_indent(lines: Iterable[str]) -> list[tuple[int, int, int]]:
    """Candidate (mapping indent, sequence indent, dash offset), most used first."""
    maps: Counter[int] = Counter()
    seqs: Counter[tuple[int, int]] = Counter()
    previous: int | None = None  # key column of a "key:" line without a value
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if previous is not None and (stripped.startswith("- ") or stripped == "-"):
            dash = indent - previous
            content = len(stripped) - len(stripped[1:].lstrip(" "))
            seqs[(dash + content, dash)] += 1
        elif previous is not None and indent > previous:
            maps[indent - previous] += 1
        match = _KEY_ONLY.match(line)
        previous = len(match.group(1)) + len(match.group(2)) if match else None
    mappings = [m for m, _ in maps.most_common(3)] or [2]
    sequences = [s for s, _ in seqs.most_common(3)] or [(mappings[0], 0)]
    return [(m, max(seq, off + 2), off) for (seq, off) in sequences for m in mappings]


def _apply(doc: Any, edit: Edit) -> bool:
    """Apply one edit to the round-trip document; False when it is already in place."""
    node = doc
    base = len(edit.resource.base_path)
    for depth, key in enumerate(edit.full_path):
        child = _child(node, key, CommentedMap, CommentedSeq)
        if child is not None:
            node = child
        elif edit.create and depth >= base and isinstance(node, CommentedMap):
            child = CommentedMap()
            if key in node:
                node[key] = child
            else:
                _insert(node, key, child, edit.create_after)
            node = child
        else:
            raise FixError(f"cannot {edit.description}: {_dotted(edit.path)} not found")
    if not isinstance(node, CommentedMap):
        raise FixError(f"cannot {edit.description}: {_dotted(edit.path)} is not a mapping")
    if edit.key in node:
        current = node[edit.key]
        if type(current) is type(edit.value) and current == edit.value:
            return False
        node[edit.key] = edit.value
    else:
        _insert(node, edit.key, edit.value, edit.after)
    return True


def _child(node: Any, key: Any, map_type: type[dict[Any, Any]], seq_type: type[list[Any]]) -> Any:
    """``node[key]`` when ``node`` is a mapping with that key or a sequence with that index."""
    if isinstance(node, map_type) and key in node:
        return node[key]
    if isinstance(node, seq_type) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "the document"


def _insert(mapping: CommentedMap, key: str, value: Any, after: Iterable[str]) -> None:
    keys = list(mapping.keys())
    prev = keys[-1] if keys else None
    for candidate in after:
        if candidate in mapping:
            prev = candidate
            break
    mapping.insert(keys.index(prev) + 1 if prev is not None else 0, key, value)
    if prev is not None:
        _move_trailing_comments(mapping, prev, key, value)


def _move_trailing_comments(mapping: CommentedMap, prev: Any, key: str, value: Any) -> None:
    """Keep full-line comments and blank lines that followed ``prev`` after the new key."""
    slots = mapping.ca.items.get(prev)
    token = slots[2] if slots and len(slots) > 2 else None
    if not isinstance(token, CommentToken):
        return
    head, _, rest = token.value.partition("\n")
    if not rest:
        return
    token.value = head + "\n"
    moved = copy.copy(token)
    moved.value = "\n" + rest
    if isinstance(value, CommentedMap) and value:
        value.ca.items[list(value.keys())[-1]] = [None, None, moved, None]
    else:
        mapping.ca.items[key] = [None, None, moved, None]


def _region(edit: Edit, first: int) -> set[int]:
    """0-based segment indexes of the lines of the edited mapping (or its nearest ancestor)."""
    node: Any = edit.resource.body
    span: Span = node.span
    for key in edit.path:
        node = _child(node, key, PosDict, PosList)
        if not isinstance(node, (PosDict, PosList)):
            break
        span = node.span
    text = edit.resource.file.line_text(span.end_line)
    last = span.end_line
    if not text[: span.end_col - 1].strip(" -"):
        last -= 1  # the mapping ends where the next item or key starts
    return set(range(span.line - first, max(span.line, last) - first + 1))


def _splice(old: list[str], new: list[str], allowed: set[int]) -> list[str]:
    """``old`` with only the changes of ``new`` that fall inside the edited mappings.

    ruamel.yaml may re-serialise untouched lines differently (spacing inside flow
    collections, ``~``, alignment of comments): those changes are dropped, and the result
    must still mean exactly what ruamel's output means, or the file is left alone.
    """
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        touched = set(range(i1, i2)) if i2 > i1 else ({i1 - 1} & allowed or {i1})
        if tag == "equal" or not touched & allowed:
            out.extend(old[i1:i2])
        elif touched <= allowed:
            out.extend(new[j1:j2])
        else:
            raise FixError(_REFORMAT.format(line=min(touched - allowed) + 1))
    if _meaning(out) != _meaning(new):
        raise FixError(_REFORMAT.format(line=next(_differing(old, new), 0) + 1))
    return out


_REFORMAT = (
    "ruamel.yaml would change lines outside the edited mapping (line {line} of the document) "
    "in a way that cannot be kept apart from the fix; not changed, apply the fix by hand"
)


def _meaning(lines: list[str]) -> Any:
    try:
        return yaml.load("\n".join(lines) + "\n", Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return _Unparseable()


class _Unparseable:
    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


def _differing(old: list[str], new: list[str]) -> Iterator[int]:
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return (i1 for tag, i1, *_ in matcher.get_opcodes() if tag != "equal")


def _check_parses(text: str, source: SourceFile) -> None:
    parsed = loader.parse_text(text, SourceFile(source.path))
    if any(f.rule_id in BLOCKING for f in parsed.findings):
        raise FixError("the edited file would not parse cleanly; not changed (please report)")
