"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` line per finding."""

from __future__ import annotations

from ..lint.engine import RunResult

_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(run: RunResult) -> str:
    lines = []
    for f in run.findings:
        if f.suppressed is not None:
            continue
        props = ",".join(
            [
                f"file={_escape_property(f.file.path)}",
                f"line={f.span.line}",
                f"col={f.span.col}",
                f"endLine={f.span.end_line}",
                f"title={_escape_property(f.rule_id)}",
            ]
        )
        views = f" (views: {', '.join(f.views)})" if f.views else ""
        lines.append(f"::{_COMMAND[f.level]} {props}::{_escape_data(f.message + views)}")
    return "".join(line + "\n" for line in lines)
