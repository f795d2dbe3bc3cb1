"""Helm charts: releases named in the configuration, rendered with ``helm template``.

A folder with ``Chart.yaml`` is a chart; its templates are not YAML until rendered, so they
are never parsed as manifests. A release in the configuration (``helm: {releases: [...]}``:
chart folder, release name, namespace, values files, and optionally the view it joins) is
rendered with the real ``helm template`` when helm is on PATH, and each rendered resource is
placed back in its template through the ``# Source:`` comment helm writes before it: a field
on the template line that names its key (best effort: keys are searched in order, the
template's first line when none is found). Without helm, or without a release, each chart is
named in one run note with the command to pipe instead.

Like kustomize renders, releases are cached by the content of what they read (the chart
folder and the values files), run with the bounded environment of ``tools.py``, never fetch
dependencies, and are refused when a path or symlink leaves the linted tree.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .. import runtime
from ..model import Origin, Path, Resource, SourceFile, Span
from ..parse import cache, cachedir
from . import tools
from .kustomize import inside
from .render import scan_folder

FORMAT = b"egresslint-helm-v1\n"
_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Release:
    """A configured release: chart folder and values files as real paths."""

    chart: str
    name: str
    namespace: str = "default"
    values: tuple[str, ...] = ()
    view: str | None = None


@dataclass
class Planned:
    """One release to render, or why not."""

    release: Release
    shown: str  # the chart folder as reports show it
    key: str = ""
    refusal: str = ""


@dataclass
class Rendered:
    planned: Planned
    output: bytes | None
    error: str = ""
    cached: bool = False
    templates: dict[str, SourceFile] = field(default_factory=dict)


def chart_folders(files: Iterable[str]) -> list[str]:
    """Chart folders (real paths) among the folders of the linted ``files``."""
    return list(
        dict.fromkeys(
            os.path.dirname(os.path.realpath(f))
            for f in files
            if os.path.basename(f) == "Chart.yaml"
        )
    )


def plan(
    releases: Sequence[Release],
    roots: Sequence[str],
    tool: tools.Tool | None,
    shown: dict[str, str],
) -> list[Planned]:
    out = []
    for release in releases:
        p = Planned(release, shown.get(release.chart, release.chart))
        p.refusal = _refusal(release, roots)
        if not p.refusal:
            p.key = _key(release, tool, roots)
        out.append(p)
    return out


def _refusal(release: Release, roots: Sequence[str]) -> str:
    if not os.path.isfile(os.path.join(release.chart, "Chart.yaml")):
        return f"'{release.chart}' has no Chart.yaml"
    for path in (release.chart, *release.values):
        if not inside(os.path.realpath(path), roots):
            return f"'{path}' resolves outside the linted tree; egresslint does not read it"
    if scan_folder(release.chart, roots).links_outside:
        return "the chart holds a symlink to a path outside the linted tree"
    return ""


def _key(release: Release, tool: tools.Tool | None, roots: Sequence[str]) -> str:
    digest = hashlib.blake2b(FORMAT, digest_size=20)
    digest.update((tool.identity if tool else "no tool").encode("utf-8", "surrogatepass"))
    head = f"{release.name}\0{release.namespace}\0{release.chart}\0" + "\0".join(release.values)
    digest.update(head.encode("utf-8", "surrogatepass"))
    digest.update(scan_folder(release.chart, roots).digest)
    for values in release.values:
        try:
            with open(values, "rb") as handle:
                digest.update(hashlib.blake2b(handle.read(), digest_size=20).digest())
        except OSError:
            digest.update(b"\1missing")
    return digest.hexdigest()


def render_all(
    planned: Sequence[Planned], tool: tools.Tool, use_cache: bool = True, timeout: float = 120.0
) -> list[Rendered]:
    todo = [p for p in planned if not p.refusal]
    store = cache.ParseCache.open(cachedir.RENDER_STORE) if use_cache else None
    found = store.get_many(p.key for p in todo) if store is not None else {}
    done = {id(p): Rendered(p, found[p.key], cached=True) for p in todo if p.key in found}
    missing = [p for p in todo if id(p) not in done]
    if missing:
        from concurrent.futures import ThreadPoolExecutor  # only when something renders

        workers = max(1, min(runtime.cpu_count(), len(missing)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for r in pool.map(lambda p: render_one(p, tool, timeout), missing):
                done[id(r.planned)] = r
        if store is not None:
            fresh = [r for r in done.values() if not r.cached and r.output is not None]
            store.put_many((r.planned.key, r.output or b"") for r in fresh)
    return [done[id(p)] for p in todo]


def render_one(p: Planned, tool: tools.Tool, timeout: float = 120.0) -> Rendered:
    r = p.release
    args = [*tool.argv, "template", r.name, r.chart, "--namespace", r.namespace]
    for values in r.values:
        args += ["--values", values]
    ran = tools.run(args, timeout=timeout)
    return Rendered(p, ran.output, ran.error)


# ---- placing rendered resources in their templates ------------------------------------------
def adopt(resources: Sequence[Resource], text: str, rendered: Rendered, shown: str) -> None:
    """Point each rendered resource at its template (``# Source:`` comments)."""
    marks = [
        (text.count("\n", 0, m.start()) + 1, m.group(1).strip()) for m in _SOURCE.finditer(text)
    ]
    lines = [line for line, _ in marks]
    for res in resources:
        at = bisect.bisect_right(lines, res.body.span.line) - 1
        if at < 0:
            continue
        template = _template(rendered, marks[at][1], shown)
        if template is not None:
            res.origin = TemplateOrigin(res, template)
            res.file = template


def _template(rendered: Rendered, source: str, shown: str) -> SourceFile | None:
    """The template file a ``# Source: <chart>/templates/x.yaml`` comment names."""
    if source in rendered.templates:
        return rendered.templates[source]
    rel = source.split("/", 1)[1] if "/" in source else source
    real = os.path.join(rendered.planned.release.chart, rel)
    try:
        with open(real, encoding="utf-8", errors="replace") as handle:
            text = handle.read(8 * 1024 * 1024)
    except OSError:
        return None
    found = SourceFile(f"{shown}/{rel}" if shown not in ("", ".") else rel, text)
    rendered.templates[source] = found
    return found


class TemplateOrigin(Origin):
    """A field of a rendered resource, on the template line that names its key."""

    def __init__(self, rendered: Resource, template: SourceFile) -> None:
        self.template = template
        self.source_ref, self.source_name = rendered.ref, rendered.name

    def locate(self, path: Path) -> Span:
        lines = self.template.text.splitlines()
        row = 0
        for key in path:
            if isinstance(key, str):
                row = _find_key(lines, key, row)
        return _line_span(lines, row)

    def place(self, path: Path) -> tuple[SourceFile, Span]:
        return self.template, self.locate(path)


def _find_key(lines: list[str], key: str, start: int) -> int:
    pattern = re.compile(rf"""^\s*(?:-\s+)?["']?{re.escape(key)}["']?\s*:""")
    for i in range(start, len(lines)):
        if pattern.match(lines[i]):
            return i
    return start


def _line_span(lines: list[str], row: int) -> Span:
    text = lines[row] if row < len(lines) else ""
    col = len(text) - len(text.lstrip()) + 1
    return Span(row + 1, col, row + 1, max(col + 1, len(text) + 1))
