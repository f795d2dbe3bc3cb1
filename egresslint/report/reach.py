"""``egresslint reach`` output: the reachability matrix (text grouped by destination, JSON,
CSV, Markdown, HTML), the trace of one pair step by step with ``file:line`` for each step, and
the posture diff against a git revision (text, Markdown for a pull request comment, JSON).

Only formatting: every verdict, step and source comes from the model (``mesh/reachability.py``)
and the diff (``mesh/reachdiff.py``).
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..mesh.reachability import VERDICTS, Pair, Source, Step
from ..mesh.reachdiff import Change, Cited

MATRIX_FORMATS = ("text", "json", "csv", "markdown", "html")
DIFF_FORMATS = ("text", "json", "markdown")
ARROW = "->"
_COLORS = {
    "controlled": "#1a7f37",
    "denied": "#9a6700",
    "bypass": "#cf222e",
    "unreachable": "#8250df",
}

Views = Mapping[str, Sequence[Pair]]


# ---- shared ----------------------------------------------------------------------------------
def counts(pairs: Iterable[Pair]) -> str:
    found = Counter(p.verdict for p in pairs)
    total = sum(found.values())
    parts = ", ".join(f"{found[v]} {v}" for v in VERDICTS)
    return f"{total} pair(s): {parts}"


def _by_destination(pairs: Sequence[Pair]) -> dict[str, list[Pair]]:
    out: dict[str, list[Pair]] = {}
    for p in pairs:
        out.setdefault(p.destination.label, []).append(p)
    return out


def _where(sources: Iterable[Source]) -> str:
    return ", ".join(dict.fromkeys(s.location for s in sources))


def _view_title(name: str, several: bool) -> str:
    return f"view {name}" if several else ""


# ---- the matrix ------------------------------------------------------------------------------
def matrix_text(views: Views) -> str:
    lines: list[str] = []
    several = len(views) > 1
    for name, pairs in views.items():
        if several:
            lines.append(f"== {_view_title(name, several)}")
        width = max((len(p.client.label) for p in pairs), default=0)
        for dest, group in _by_destination(pairs).items():
            lines.append(dest)
            for p in group:
                lines.append(f"  {p.client.label:<{width}}  {p.verdict:<11}  {p.reason}")
        if not pairs:
            lines.append("no pairs: the view has no client and no external destination")
    everything = [p for pairs in views.values() for p in pairs]
    lines.append(f"egresslint reach: {counts(everything)}")
    return "\n".join(lines) + "\n"


def _source_json(s: Source) -> dict[str, Any]:
    return {"resource": s.ref, "file": s.file, "line": s.line, "role": s.role}


def _step_json(s: Step) -> dict[str, Any]:
    return {
        "kind": s.kind,
        "outcome": s.outcome,
        "summary": s.summary,
        "sources": [_source_json(x) for x in s.sources],
    }


def pair_json(view: str, p: Pair) -> dict[str, Any]:
    c, d = p.client, p.destination
    return {
        "view": view,
        "client": {
            "label": c.label,
            "namespace": c.namespace,
            "service_account": c.service_account,
            "capture": c.capture,
            "workloads": [w.ref for w in c.workloads],
        },
        "destination": {
            "label": d.label,
            "host": d.host,
            "port": d.port,
            "protocol": d.protocol,
            "registered": d.registered,
        },
        "verdict": p.verdict,
        "reason": p.reason,
        "proxy": p.proxy_ref or None,
        "steps": [_step_json(s) for s in p.steps],
    }


def matrix_json(views: Views) -> str:
    pairs = [pair_json(name, p) for name, ps in views.items() for p in ps]
    summary = Counter(p.verdict for ps in views.values() for p in ps)
    doc = {"pairs": pairs, "summary": {v: summary[v] for v in VERDICTS}}
    return json.dumps(doc, indent=2) + "\n"


def matrix_csv(views: Views) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["view", "client", "destination", "verdict", "proxy", "reason"])
    for name, pairs in views.items():
        for p in pairs:
            writer.writerow(
                [name, p.client.label, p.destination.label, p.verdict, p.proxy_ref, p.reason]
            )
    return out.getvalue()


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def matrix_markdown(views: Views) -> str:
    lines: list[str] = []
    several = len(views) > 1
    for name, pairs in views.items():
        if several:
            lines += [f"### {_view_title(name, several)}", ""]
        lines += ["| destination | client | verdict | why |", "|---|---|---|---|"]
        for dest, group in _by_destination(pairs).items():
            for p in group:
                lines.append(
                    f"| {_md(dest)} | {_md(p.client.label)} | **{p.verdict}** | {_md(p.reason)} |"
                )
        lines.append("")
    everything = [p for pairs in views.values() for p in pairs]
    lines.append(f"egresslint reach: {counts(everything)}")
    return "\n".join(lines) + "\n"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>egresslint reach</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
.verdict {{ font-weight: bold; color: white; border-radius: 3px; padding: 1px 6px; }}
details {{ font-size: 90%; }}
</style></head><body>
<h1>Who can reach what</h1>
<p>{summary}</p>
{body}
</body></html>
"""


