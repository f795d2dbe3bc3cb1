"""SARIF 2.1.0 for GitHub code scanning, built with sarif-om.

sarif-om has typed classes but no serializer; :func:`to_json_obj` maps its attrs fields to
the schema's property names, drops values left at their defaults (sarif-om uses sentinels
such as ``-1`` for "unset") and keeps ``level`` explicit even when it is ``warning``.

What code scanning reads: artifact URIs relative to the repository root (``sarifpaths``);
fingerprints that do not depend on the checkout's place or the working folder; related
locations linked from the message text (``[text](id)``, SARIF 2.1.0 section 3.11.6), since
GitHub shows only linked ones. Suppressed findings are left out unless ``keep_suppressed``:
code scanning does not honour ``suppressions`` (github/codeql-action#1230), so a suppressed
result would be an open alert; the run's ``properties.suppressedResultsOmitted`` counts
them. When they are kept, every result carries ``suppressions`` (empty when not
suppressed), as section 3.27.23 asks.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import attr
import sarif_om as om

from .. import __version__
from ..lint.engine import RunResult
from ..lint.rule import Rule
from ..model import Finding, Related, Span
from . import forked, sarifpaths
from .sarifpaths import SRCROOT, Where

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/egresslint/egresslint"
MAX_RESULTS = 25_000
FINGERPRINT_KEY = "egresslint/v1"
SUPPRESSED_COUNT = "suppressedResultsOmitted"  # run property: suppressed findings left out
_ALWAYS_KEEP = frozenset({"level"})


def _default(field: Any) -> Any:
    default = field.default
    factory = getattr(default, "factory", None)
    return factory() if callable(factory) else default


_PLANS: dict[type, tuple[tuple[str, str, Any, bool], ...]] = {}


def _plan(cls: type) -> tuple[tuple[str, str, Any, bool], ...]:
    """(attribute, schema name, default, always keep) per field, computed once per class."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = tuple(
            (
                f.name,
                (name := f.metadata.get("schema_property_name", f.name)),
                _default(f),
                name in _ALWAYS_KEEP,
            )
            for f in attr.fields(cls)
        )
        _PLANS[cls] = plan
    return plan


_LEAVES = frozenset({str, int, float, bool})
_CONVERTERS: dict[type, Any] = {}


def _converter(cls: type) -> Any:
    """A function turning one instance of the sarif-om class into a dict, generated once per
    class as straight-line code from its field plan (the same output as walking the plan, but
    the loop, tuple unpacking and a call per string or number were most of the rendering)."""
    lines = ["def convert(value):", "    out = {}"]
    for i, (attr_name, name, _, keep) in enumerate(_plan(cls)):
        lines.append(f"    item = value.{attr_name}")
        skip = "item is None" if keep else f"item is None or item == defaults[{i}]"
        lines.append(f"    if not ({skip}):")
        lines.append(f"        out[{name!r}] = item if type(item) in leaves else to_json_obj(item)")
    lines.append("    return out")
    scope: dict[str, Any] = {
        "defaults": tuple(d for _, _, d, _ in _plan(cls)),
        "leaves": _LEAVES,
        "to_json_obj": to_json_obj,
    }
    exec("\n".join(lines), scope)  # noqa: S102 - code built from attrs field names only
    convert = scope["convert"]
    _CONVERTERS[cls] = convert
    return convert


class _Plain(list):  # type: ignore[type-arg]
    """Items already built as plain JSON data (``_maker``): ``to_json_obj`` keeps them as is."""


_MAKERS: dict[type, Callable[..., dict[str, Any]]] = {}


def _maker(cls: type) -> Callable[..., dict[str, Any]]:
    """A function taking the same keywords as the sarif-om class and returning the dict that
    ``to_json_obj`` would make of that instance (same field plan, order and omitted defaults),
    for values that are already plain JSON data; generated once per class. The results are
    most of a large report: building them straight as dicts skips the attrs objects."""
    maker = _MAKERS.get(cls)
    if maker is not None:
        return maker
    plan = _plan(cls)
    params = ", ".join(
        f"{a}=defaults[{i}]" if k else f"{a}=None" for i, (a, _, _, k) in enumerate(plan)
    )
    lines = [f"def make(*, {params}):", "    out = {}"]
    for i, (attr_name, name, _, keep) in enumerate(plan):
        skip = (
            f"{attr_name} is None"
            if keep
            else f"{attr_name} is None or {attr_name} == defaults[{i}]"
        )
        lines.append(f"    if not ({skip}):")
        lines.append(f"        out[{name!r}] = {attr_name}")
    lines.append("    return out")
    scope: dict[str, Any] = {"defaults": tuple(d for _, _, d, _ in plan)}
    exec("\n".join(lines), scope)  # noqa: S102 - code built from attrs field names only
    made: Callable[..., dict[str, Any]] = scope["make"]
    _MAKERS[cls] = made
    return made


