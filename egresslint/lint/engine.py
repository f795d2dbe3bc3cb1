"""One lint run: read the inputs, build the graph, run the enabled rules, rank the findings."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import runtime
from ..mesh import modes
from ..mesh.graph import MeshGraph
from ..model import Finding, Resource
from ..parse import loader, parallel
from ..sources.discover import STDIN, Input, Skipped, discover
from . import resultcache, rulesplit, suppress
from .registry import all_rules
from .rule import LEVEL_RANK, Context, Rule

DEFAULT_ISTIO_VERSION = "1.30"


def parse_version(text: str) -> tuple[int, int, int]:
    """``1.24.3`` -> (1, 24, 3); raises ValueError with a readable message."""
    parts = text.strip().lstrip("v").split(".")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"'{text}' is not an Istio version like 1.24 or 1.24.3")
    nums = [int(p) for p in parts] + [0] * (3 - len(parts))
    return nums[0], nums[1], nums[2]


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
    graph: MeshGraph | None = None
    cache: resultcache.RunCache | None = None  # the run cache entry for its report

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


def load(
    options: Options,
    progress: Callable[[int, int], None] | None = None,
    found: tuple[list[Input | Skipped], list[parallel._Job] | None] | None = None,
) -> tuple[list[loader.ParsedFile], list[Skipped]]:
    """Read every input; ``progress(done, total)`` is called after each file when given.
    ``found``: the inputs already discovered (and read), as ``run`` does for the run cache."""
    base = options.base_dir or os.getcwd()
    items, read = found or (list(discover(options.paths, options.excludes, base)), None)
    skipped = [item for item in items if isinstance(item, Skipped)]
    inputs = [item for item in items if isinstance(item, Input)]
    # cache and parallel parse live in parse/parallel.py
    parsed = parallel.parse_inputs(
        inputs, options.default_namespace, options.cache, progress=progress, read=read
    )
    return parsed, skipped


@dataclass
class Prepared:
    """What a run found before parsing: the inputs (read, when the run cache needs their
    bytes) and the run cache entry (None when off, or for standard input)."""

    items: list[Input | Skipped]
    read: list[parallel._Job] | None = None
    cache: resultcache.RunCache | None = None


def prepare(options: Options) -> Prepared:
    """Discover the inputs and, for ``check`` with the cache on, read and hash them for the
    run cache's key (the same bytes are parsed afterwards)."""
    base = options.base_dir or os.getcwd()
    items = list(discover(options.paths, options.excludes, base))
    inputs = [item for item in items if isinstance(item, Input)]
    if not (options.cache and options.reuse_results) or any(i.real == STDIN for i in inputs):
        return Prepared(items)
    read = parallel.read_all(inputs)
    rule_ids = [r.id for r in enabled_rules(options)]
    settings = dataclasses.asdict(options)
    entry = resultcache.RunCache(settings, rule_ids, options.default_namespace, (items, read), base)
    return Prepared(items, read, entry)


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
    items, read = prepared.items, prepared.read
    parsed, skipped = load(options, progress, (items, read))
    resources: list[Resource] = [r for p in parsed for r in p.resources]
    with runtime.gc_paused():  # graph and findings are acyclic and live until exit, like the parse
        graph = MeshGraph(resources, options.mode, [v for p in parsed for v in p.values])
        ctx = Context(graph, parse_version(options.istio_version))
        findings = [f for p in parsed for f in p.findings]
        found, errors = rulesplit.run_split(rules, ctx, options.params, run_rules)
    findings += found
    by_id = {r.id: r for r in rules}
    findings = [f for f in findings if f.rule_id in by_id]
    for f in findings:
        # configuration wins; else a rule may lower one finding's level (say, to note when unsure)
        f.level = options.levels.get(f.rule_id) or f.level or by_id[f.rule_id].level
    if options.inline_suppressions:
        sources = [p.source for p in parsed]
        findings += suppress.apply(findings, resources, sources, by_id, options.levels)
    findings = _dedupe(sorted(findings, key=Finding.sort_key))
    result = RunResult(
        findings, rules, len(parsed), sum(p.documents for p in parsed), len(resources)
    )
    result.skipped, result.internal_errors, result.graph = skipped, errors, graph
    result.notifications = _notes(graph, resources)
    result.cache = prepared.cache
    return result


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, int, int, str]] = set()
    out = []
    for f in findings:
        key = (f.rule_id, f.file.path, f.span.line, f.span.col, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
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