def _verdict_html(verdict: str) -> str:
    return f'<span class="verdict" style="background:{_COLORS[verdict]}">{verdict}</span>'


def _steps_html(p: Pair) -> str:
    items = "".join(
        f"<li><b>{s.kind}</b> ({s.outcome}): {html.escape(s.summary)}"
        + (f" <code>{html.escape(_where(s.sources))}</code>" if s.sources else "")
        + "</li>"
        for s in p.steps
    )
    return f"<details><summary>{html.escape(p.reason)}</summary><ol>{items}</ol></details>"


def matrix_html(views: Views) -> str:
    parts = []
    for name, pairs in views.items():
        if len(views) > 1:
            parts.append(f"<h2>{html.escape(_view_title(name, True))}</h2>")
        rows = "".join(
            f"<tr><td>{html.escape(p.destination.label)}</td><td>{html.escape(p.client.label)}</td>"
            f"<td>{_verdict_html(p.verdict)}</td><td>{_steps_html(p)}</td></tr>"
            for p in pairs
        )
        parts.append(
            "<table><tr><th>destination</th><th>client</th><th>verdict</th><th>path</th></tr>"
            f"{rows}</table>"
        )
    everything = [p for pairs in views.values() for p in pairs]
    return _PAGE.format(summary=html.escape(counts(everything)), body="\n".join(parts))


def matrix(fmt: str, views: Views) -> str:
    renderers = {
        "text": matrix_text,
        "json": matrix_json,
        "csv": matrix_csv,
        "markdown": matrix_markdown,
        "html": matrix_html,
    }
    return renderers[fmt](views)


# ---- the trace of one pair -------------------------------------------------------------------
def _source_line(s: Source) -> str:
    role = f": {s.role}" if s.role else ""
    return f"{s.location}  {s.ref}{role}"


def trace_text(view: str, p: Pair) -> str:
    head = f"{p.client.label} {ARROW} {p.destination.label}"
    lines = [f"{head}{f' (view {view})' if view else ''}: {p.verdict}"]
    for i, s in enumerate(p.steps, 1):
        lines.append(f"  {i}. {s.kind} [{s.outcome}]: {s.summary}")
        if not s.sources:
            lines.append("       (rests on nothing written in the view)")
        lines += [f"       {_source_line(x)}" for x in s.sources]
    lines.append(f"  verdict: {p.verdict}: {p.reason}")
    return "\n".join(lines) + "\n"


def trace_markdown(view: str, p: Pair) -> str:
    lines = [f"#### {_md(p.client.label)} {ARROW} {_md(p.destination.label)}: **{p.verdict}**", ""]
    for i, s in enumerate(p.steps, 1):
        where = ", ".join(f"`{x.location}` {x.ref}" for x in s.sources) or "nothing written"
        lines.append(f"{i}. **{s.kind}** ({s.outcome}): {_md(s.summary)} ({where})")
    lines += ["", f"Verdict: **{p.verdict}**: {_md(p.reason)}"]
    return "\n".join(lines) + "\n"


def trace(fmt: str, view: str, p: Pair) -> str:
    if fmt == "json":
        return json.dumps(pair_json(view, p), indent=2) + "\n"
    if fmt == "markdown":
        return trace_markdown(view, p)
    if fmt == "text":
        return trace_text(view, p)
    return matrix(fmt, {view: [p]})