def to_json_obj(value: Any) -> Any:
    """A sarif-om object tree as plain JSON data with schema property names."""
    cls = type(value)
    if cls in _LEAVES or cls is _Plain:
        return value
    convert = _CONVERTERS.get(cls)
    if convert is not None or attr.has(cls):
        return (convert or _converter(cls))(value)
    if isinstance(value, Mapping):
        return {str(k): to_json_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_obj(v) for v in value]
    return value


def _message(text: str) -> om.Message:
    return om.Message(text=text)


def _first_sentence(text: str) -> str:
    head = text.strip().split("\n\n", 1)[0].replace("\n", " ")
    return head if len(head) <= 1000 else head[:997] + "..."


def _strip_markdown(text: str) -> str:
    return text.replace("`", "").replace("**", "")


def descriptor(rule: Rule) -> om.ReportingDescriptor:
    tags = [rule.tag] + (["security"] if rule.security else [])
    props: dict[str, Any] = {"tags": tags, "precision": rule.precision}
    if rule.security_severity:
        props["security-severity"] = rule.security_severity
    else:
        props["problem.severity"] = "recommendation" if rule.level == "note" else rule.level
    if rule.istio_analyzer:  # the istioctl analyze messages the rule covers (IST codes)
        props["istioctl-analyze"] = list(rule.istio_analyzer)
    return om.ReportingDescriptor(
        id=rule.id,
        name=rule.name,
        short_description=_message(rule.summary),
        full_description=_message(_first_sentence(_strip_markdown(rule.help))),
        help=om.MultiformatMessageString(text=_strip_markdown(rule.help), markdown=rule.help),
        help_uri=f"{INFO_URI}/blob/main/docs/rules.md#{rule.id.lower()}",
        default_configuration=om.ReportingConfiguration(level=rule.level),
        properties=props,
    )


def _region(span: Span) -> dict[str, Any]:
    return _maker(om.Region)(
        start_line=span.line,
        start_column=span.col,
        end_line=span.end_line,
        end_column=max(span.end_col, span.col + 1) if span.end_line == span.line else span.end_col,
    )


def here() -> Where:
    """URIs for a run over the working folder (``sarifpaths.find``)."""
    return sarifpaths.find([], os.getcwd())


@dataclass
class Shape:
    """What a log holds besides the run: where its URIs point, whether suppressed findings
    are kept, whether related locations are (left out to fit the size limit)."""

    where: Where = field(default_factory=here)
    keep_suppressed: bool = False
    related: bool = True

    def findings(self, run: RunResult) -> list[Finding]:
        """The findings that become results (at most ``MAX_RESULTS``)."""
        return self.chosen(run)[:MAX_RESULTS]

    def chosen(self, run: RunResult) -> list[Finding]:
        if self.keep_suppressed:
            return run.findings
        return [f for f in run.findings if f.suppressed is None]


def _physical(where: Where, path: str, span: Span) -> dict[str, Any]:
    artifact = where.artifact(path)
    return _maker(om.PhysicalLocation)(
        artifact_location=_maker(om.ArtifactLocation)(
            uri=artifact.uri, uri_base_id=artifact.base_id
        ),
        region=_region(span),
    )


def _text(text: str) -> dict[str, Any]:
    return _maker(om.Message)(text=text)


def _related(where: Where, index: int, rel: Related) -> dict[str, Any]:
    file, span = rel.place()
    return _maker(om.Location)(
        id=index,
        physical_location=_physical(where, file.path, span),
        message=_text(f"{rel.resource.ref}: {rel.message}"),
    )


