"""Reporters only format a finished run; they never decide anything."""

from __future__ import annotations

from collections.abc import Callable

from ..engine import RunResult

Renderer = Callable[[RunResult, bool], str]

FORMATS = ("text", "json", "sarif", "github")


def render(fmt: str, run: RunResult, color: bool = False, category: str | None = None) -> str:
    # each reporter is imported when used: sarif-om and attrs cost a text run 50 ms of start-up
    if fmt == "json":
        from . import json_report

        return json_report.render(run)
    if fmt == "sarif":
        from . import sarif

        return sarif.render(run, category)
    if fmt == "github":
        from . import github

        return github.render(run)
    from . import text

    return text.render(run, color)