# ---- the posture diff ------------------------------------------------------------------------
# How a cited source's state reads: ``added``/``dropped`` resources exist on both sides and
# are only cited on one of them.
_STATE_TEXT = {
    "new": "new",
    "added": "now cited",
    "removed": "removed",
    "dropped": "no longer cited",
}


def _cited_text(c: Cited, ref: str) -> str:
    s, state = c.source, _STATE_TEXT[c.state]
    if c.state in ("new", "added"):
        return f"{s.ref} ({state}) at {s.location}"
    return f"{s.ref} ({state}; was at {s.location} in {ref})"


def _shown(cited: Iterable[Cited]) -> list[Cited]:
    """The sources a reader needs: those cited now, and those gone from the repository (a
    resource that exists on both sides and is only no longer cited is in the JSON)."""
    return [c for c in cited if c.state != "dropped"]


def _headline(change: Change) -> str:
    before, after = change.verdicts
    head = f"{change.client} {ARROW} {change.destination}: {before} {ARROW} {after}"
    if change.after is not None and change.steps:
        first = next((s for s in change.steps if s.after is not None), None)
        if first is not None and first.after is not None:
            new = [c for c in first.cited if c.state == "new"]
            mark = f" ({', '.join(c.source.ref for c in new)} new)" if new else ""
            head += f", {first.after.summary}{mark}"
    return head


def diff_text(changes: Sequence[Change], ref: str) -> str:
    lines = []
    for ch in changes:
        view = f" [view {ch.view}]" if len({c.view for c in changes}) > 1 else ""
        lines.append(_headline(ch) + view)
        for st in ch.steps:
            was = st.before.summary if st.before is not None else "none"
            now = st.after.summary if st.after is not None else "none"
            lines.append(f"  {st.kind}: {was}")
            lines.append(f"  {' ' * len(st.kind)}  {ARROW} {now}")
            lines += [f"      {_cited_text(c, ref)}" for c in _shown(st.cited)]
    lines.append(f"egresslint reach --diff {ref}: {len(changes)} pair(s) changed")
    return "\n".join(lines) + "\n"


def diff_markdown(changes: Sequence[Change], ref: str) -> str:
    lines = [f"### Egress posture changes against `{_md(ref)}`", ""]
    if not changes:
        lines.append("No client-destination pair changed its verdict or path.")
        return "\n".join(lines) + "\n"
    lines += ["| client | destination | before | after |", "|---|---|---|---|"]
    for ch in changes:
        before, after = ch.verdicts
        lines.append(f"| {_md(ch.client)} | {_md(ch.destination)} | {before} | **{after}** |")
    lines.append("")
    for ch in changes:
        lines.append(f"- **{_md(_headline(ch))}**")
        for st in ch.steps:
            was = st.before.summary if st.before is not None else "none"
            now = st.after.summary if st.after is not None else "none"
            lines.append(f"  - {st.kind}: {_md(was)} {ARROW} {_md(now)}")
            lines += [f"    - {_md(_cited_markdown(c, ref))}" for c in _shown(st.cited)]
    lines += ["", f"{len(changes)} pair(s) changed."]
    return "\n".join(lines) + "\n"


def _cited_markdown(c: Cited, ref: str) -> str:
    s, state = c.source, _STATE_TEXT[c.state]
    if c.state in ("new", "added"):
        return f"{s.ref} ({state}) `{s.location}`"
    return f"{s.ref} ({state}; was `{s.location}` at {ref})"


def _step_change_json(st: Any, ref: str) -> dict[str, Any]:
    return {
        "kind": st.kind,
        "before": _step_json(st.before) if st.before is not None else None,
        "after": _step_json(st.after) if st.after is not None else None,
        "cited": [{**_source_json(c.source), "state": c.state} for c in st.cited],
    }


def diff_json(changes: Sequence[Change], ref: str) -> str:
    doc = {
        "ref": ref,
        "changes": [
            {
                "view": ch.view,
                "client": ch.client,
                "destination": ch.destination,
                "kind": ch.kind,
                "before": ch.verdicts[0],
                "after": ch.verdicts[1],
                "summary": _headline(ch),
                "steps": [_step_change_json(st, ref) for st in ch.steps],
            }
            for ch in changes
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def posture(fmt: str, changes: Sequence[Change], ref: str) -> str:
    renderers = {"text": diff_text, "markdown": diff_markdown, "json": diff_json}
    return renderers[fmt](changes, ref)