def _link_text(text: str) -> str:
    """Link text of a plain-text embedded link: backslashes and square brackets escaped
    (SARIF 2.1.0 section 3.11.6)."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def linked(message: str, related: Sequence[Related]) -> str:
    """The message with a link to each related location (``[ref](id)``, ids from 1): GitHub
    shows related locations only when the message links them."""
    if not related:
        return message
    links = "; ".join(
        f"[{_link_text(r.resource.ref)}]({i}) ({r.message})" for i, r in enumerate(related, 1)
    )
    return f"{message} Related: {links}."


def fingerprint(finding: Finding, where: Where | None = None) -> str:
    """From the finding's identity (rule, file relative to the root, resource, field path):
    the same after lines move, wherever the repository is checked out, from any folder."""
    ident = (where or here()).identity(finding)
    return hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def result(finding: Finding, rule_index: int, shape: Shape | None = None) -> dict[str, Any]:
    """One SARIF result as plain JSON data (the dict ``to_json_obj`` makes of ``om.Result``)."""
    shape = shape or Shape()
    where = shape.where
    related = None
    shown = shape.related and finding.related
    if shown:
        related = [_related(where, i, r) for i, r in enumerate(finding.related, 1)]
    suppressions = None
    if finding.suppressed is not None:
        suppressions = [_maker(om.Suppression)(kind="inSource", justification=finding.suppressed)]
    elif shape.keep_suppressed:
        suppressions = []  # all results have the property, or none (section 3.27.23)
    return _maker(om.Result)(
        rule_id=finding.rule_id,
        rule_index=rule_index,
        level=finding.level,
        message=_text(linked(finding.message, finding.related) if shown else finding.message),
        locations=[
            _maker(om.Location)(physical_location=_physical(where, finding.file.path, finding.span))
        ],
        partial_fingerprints={FINGERPRINT_KEY: fingerprint(finding, where)},
        related_locations=related,
        suppressions=suppressions,
        properties={"views": list(finding.views)} if finding.views else None,
    )


def build(
    run: RunResult,
    category: str | None = None,
    results: list[Any] | None = None,
    shape: Shape | None = None,
) -> dict[str, Any]:
    """The log as JSON data; ``results``: put these in place of the findings' results."""
    shape = shape or Shape()
    index = _rule_index(run)
    chosen = shape.chosen(run)
    findings = chosen[:MAX_RESULTS]
    notes = list(run.notifications)
    if len(chosen) > MAX_RESULTS:
        notes.append(
            f"{len(chosen)} results; only the first {MAX_RESULTS} are included "
            "(GitHub code scanning's limit per run)."
        )
    sarif_run = om.Run(
        tool=om.Tool(
            driver=om.ToolComponent(
                name="egresslint",
                version=__version__,
                semantic_version=__version__,
                information_uri=INFO_URI,
                rules=[descriptor(r) for r in run.rules],
            )
        ),
        original_uri_base_ids=_base_ids(shape.where),
        results=_Plain(
            results
            if results is not None
            else (result(f, index[f.rule_id], shape) for f in findings)
        ),
        invocations=[_invocation(run, notes, _unmapped(shape.where, findings))],
    )
    if not shape.keep_suppressed:
        sarif_run.properties = {SUPPRESSED_COUNT: len(run.findings) - len(chosen)}
    if category:
        sarif_run.automation_details = om.RunAutomationDetails(
            id=category if "/" in category else category + "/"
        )
    log = om.SarifLog(version="2.1.0", schema_uri=SCHEMA_URI, runs=[sarif_run])
    out: dict[str, Any] = to_json_obj(log)
    out["runs"][0].setdefault("results", [])
    # schema and version first, as readers expect when they open the file
    return {"$schema": out.pop("$schema"), "version": out.pop("version"), **out}


def _base_ids(where: Where) -> dict[str, om.ArtifactLocation] | None:
    """``%SRCROOT%`` with its absolute ``file://`` URI (none when every URI is absolute)."""
    if where.root_uri is None:
        return None
    description = _message(sarifpaths.DESCRIPTIONS[where.found])
    return {SRCROOT: om.ArtifactLocation(uri=where.root_uri, description=description)}


def _unmapped(where: Where, findings: Iterable[Finding]) -> list[str]:
    """Warnings for results that code scanning cannot map to a repository file: from
    standard input, or in files outside ``%SRCROOT%``."""
    stdin = outside = 0
    files: set[str] = set()
    for f in findings:
        artifact = where.artifact(f.file.path)
        if artifact.path == sarifpaths.STDIN_SHOWN:
            stdin += 1
        elif not artifact.mapped:
            outside += 1
            files.add(artifact.path)
    out = []
    if stdin:
        out.append(
            f"{stdin} result(s) are in standard input, which is no file of the repository: "
            f"their location is the artifact '{sarifpaths.STDIN_URI}' (<stdin>), which code "
            "scanning cannot map to a file. Lint the files themselves to locate them."
        )
    if outside:
        root = (
            f"outside {SRCROOT} ({where.root})"
            if where.root
            else "in no git work tree and outside the working folder"
        )
        out.append(
            f"{outside} result(s) in {len(files)} file(s) {root} have absolute file:// URIs, "
            "which code scanning cannot map to repository files; --sarif-root DIR makes "
            "URIs relative to DIR."
        )
    return out


