"""Every output format, by name: the lint reports and the topology drawings.

Reporters only format a finished run; they never decide anything. Each formatter is imported
when used: sarif-om and attrs cost a text run 50 ms of start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..lint.engine import RunResult

if TYPE_CHECKING:
    from .text import Style

FORMATS = ("text", "json", "sarif", "github", "gitlab", "junit")
DRAWINGS = ("dot", "mermaid", "html")


def render(
    fmt: str,
    run: RunResult,
    color: bool = False,
    category: str | None = None,
    *,
    style: Style | None = None,
    fail_on: str = "warning",
    inputs: Sequence[str] = (),
) -> str:
    """The report of ``run`` in one of ``FORMATS``. ``style``: how text is shown (colour,
    terminal width, quiet, suppressed findings); ``fail_on``: which findings JUnit counts as
    failures (those that make the exit code 1); ``inputs``: the paths the run was given
    (GitLab's paths are relative to their git work tree)."""
    if fmt == "json":
        from . import json_report

        return json_report.render(run)
    if fmt == "sarif":
        from . import sarif

        return sarif.render(run, category)
    if fmt == "github":
        from . import github

        return github.render(run)
    if fmt == "gitlab":
        from . import gitlab

        return gitlab.render(run, inputs)
    if fmt == "junit":
        from . import junit

        return junit.render(run, fail_on)
    from . import text

    return text.render(run, color, style)


def draw(fmt: str, result: RunResult, istio_version: tuple[int, int, int] | None = None) -> str:
    """The reachability drawing of ``result`` (its graph must be set) in one of ``DRAWINGS``."""
    from .draw import dot, html, mermaid
    from .draw.topology import build

    renderers = {"dot": dot.render, "mermaid": mermaid.render, "html": html.render}
    topo = build(result) if istio_version is None else build(result, istio_version)
    return renderers[fmt](topo)
