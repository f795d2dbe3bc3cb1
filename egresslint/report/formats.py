"""Every output format, by name: the lint reports and the topology drawings.

Reporters only format a finished run; they never decide anything. Each formatter is imported
when used: sarif-om and attrs cost a text run 50 ms of start-up.
"""

from __future__ import annotations

from ..lint.engine import RunResult

FORMATS = ("text", "json", "sarif", "github")
DRAWINGS = ("dot", "mermaid", "html")


def render(fmt: str, run: RunResult, color: bool = False, category: str | None = None) -> str:
    """The report of ``run`` in one of ``FORMATS``."""
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


def draw(fmt: str, result: RunResult) -> str:
    """The topology of ``result`` (its graph must be set) in one of ``DRAWINGS``."""
    from .draw import dot, html, mermaid
    from .draw.topology import build

    renderers = {"dot": dot.render, "mermaid": mermaid.render, "html": html.render}
    return renderers[fmt](build(result))