def _invocation(run: RunResult, notes: list[str], warnings: list[str]) -> om.Invocation:
    inv = om.Invocation(execution_successful=not run.internal_errors)
    props = _run_properties(run)
    if props:
        inv.properties = props
    messages = [om.Notification(message=_message(n), level="note") for n in notes]
    messages += [
        om.Notification(message=_message(f"{s.shown}: {s.why}"), level="note") for s in run.skipped
    ]
    messages += [om.Notification(message=_message(w), level="warning") for w in warnings]
    messages += [om.Notification(message=_message(e), level="error") for e in run.internal_errors]
    if messages:
        inv.tool_execution_notifications = messages
    return inv


def _run_properties(run: RunResult) -> dict[str, Any]:
    """The views the run built and the engine that rendered them, when it built several."""
    props: dict[str, Any] = {}
    if run.renderer:
        props["renderer"] = run.renderer
    if len(run.views) > 1 or any(v.kind != "default" for v in run.views):
        props["views"] = [
            {"name": v.name, "kind": v.kind, "files": v.files, "resources": v.resources}
            for v in run.views
        ]
    return props


COMPACT_ABOVE = 1000  # results; json's indenting encoder is pure Python, 5x slower


MAX_GZIP_BYTES = 10 * 1024 * 1024  # GitHub rejects larger uploads (gzip-compressed size)


def _dump(doc: Any, indent: int | None) -> str:
    return json.dumps(doc, indent=indent, ensure_ascii=False) + "\n"


def _too_large(text: str, limit: int) -> bool:
    """Compressing is only needed when the plain text could exceed the limit; the fast level
    answers first (level 6 compresses such text at least as well, at twice the time)."""
    if len(text) <= limit:
        return False
    data = text.encode("utf-8", "backslashreplace")  # as it is written out
    return len(zlib.compress(data, 1)) > limit and len(gzip.compress(data, 6)) > limit


def _fit(doc: dict[str, Any], limit: int) -> str:
    """Drop trailing results until the log (built without related locations) fits GitHub's
    size limit."""
    sarif_run = doc["runs"][0]
    results = sarif_run["results"]
    kept = len(results)
    text = _dump(doc, None)
    while _too_large(text, limit) and kept > 0:
        kept = kept * 3 // 4
        sarif_run["results"] = results[:kept]
        text = _dump(doc, None)
    note = (
        f"The log was larger than GitHub's {limit // (1024 * 1024)} MB (gzip) limit: related "
        f"locations were dropped and {kept} of {len(results)} results kept."
    )
    invocation = sarif_run["invocations"][0]
    invocation.setdefault("toolExecutionNotifications", []).append(
        {"level": "warning", "message": {"text": note}}
    )
    return _dump(doc, None)


def _rule_index(run: RunResult) -> dict[str, int]:
    return {rule.id: i for i, rule in enumerate(run.rules)}


def _compact(run: RunResult, category: str | None, shape: Shape) -> str:
    """The log without indentation, its results rendered on both cores (``forked``): the same
    text as ``_dump(build(run, category, shape=shape), None)``."""
    index = _rule_index(run)

    def results(findings: Sequence[Finding]) -> str:
        return _dump([result(f, index[f.rule_id], shape) for f in findings], None)[1:-2]

    token = f"egresslint-results-{os.urandom(8).hex()}"
    text = _dump(build(run, category, results=[token], shape=shape), None)
    body = forked.joined_halves(results, shape.findings(run), ", ")
    return text.replace(f'["{token}"]', f"[{body}]", 1)


def render(
    run: RunResult,
    category: str | None = None,
    limit: int = MAX_GZIP_BYTES,
    *,
    where: Where | None = None,
    keep_suppressed: bool = False,
) -> str:
    """The log as text. ``where``: how paths become URIs (default: from the working folder,
    see ``sarifpaths.find``); ``keep_suppressed``: keep suppressed findings as results with
    ``suppressions`` (default: leave them out, counted in a run property)."""
    shape = Shape(where or here(), keep_suppressed)
    if len(shape.findings(run)) > COMPACT_ABOVE:
        text = _compact(run, category, shape)
    else:
        text = _dump(build(run, category, shape=shape), 2)
    if not _too_large(text, limit):
        return text
    shape.related = False  # their links leave the messages with them
    return _fit(build(run, category, shape=shape), limit)
