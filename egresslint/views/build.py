"""From parsed inputs and renders to views: the stage the rule engine calls.

``plan`` runs before anything is parsed (the run cache's key includes each render's key);
``render`` runs the renders (from the render cache when it can); ``build`` turns the parsed
plain files and the parsed render outputs into views, with the findings the stage itself
makes (a kustomization or release that cannot be rendered, EGL005) and the notes a run
reports (no kustomize engine on the machine, charts not rendered).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from ..model import Finding, Resource, SourceFile, Span
from ..parse.loader import ParsedFile
from ..sources.discover import display_path
from .assemble import Configured, Unit, View, assemble, plain_unit
from .kustomize import Kustomization, boundary, find_folders, repository_root

if TYPE_CHECKING:  # the engines' modules load only when there is something to render
    from . import apps, helm, render, tools
    from .origins import Sources

CHART_FILE = "Chart.yaml"
DEFAULT_TIMEOUT = 120.0  # seconds per render

RENDER_FAILED = "EGL005"


@dataclass
class Settings:
    """What the run asks of this stage (from the engine's options)."""

    render: str = "auto"  # "auto": render what an engine can; "never": plain files only
    remote: bool = False
    kustomize: str | None = None  # the command, else kustomize build / kubectl kustomize
    helm_command: str | None = None  # the helm command, else helm
    releases: tuple[helm.Release, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    configured: tuple[Configured, ...] = ()
    complete: bool = False
    default_ns: str = "default"
    use_cache: bool = True
    base: str = "."  # the folder paths are shown relative to
    paths: tuple[str, ...] = (".",)  # the linted paths

    @property
    def roots(self) -> list[str]:
        """What renders and entry points may read: the git work trees (else the folders) of
        the linted paths."""
        return sorted({boundary(p) for p in self.paths if p != "-"})

    def shown(self, real: str) -> str:
        """``real`` as reports show it: relative to ``base`` (``.`` for ``base`` itself)."""
        if os.path.realpath(self.base) == real:
            return "."
        return display_path(real, self.base)


@dataclass
class Plans:
    """What a run will render: kustomize entry points, Helm releases, and the charts."""

    kustomize: render.Planned | None = None
    releases: list[helm.Planned] = field(default_factory=list)
    helm_tool: tools.Tool | None = None
    charts: list[str] = field(default_factory=list)  # chart folders among the inputs

    def key(self) -> bytes:
        """What the renders add to the run cache's key: each plan's key or why it is refused,
        and which engines render them."""
        parts = []
        k = self.kustomize
        if k is not None:
            parts.append(k.tool.identity if k.tool else "no kustomize")
            parts += [p.key or "; ".join(r.message for r in p.refusals) for p in k.plans]
        parts.append(self.helm_tool.identity if self.helm_tool else "no helm")
        parts += [p.key or p.refusal for p in self.releases]
        parts += self.charts
        return "\0".join(parts).encode("utf-8", "surrogatepass")


@dataclass
class Output:
    """One render's output, to be parsed (``data`` is None when the render failed)."""

    shown: str
    data: bytes | None
    kustomize: render.Rendered | None = None
    helm: helm.Rendered | None = None


@dataclass
class Built:
    views: list[View]
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    renderer: str = ""  # "kubectl kustomize (kustomize v5.5.0)" when something was rendered


# ---- planning and rendering -------------------------------------------------------------------
def plan(files: Sequence[str], settings: Settings) -> Plans:
    """The renders the linted ``files`` (real paths) call for."""
    charts = (os.path.dirname(os.path.realpath(f)) for f in files if f.endswith(CHART_FILE))
    plans = Plans(charts=list(dict.fromkeys(charts)))
    if settings.render == "never":
        return plans
    folders = find_folders(files)
    if folders or settings.releases:
        from . import helm, render, tools
    if folders:
        tool = tools.find_kustomize(settings.kustomize, settings.use_cache)
        shown = [(f, settings.shown(f)) for f in folders]
        plans.kustomize = render.plan(shown, settings.roots, tool, settings.remote)
    if settings.releases:
        plans.helm_tool = tools.find_helm(settings.helm_command, settings.use_cache)
        shown_charts = {r.chart: settings.shown(r.chart) for r in settings.releases}
        plans.releases = helm.plan(settings.releases, settings.roots, plans.helm_tool, shown_charts)
    return plans


def render_all(plans: Plans, settings: Settings) -> list[Output]:
    if plans.kustomize is None and not plans.releases:
        return []
    from . import helm, render

    out: list[Output] = []
    k = plans.kustomize
    if k is not None and k.tool is not None:
        for r in render.render_all(k, settings.use_cache, settings.timeout):
            out.append(Output(f"{r.plan.entry.shown} (rendered)", r.output, kustomize=r))
    if plans.releases and plans.helm_tool is not None:
        done = helm.render_all(
            plans.releases, plans.helm_tool, settings.use_cache, settings.timeout
        )
        for h in done:
            out.append(Output(f"{h.planned.shown} (helm template)", h.output, helm=h))
    return out


# ---- building views ---------------------------------------------------------------------------
def build(
    plain: Sequence[tuple[str, ParsedFile]],
    plans: Plans,
    outputs: Sequence[tuple[Output, ParsedFile | None]],
    settings: Settings,
) -> Built:
    """``plain``: (path, parsed) of every linted input; ``outputs``: each render with its
    parsed output (None when it failed)."""
    entries = _entry_points(plain, settings)
    k = plans.kustomize
    plain = _resolved(plain, bool(k or entries or settings.configured))
    notes = _chart_notes(plans, settings)
    if k is not None and k.tool is None:
        units = [plain_unit(real, p) for real, p in plain]
        views = assemble(units, [], settings.configured, settings.complete, entries)
        return Built(views, notes=[_no_engine(k), *notes])
    included = k.included_files() if k is not None else set()
    units = [plain_unit(real, p) for real, p in plain if real not in included]
    from .origins import Sources

    sources = Sources(
        {real: p for real, p in plain}, partial(_shown, settings), settings.default_ns
    )
    renders = [_unit(o, p, plans, sources) for o, p in outputs if p is not None]
    views = assemble(units, renders, settings.configured, settings.complete, entries)
    built = Built(views, notes=notes)
    broken = {real for real, p in plain if any(f.rule_id == "EGL001" for f in p.findings)}
    built.findings = _failures(plans, outputs, broken)
    if k is not None and k.tool is not None and any(o.kustomize for o, _ in outputs):
        built.renderer = k.tool.label
    return built


def _resolved(plain: Sequence[tuple[str, ParsedFile]], real: bool) -> list[tuple[str, ParsedFile]]:
    """Paths as views compare them: real paths (symlinks resolved, as kustomize and entry
    points name them) when something is matched by folder, else absolute (no system call)."""
    resolve = os.path.realpath if real else os.path.abspath
    return [(path if path == "-" else resolve(path), parsed) for path, parsed in plain]


def _shown(settings: Settings, real: str) -> str:
    return settings.shown(real)


def _entry_points(plain: Sequence[tuple[str, ParsedFile]], settings: Settings) -> list[apps.App]:
    kinds = ("Application", "Kustomization")
    candidates = [
        (res, repository_root(os.path.realpath(path), settings.paths))
        for path, parsed in plain
        for res in parsed.resources
        if res.kind in kinds
    ]
    if not candidates:
        return []
    from . import apps

    return apps.find(candidates, settings.roots)


def _unit(output: Output, parsed: ParsedFile, plans: Plans, sources: Sources) -> Unit:
    if output.kustomize is not None:
        return _kustomize_unit(output.kustomize, parsed, plans, sources)
    assert output.helm is not None
    return _helm_unit(output.helm, parsed)


def _kustomize_unit(r: render.Rendered, parsed: ParsedFile, plans: Plans, sources: Sources) -> Unit:
    from .origins import adopt

    entry = r.plan.entry
    known = plans.kustomize.kustomizations if plans.kustomize is not None else {}
    resources = adopt(parsed.resources, r.wrapper, entry, known, sources)
    files = {id(x.file): x.file for x in resources}
    files.update({id(k.source): k.source for k in r.plan.closure})
    unit = Unit(entry.folder, entry.shown, resources, [], list(files.values()), rendered=True)
    unit.kind = "kustomize"
    return unit


def _helm_unit(h: helm.Rendered, parsed: ParsedFile) -> Unit:
    from . import helm

    release = h.planned.release
    helm.adopt(parsed.resources, parsed.source.text, h, h.planned.shown)
    resources = [_in_namespace(res, release.namespace) for res in parsed.resources]
    files = list({id(x.file): x.file for x in resources}.values())
    name = f"release {release.name}"
    unit = Unit(release.chart, name, resources, [], files, rendered=True, kind="helm")
    unit.joins = release.view
    return unit


def _in_namespace(res: Resource, namespace: str) -> Resource:
    """A release's resource as 'helm install --namespace' applies it."""
    if res.cluster_scoped or isinstance(res.metadata.get("namespace"), str):
        return res
    return dataclasses.replace(res, namespace=namespace, _labels=None)


def _chart_notes(plans: Plans, settings: Settings) -> list[str]:
    configured = {r.chart for r in settings.releases}
    helm_missing = bool(settings.releases) and plans.helm_tool is None
    notes = []
    for chart in plans.charts:
        shown = settings.shown(chart)
        if chart in configured and not helm_missing and settings.render != "never":
            continue
        why = "helm is not on PATH" if chart in configured else "no release is configured"
        notes.append(
            f"Helm chart {shown} is not rendered ({why}), so its templates are not linted: "
            f"name a release under helm.releases in the configuration, or lint a render with "
            f"'helm template RELEASE {shown} -f VALUES | egresslint check -'."
        )
    return notes


def _no_engine(planned: render.Planned) -> str:
    count = len(planned.kustomizations)
    return (
        f"{count} kustomization(s) found, but neither kustomize nor kubectl is on PATH: "
        "their files were linted as plain manifests, without the overlays' changes. Install "
        "kustomize (or kubectl), name the command with the 'kustomize' setting, or pass "
        "--render never to lint plain files on purpose."
    )


# ---- findings of the stage ---------------------------------------------------------------------
def _failures(
    plans: Plans, outputs: Sequence[tuple[Output, ParsedFile | None]], broken: set[str]
) -> list[Finding]:
    out: list[Finding] = []
    if plans.kustomize is not None:
        refusals = [f for p in plans.kustomize.plans for f in p.refusals]
        # a kustomization file that does not parse has its EGL001 already
        out += [_refusal(f) for f in refusals if f.ref or f.where.source_real not in broken]
    out += [_helm_refusal(p) for p in plans.releases if p.refusal]
    for o, _ in outputs:
        if o.kustomize is not None and o.data is None and not (o.kustomize.plan.files & broken):
            out.append(_failed(o.kustomize))
        elif o.helm is not None and o.data is None:
            out.append(_helm_failed(o.helm))
    return out


def _finding(source: SourceFile, span: Span, message: str, level: str) -> Finding:
    finding = Finding(RENDER_FAILED, message, source, span)
    finding.level = level
    return finding


def _refusal(refusal: render.Refusal) -> Finding:
    k = refusal.where
    span = k.span(refusal.ref.path) if refusal.ref is not None else _first_line(k.source)
    return _finding(k.source, span, f"{_name(k)}: {refusal.message}", refusal.level)


def _failed(r: render.Rendered) -> Finding:
    k = r.plan.entry
    message = f"{_name(k)} does not render, so it is not linted: {r.error}"
    return _finding(k.source, _first_line(k.source), message, "error")


def _chart_file(p: helm.Planned) -> SourceFile:
    source = SourceFile(f"{p.shown}/Chart.yaml" if p.shown not in ("", ".") else "Chart.yaml")
    try:
        with open(os.path.join(p.release.chart, "Chart.yaml"), encoding="utf-8") as handle:
            source.text = handle.read(1 << 20)
    except (OSError, UnicodeDecodeError):
        pass
    return source


def _helm_refusal(p: helm.Planned) -> Finding:
    source = _chart_file(p)
    message = f"Helm release {p.release.name} of chart {p.shown} is not rendered: {p.refusal}."
    return _finding(source, _first_line(source), message, "warning")


def _helm_failed(h: helm.Rendered) -> Finding:
    p = h.planned
    source = _chart_file(p)
    message = (
        f"Helm release {p.release.name} of chart {p.shown} does not render, so it is not "
        f"linted: {h.error}"
    )
    return _finding(source, _first_line(source), message, "error")


def _name(k: Kustomization) -> str:
    return f"Kustomization {k.shown}"


def _first_line(source: SourceFile) -> Span:
    width = max(1, len(source.line_text(1)))
    return Span(1, 1, 1, width + 1)
