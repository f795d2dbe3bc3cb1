"""One lint run: read the inputs, build the graph, run the enabled rules, rank the findings."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import runtime
from ..mesh import modes
from ..mesh.graph import MeshGraph, Scope
from ..model import Finding, Resource
from ..parse import loader, parallel
from ..sources.discover import STDIN, Input, Skipped, discover
from ..views.assemble import Configured, View
from ..views.build import Built, Output, Plans, Settings, build, plan, render_all
from . import resultcache, rulesplit, suppress
from .registry import all_rules
from .rule import LEVEL_RANK, Context, Rule

if TYPE_CHECKING:
    from ..views import helm

DEFAULT_ISTIO_VERSION = "1.30"
# The first Istio release with ambient mode (alpha): istio/istio 1.18.0 is the first tag with
# ztunnel's chart (manifests/charts/ztunnel), cni/pkg/ambient and the ambient index of istiod
# (pilot/pkg/serviceregistry/kube/controller/ambientindex.go); 1.17.0 has none of them.
FIRST_AMBIENT_VERSION = (1, 18, 0)


def parse_version(text: str) -> tuple[int, int, int]:
    """``1.24.3`` -> (1, 24, 3); raises ValueError with a readable message, also for releases
    before ambient mode existed (``FIRST_AMBIENT_VERSION``)."""
    parts = text.strip().lstrip("v").split(".")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"'{text}' is not an Istio version like 1.24 or 1.24.3")
    nums = [int(p) for p in parts] + [0] * (3 - len(parts))
    version = (nums[0], nums[1], nums[2])
    if version < FIRST_AMBIENT_VERSION:
        first = ".".join(map(str, FIRST_AMBIENT_VERSION[:2]))
        raise ValueError(
            f"Istio {text.strip()} predates ambient mode (first in Istio {first}); "
            f"give the target version as {first} or later, like 1.24 or 1.24.3"
        )
    return version


@dataclass
class Options:
    paths: list[str] = field(default_factory=lambda: ["."])
    excludes: list[str] = field(default_factory=list)
    default_namespace: str = "default"
    mode: str | None = None
    istio_version: str = DEFAULT_ISTIO_VERSION
    select: list[str] = field(default_factory=list)  # ids, names or tags; empty = all
    ignore: list[str] = field(default_factory=list)
    levels: dict[str, str] = field(default_factory=dict)  # rule id -> level
    base_dir: str | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule id -> configured params
    inline_suppressions: bool = True
    cache: bool = True  # the parse cache in the user cache folder (--no-cache)
    reuse_results: bool = False  # also the run cache (resultcache.py): check sets it
    render: str = "auto"  # "auto" or "never" (--render)
    render_remote: bool = False  # fetch remote kustomize bases (--render-remote)
    kustomize: str | None = None  # the kustomize command; default: kustomize, else kubectl
    render_timeout: float = 120.0  # seconds per render
    views: dict[str, list[str]] = field(default_factory=dict)  # name -> folders
    complete_views: list[str] = field(default_factory=list)
    complete: bool = False  # every view holds all it references
    external_gateways: list[str] = field(default_factory=list)  # namespace/name
    helm: str | None = None  # the helm command; default: helm
    helm_releases: list[dict[str, Any]] = field(default_factory=list)  # chart, name, ...
    default_excludes: bool = True  # node_modules/, vendor/ and .gitignore (in a git work tree)


@dataclass
class ViewSummary:
    """A view a run built: its name, what made it, and its size."""

    name: str
    kind: str
    files: int
    resources: int


@dataclass
class RunResult:
    findings: list[Finding]
    rules: list[Rule]
    files: int = 0
    documents: int = 0
    resources: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)
    graph: MeshGraph | None = None  # the first view's graph
    cache: resultcache.RunCache | None = None  # the run cache entry for its report
    views: list[ViewSummary] = field(default_factory=list)
    graphs: dict[str, MeshGraph] = field(default_factory=dict)  # by view name
    renderer: str = ""  # the kustomize engine that rendered views, with its version
    stdin: tuple[int, int] | None = None  # (documents, resources) read from stdin, if read

    def counts(self) -> dict[str, int]:
        out = {lvl: 0 for lvl in ("error", "warning", "note")}
        for f in self.findings:
            if f.suppressed is None:
                out[f.level] += 1
        return out


def _matches(rule: Rule, keys: Iterable[str]) -> bool:
    return any(k.upper() == rule.id or k in (rule.name, rule.tag) for k in keys)


def enabled_rules(options: Options) -> list[Rule]:
    rules = all_rules()
    chosen = [r for r in rules if not options.select or _matches(r, options.select)]
    return [r for r in chosen if not _matches(r, options.ignore)]


def view_settings(options: Options) -> Settings:
    base = options.base_dir or os.getcwd()
    configured = tuple(
        Configured(
            name,
            tuple(os.path.realpath(os.path.join(base, f)) for f in folders),
            name in options.complete_views,
        )
        for name, folders in options.views.items()
    )
    return Settings(
        render=options.render,
        remote=options.render_remote,
        kustomize=options.kustomize,
        helm_command=options.helm,
        releases=tuple(_release(r, base, options.default_namespace) for r in options.helm_releases),
        timeout=options.render_timeout,
        configured=configured,
        complete=options.complete,
        default_ns=options.default_namespace,
        use_cache=options.cache,
        base=base,
        paths=tuple(options.paths),
    )


def _release(entry: Mapping[str, Any], base: str, namespace: str) -> helm.Release:
    from ..views import helm

    chart = os.path.realpath(os.path.join(base, str(entry["chart"])))
    values = tuple(os.path.realpath(os.path.join(base, str(v))) for v in entry.get("values", []))
    name = str(entry.get("name") or os.path.basename(chart))
    view = entry.get("view")
    return helm.Release(chart, name, str(entry.get("namespace") or namespace), values, view)


def load(
    options: Options,
    progress: Callable[[int, int], None] | None = None,
    found: tuple[list[Input | Skipped], list[parallel._Job] | None] | None = None,
    extra: Sequence[parallel._Job] = (),
) -> tuple[list[loader.ParsedFile], list[Skipped]]:
    """Read every input; ``progress(done, total)`` is called after each file when given.
    ``found``: the inputs already discovered (and read), as ``run`` does for the run cache;
    ``extra``: more streams to parse (rendered outputs), returned after the inputs."""
    base = options.base_dir or os.getcwd()
    items, read = found or (_discover(options, base), None)
    skipped = [item for item in items if isinstance(item, Skipped)]
    inputs = [item for item in items if isinstance(item, Input)]
    if extra:
        read = [*(read if read is not None else parallel.read_all(inputs)), *extra]
        for i, job in enumerate(read):
            job.index = i
    # cache and parallel parse live in parse/parallel.py
    parsed = parallel.parse_inputs(
        [*inputs, *(j.item for j in extra)],
        options.default_namespace,
        options.cache,
        progress=progress,
        read=read,
    )
    return parsed, skipped


def _discover(options: Options, base: str) -> list[Input | Skipped]:
    found = discover(
        options.paths, options.excludes, base, default_excludes=options.default_excludes
    )
    return list(found)


@dataclass
class Prepared:
    """What a run found before parsing: the inputs (read, when the run cache needs their
    bytes), the kustomizations to render, and the run cache entry (None when off, or for
    standard input)."""

    items: list[Input | Skipped]
    read: list[parallel._Job] | None = None
    cache: resultcache.RunCache | None = None
    plans: Plans = field(default_factory=Plans)


def prepare(options: Options) -> Prepared:
    """Discover the inputs and the renders they call for and, for ``check`` with the cache
    on, read and hash them for the run cache's key (the same bytes are parsed afterwards)."""
    base = options.base_dir or os.getcwd()
    items = _discover(options, base)
    inputs = [item for item in items if isinstance(item, Input)]
    files = [i.real for i in inputs if i.real != STDIN]
    plans = plan(files, view_settings(options))
    if not (options.cache and options.reuse_results) or any(i.real == STDIN for i in inputs):
        return Prepared(items, plans=plans)
    read = parallel.read_all(inputs)
    rule_ids = [r.id for r in enabled_rules(options)]
    settings = dataclasses.asdict(options)
    entry = resultcache.RunCache(
        settings,
        rule_ids,
        options.default_namespace,
        (items, read),
        base,
        extra=plans.key(),
    )
    return Prepared(items, read, entry, plans)


