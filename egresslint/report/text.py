"""Human-readable output: one grep-friendly line per finding, the source line with a caret
under the field, grouped by file, and a summary by level and tag."""

from __future__ import annotations

from collections import Counter

import click

from ..lint.engine import RunResult
from ..model import Finding

_COLORS = {"error": "red", "warning": "yellow", "note": "cyan"}


def _snippet(f: Finding) -> list[str]:
    source = f.file.line_text(f.span.line)
    if not source:
        return []
    width = (
        f.span.end_col - f.span.col
        if f.span.end_line == f.span.line
        else len(source) - f.span.col + 1
    )
    caret = " " * (f.span.col - 1) + "^" * max(1, min(width, len(source) - f.span.col + 1))
    gutter = f"{f.span.line:>5} | "
    return [gutter + source.rstrip(), " " * (len(gutter) - 2) + "| " + caret]


def _line(f: Finding, names: dict[str, str], color: bool) -> str:
    level = click.style(f.level, fg=_COLORS[f.level], bold=True) if color else f.level
    where = f"{f.file.path}:{f.span.line}:{f.span.col}"
    suffix = f" [{names.get(f.rule_id, '')}]"
    if f.views:
        suffix += f" (views: {', '.join(f.views)})"
    if f.suppressed is not None:
        suffix += f" (suppressed: {f.suppressed})"
    return f"{where}: {level} {f.rule_id} {f.message}{suffix}"


def render(run: RunResult, color: bool = False) -> str:
    names = {r.id: r.name for r in run.rules}
    tags = {r.id: r.tag for r in run.rules}
    out: list[str] = []
    previous = None
    for f in run.findings:
        if previous is not None and f.file.path != previous:
            out.append("")  # findings are grouped by file, a blank line between files
        previous = f.file.path
        out.append(_line(f, names, color))
        out.extend(_snippet(f))
        for rel in f.related:
            file, span = rel.place()
            where = f"{file.path}:{span.line}:{span.col}"
            out.append(f"      related: {where}: {rel.resource.ref}: {rel.message}")
    for s in run.skipped:
        out.append(f"{s.shown}: skipped: {s.why}")
    for note in run.notifications:
        out.append(f"note: {note}")
    out.extend(views_lines(run))
    for err in run.internal_errors:
        out.append(f"internal error: {err} (please report this as a bug)")
    out.append(_summary(run, tags))
    return "\n".join(out) + "\n"


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


def _summary(run: RunResult, tags: dict[str, str]) -> str:
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
    if suppressed:
        text += f"; {suppressed} suppressed"
    return text
