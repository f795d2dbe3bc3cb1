"""Human-readable output: one grep-friendly line per finding, the source line with a caret
under the field, grouped by file, and a summary by level and tag.

On a terminal the text also fits its width (``Style.width``): a long source line is cut
around the caret with an ellipsis at each cut end, and long messages wrap at spaces onto
indented lines. Piped or written to a file, every finding stays on one line. Suppressed
findings are hidden unless asked for; the summary counts them either way."""

from __future__ import annotations

import textwrap
from collections import Counter
from dataclasses import dataclass

import click

from ..lint.engine import RunResult
from ..model import Finding

_COLORS = {"error": "red", "warning": "yellow", "note": "cyan"}
ELLIPSIS = "..."
MIN_WIDTH = 40  # narrower terminals get lines of this width (they wrap, as they would anyway)
GUTTER = 8  # "   13 | "
_HOLE = "\x00"  # stands for the level while a line is wrapped, so its colour codes count zero


@dataclass(frozen=True)
class Style:
    """How the text report is shown. ``width``: fit lines to this many columns (a terminal's
    width), None: never cut or wrap. ``quiet``: findings only, no summary or other lines.
    ``show_suppressed``: list suppressed findings too (they are always counted)."""

    color: bool = False
    width: int | None = None
    quiet: bool = False
    show_suppressed: bool = False


def window(text: str, start: int, length: int, room: int) -> tuple[str, int, int]:
    """``text`` cut to at most ``room`` characters so that its columns ``start`` to
    ``start + length`` (0-based, the caret) stay visible; each cut end becomes an ellipsis.
    Returns the shown text and the caret's new start and length (shortened when even the
    caret does not fit)."""
    if len(text) <= room:
        return text, start, length
    e = len(ELLIPSIS)
    length = max(1, min(length, room - 2 * e))
    if start + length <= room - e:  # the caret is in the head: cut the tail only
        return text[: room - e] + ELLIPSIS, start, length
    context = (room - 2 * e - length) // 2  # as much text before the caret as after it
    lo = max(1, min(start - context, len(text) - (room - e)))
    tail = lo + room - e < len(text)
    shown = ELLIPSIS + text[lo : lo + room - e - (e if tail else 0)] + (ELLIPSIS if tail else "")
    return shown, start - lo + e, length


def _snippet(f: Finding, style: Style) -> list[str]:
    source = f.file.line_text(f.span.line)
    if not source:
        return []
    start = f.span.col - 1
    width = f.span.end_col - f.span.col if f.span.end_line == f.span.line else len(source) - start
    length = max(1, min(width, len(source) - start))
    text = source.rstrip()
    if style.width is not None:
        text, start, length = window(text, start, length, max(style.width, MIN_WIDTH) - GUTTER)
    caret = "^" * length
    if style.color:
        caret = click.style(caret, fg=_COLORS[f.level], bold=True)
    gutter = f"{f.span.line:>5} | "
    return [gutter + text, " " * (GUTTER - 2) + "| " + " " * start + caret]


def _wrap(line: str, style: Style, indent: int) -> list[str]:
    """``line`` as it fits the terminal: wrapped at spaces, continuation lines indented by
    ``indent``; a word longer than the line (a path, a host) is never split."""
    if style.width is None:
        return [line]
    lead = len(line) - len(line.lstrip(" "))
    return textwrap.wrap(
        line[lead:],
        max(style.width, MIN_WIDTH),
        initial_indent=" " * lead,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [line]


def _head(f: Finding, names: dict[str, str], style: Style) -> list[str]:
    where = f"{f.file.path}:{f.span.line}:{f.span.col}"
    suffix = f" [{names.get(f.rule_id, '')}]"
    if f.views:
        suffix += f" (views: {', '.join(f.views)})"
    if f.suppressed is not None:
        suffix += f" (suppressed: {f.suppressed})"
    hole = _HOLE * len(f.level)
    lines = _wrap(f"{where}: {hole} {f.rule_id} {f.message}{suffix}", style, 4)
    level = click.style(f.level, fg=_COLORS[f.level], bold=True) if style.color else f.level
    return [line.replace(hole, level, 1) for line in lines]


def finding_lines(f: Finding, names: dict[str, str], style: Style) -> list[str]:
    out = _head(f, names, style)
    out.extend(_snippet(f, style))
    for rel in f.related:
        file, span = rel.place()
        where = f"{file.path}:{span.line}:{span.col}"
        out.extend(_wrap(f"      related: {where}: {rel.resource.ref}: {rel.message}", style, 8))
    return out


def shown_findings(run: RunResult, style: Style) -> list[Finding]:
    if style.show_suppressed:
        return run.findings
    return [f for f in run.findings if f.suppressed is None]


def render(run: RunResult, color: bool = False, style: Style | None = None) -> str:
    style = style or Style(color=color)
    names = {r.id: r.name for r in run.rules}
    out: list[str] = []
    previous = None
    for f in shown_findings(run, style):
        if previous is not None and f.file.path != previous:
            out.append("")  # findings are grouped by file, a blank line between files
        previous = f.file.path
        out.extend(finding_lines(f, names, style))
    if not style.quiet:
        for line in _trailer(run, style):
            out.extend(_wrap(line, style, 2))
    return "".join(line + "\n" for line in out)


def _trailer(run: RunResult, style: Style) -> list[str]:
    """What follows the findings: skipped files, notes, views, internal errors, summary."""
    out = [f"{s.shown}: skipped: {s.why}" for s in run.skipped]
    out.extend(f"note: {note}" for note in run.notifications)
    out.extend(views_lines(run))
    out.extend(f"internal error: {e} (please report this as a bug)" for e in run.internal_errors)
    out.append(_summary(run, {r.id: r.tag for r in run.rules}, style))
    return out


def views_lines(run: RunResult) -> list[str]:
    """Which views the run built (when not just the one default view) and with what."""
    if len(run.views) <= 1 and all(v.kind == "default" for v in run.views):
        return []
    parts = [f"{v.name} ({_view_size(v.kind, v.files, v.resources)})" for v in run.views]
    out = [f"views: {', '.join(parts)}"]
    if run.renderer:
        out.append(f"rendered with {run.renderer}")
    return out


def _view_size(kind: str, files: int, resources: int) -> str:
    what = {"config": "configured", "folder": "folder", "entry point": "entry point"}.get(
        kind, kind
    )
    what = "" if kind == "default" else what
    size = f"{resources} resource(s)" if kind in ("kustomize", "helm") else f"{files} file(s)"
    return f"{what}, {size}" if what else size


def _summary(run: RunResult, tags: dict[str, str], style: Style) -> str:
    counts = run.counts()
    active = [f for f in run.findings if f.suppressed is None]
    by_tag = Counter(tags.get(f.rule_id, "?") for f in active)
    suppressed = len(run.findings) - len(active)
    parts = [
        f"{counts['error']} error(s)",
        f"{counts['warning']} warning(s)",
        f"{counts['note']} note(s)",
    ]
    text = f"egresslint: {run.files} file(s), {run.resources} resource(s): " + ", ".join(parts)
    if by_tag:
        text += " [" + ", ".join(f"{t}: {n}" for t, n in sorted(by_tag.items())) + "]"
    if suppressed and style.show_suppressed:
        text += f"; {suppressed} suppressed"
    elif suppressed:
        text += f"; {suppressed} suppressed, not shown (--show-suppressed lists them)"
    return text