def run_rules(
    rules: Sequence[Rule], ctx: Context, params: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[list[Finding], list[str]]:
    findings: list[Finding] = []
    errors: list[str] = []
    for rule in rules:
        if rule.check is None:
            continue
        ctx.params = {**rule.params, **(params or {}).get(rule.id, {})}
        try:
            findings.extend(rule.check(ctx))
        except Exception as exc:  # a bug in a rule must not hide the other rules' results
            errors.append(f"rule {rule.id} ({rule.name}) failed: {type(exc).__name__}: {exc}")
    return findings, errors


def run(
    options: Options,
    progress: Callable[[int, int], None] | None = None,
    prepared: Prepared | None = None,
) -> RunResult:
    rules = enabled_rules(options)
    prepared = prepared or prepare(options)
    settings = view_settings(options)
    outputs = render_all(prepared.plans, settings)
    jobs = [
        parallel._Job(0, Input("<render>", o.shown), o.data) for o in outputs if o.data is not None
    ]
    parsed, skipped = load(options, progress, (prepared.items, prepared.read), jobs)
    plain, rendered = parsed[: len(parsed) - len(jobs)], parsed[len(parsed) - len(jobs) :]
    inputs = [item for item in prepared.items if isinstance(item, Input)]
    built = build(
        [(i.real, p) for i, p in zip(inputs, plain, strict=True)],
        prepared.plans,
        _with_outputs(outputs, rendered),
        settings,
    )
    with runtime.gc_paused():  # graph and findings are acyclic and live until exit, like the parse
        result = _lint_views(built, rules, options, plain)
    result.skipped = skipped
    result.files, result.documents = len(plain), sum(p.documents for p in plain)
    result.stdin = _stdin_counts(inputs, plain)
    not_manifests = sum(1 for p in plain if p.not_manifest)
    if not_manifests:
        result.notifications.append(
            f"{not_manifests} YAML file(s) are not Kubernetes manifests (only application-"
            "specific tags such as !reference, and no apiVersion/kind): not linted."
        )
    result.cache = prepared.cache
    return result


def _stdin_counts(
    inputs: Sequence[Input], plain: Sequence[loader.ParsedFile]
) -> tuple[int, int] | None:
    """(documents, resources) read from standard input, or None when it was not read."""
    for item, parsed in zip(inputs, plain, strict=True):
        if item.real == STDIN:
            return parsed.documents, len(parsed.resources)
    return None


def _with_outputs(
    outputs: Sequence[Output], parsed: Sequence[loader.ParsedFile]
) -> list[tuple[Output, loader.ParsedFile | None]]:
    it = iter(parsed)
    return [(o, next(it) if o.data is not None else None) for o in outputs]


def _lint_views(
    built: Built, rules: list[Rule], options: Options, plain: list[loader.ParsedFile]
) -> RunResult:
    by_id = {r.id: r for r in rules}
    version = parse_version(options.istio_version)
    findings = _levelled([f for p in plain for f in p.findings] + built.findings, by_id, options)
    result = RunResult([], rules, notifications=list(built.notes), renderer=built.renderer)
    several = len(built.views) > 1
    for view in built.views:
        found, graph = _lint_view(view, rules, by_id, options, version, result)
        if several:
            for f in found:
                f.views = (view.name,)
        findings += found
        result.graphs[view.name] = graph
        result.views.append(ViewSummary(view.name, view.kind, view.files, len(view.resources)))
        result.resources += len(view.resources)
    result.graph = next(iter(result.graphs.values()), None) or MeshGraph([], options.mode)
    result.findings = _merge(_dedupe(sorted(findings, key=Finding.sort_key)))
    return result


def _lint_view(
    view: View,
    rules: list[Rule],
    by_id: dict[str, Rule],
    options: Options,
    version: tuple[int, int, int],
    result: RunResult,
) -> tuple[list[Finding], MeshGraph]:
    resources = view.resources
    scope = Scope(view.complete, frozenset(options.external_gateways))
    graph = MeshGraph(resources, options.mode, view.values, scope)
    ctx = Context(graph, version)
    found, errors = rulesplit.run_split(rules, ctx, options.params, run_rules)
    result.internal_errors += [e for e in errors if e not in result.internal_errors]
    found = _levelled(found, by_id, options)
    if options.inline_suppressions:
        found += suppress.apply(found, resources, view.sources, by_id, options.levels)
    for note in _notes(graph, resources):
        if note not in result.notifications:
            result.notifications.append(note)
    return found, graph


def _levelled(findings: list[Finding], by_id: dict[str, Rule], options: Options) -> list[Finding]:
    """The findings of enabled rules, each at its level: configuration wins; else a rule may
    lower one finding's level (say, to note when unsure)."""
    kept = [f for f in findings if f.rule_id in by_id]
    for f in kept:
        f.level = options.levels.get(f.rule_id) or f.level or by_id[f.rule_id].level
    return kept


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, int, int, str, tuple[str, ...]]] = set()
    out = []
    for f in findings:
        key = (f.rule_id, f.file.path, f.span.line, f.span.col, f.message, f.views)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _merge(findings: list[Finding]) -> list[Finding]:
    """One finding per defect across views: the same rule at the same field of the same
    source line, found in several views, is reported once with every view it holds in (the
    message of the first)."""
    first: dict[tuple[Any, ...], Finding] = {}
    out = []
    for f in findings:
        if not f.views:
            out.append(f)
            continue
        key = (f.rule_id, f.file.path, f.span, f.path if f.resource else f.message)
        kept = first.get(key)
        if kept is None:
            first[key] = f
            out.append(f)
        elif f.views[0] not in kept.views:
            kept.views = (*kept.views, *f.views)
    return out


def _notes(graph: MeshGraph, resources: list[Resource]) -> list[str]:
    notes = []
    if modes.mode_unknown(graph):
        notes.append(
            "No waypoint or egress Gateway found for the ServiceEntries bound to one, and no "
            "--mode given: rules that depend on the egress mode were skipped for them."
        )
    return notes


def worst_level(findings: Iterable[Finding]) -> int:
    """The highest level rank among unsuppressed findings (0 when there are none)."""
    return max((LEVEL_RANK[f.level] for f in findings if f.suppressed is None), default=0)


def exit_for(worst: int, fail_on: str) -> int:
    """0 or 1 for a run whose worst unsuppressed finding has rank ``worst``."""
    if fail_on == "never":
        return 0
    return int(worst >= LEVEL_RANK[fail_on])


def exit_code(result: RunResult, fail_on: str) -> int:
    if result.internal_errors:
        return 2
    return exit_for(worst_level(result.findings), fail_on)
