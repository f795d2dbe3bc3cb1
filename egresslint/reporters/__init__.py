"""Reporters only format a finished run; they never decide anything."""

from __future__ import annotations

from collections.abc import Callable

from ..engine import RunResult
from . import github, json_report, sarif, text

Renderer = Callable[[RunResult, bool], str]

FORMATS = ("text", "json", "sarif", "github")


def render(fmt: str, run: RunResult, color: bool = False, category: str | None = None) -> str:
    if fmt == "json":
        return json_report.render(run)
    if fmt == "sarif":
        return sarif.render(run, category)
    if fmt == "github":
        return github.render(run)
    return text.render(run, color)
