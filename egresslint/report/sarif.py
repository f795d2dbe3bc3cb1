"""SARIF 2.1.0 for GitHub code scanning, built with sarif-om.

sarif-om has typed classes but no serializer; :func:`to_json_obj` maps its attrs fields to
the schema's property names, drops values left at their defaults (sarif-om uses sentinels
such as ``-1`` for "unset") and keeps ``level`` explicit even when it is ``warning``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attr
import sarif_om as om

from .. import __version__
from ..lint.engine import RunResult
from ..lint.rule import Rule
from ..model import Finding, Related, Span
from . import forked

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/egresslint/egresslint"
SRCROOT = "%SRCROOT%"
MAX_RESULTS = 25_000
FINGERPRINT_KEY = "egresslint/v1"
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


def _physical(path: str, span: Span) -> dict[str, Any]:
    return _maker(om.PhysicalLocation)(
        artifact_location=_maker(om.ArtifactLocation)(uri=path, uri_base_id=SRCROOT),
        region=_region(span),
    )


def _text(text: str) -> dict[str, Any]:
    return _maker(om.Message)(text=text)


def _related(index: int, rel: Related) -> dict[str, Any]:
    file, span = rel.place()
    return _maker(om.Location)(
        id=index,
        physical_location=_physical(file.path, span),
        message=_text(f"{rel.resource.ref}: {rel.message}"),
    )


def fingerprint(finding: Finding) -> str:
    return hashlib.sha256(finding.identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def result(finding: Finding, rule_index: int) -> dict[str, Any]:
    """One SARIF result as plain JSON data (the dict ``to_json_obj`` makes of ``om.Result``)."""
    related = None
    if finding.related:
        related = [_related(i, r) for i, r in enumerate(finding.related, 1)]
    suppressions = None
    if finding.suppressed is not None:
        suppressions = [_maker(om.Suppression)(kind="inSource", justification=finding.suppressed)]
    return _maker(om.Result)(
        rule_id=finding.rule_id,
        rule_index=rule_index,
        level=finding.level,
        message=_text(finding.message),
        locations=[
            _maker(om.Location)(physical_location=_physical(finding.file.path, finding.span))
        ],
        partial_fingerprints={FINGERPRINT_KEY: fingerprint(finding)},
        related_locations=related,
        suppressions=suppressions,
        properties={"views": list(finding.views)} if finding.views else None,
    )


def build(
    run: RunResult, category: str | None = None, results: list[Any] | None = None
) -> dict[str, Any]:
    """The log as JSON data; ``results``: put these in place of the findings' results."""
    index = _rule_index(run)
    findings = run.findings[:MAX_RESULTS]
    notes = list(run.notifications)
    if len(run.findings) > MAX_RESULTS:
        notes.append(
            f"{len(run.findings)} results; only the first {MAX_RESULTS} are included "
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
        original_uri_base_ids={
            SRCROOT: om.ArtifactLocation(description=_message("The folder egresslint ran in."))
        },
        results=_Plain(
            results if results is not None else (result(f, index[f.rule_id]) for f in findings)
        ),
        invocations=[_invocation(run, notes)],
    )
    if category:
        sarif_run.automation_details = om.RunAutomationDetails(
            id=category if "/" in category else category + "/"
        )
    log = om.SarifLog(version="2.1.0", schema_uri=SCHEMA_URI, runs=[sarif_run])
    out: dict[str, Any] = to_json_obj(log)
    out["runs"][0].setdefault("results", [])
    # schema and version first, as readers expect when they open the file
    return {"$schema": out.pop("$schema"), "version": out.pop("version"), **out}


def _invocation(run: RunResult, notes: list[str]) -> om.Invocation:
    inv = om.Invocation(execution_successful=not run.internal_errors)
    props = _run_properties(run)
    if props:
        inv.properties = props
    messages = [om.Notification(message=_message(n), level="note") for n in notes]
    messages += [
        om.Notification(message=_message(f"{s.shown}: {s.why}"), level="note") for s in run.skipped
    ]
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
    """Drop related locations, then trailing results, until the log fits GitHub's size limit."""
    sarif_run = doc["runs"][0]
    results = sarif_run["results"]
    for res in results:
        res.pop("relatedLocations", None)
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


def _compact(run: RunResult, category: str | None) -> str:
    """The log without indentation, its results rendered on both cores (``forked``): the same
    text as ``_dump(build(run, category), None)``."""
    index = _rule_index(run)

    def results(findings: Sequence[Finding]) -> str:
        return _dump([result(f, index[f.rule_id]) for f in findings], None)[1:-2]  # no [ ]\n

    token = f"egresslint-results-{os.urandom(8).hex()}"
    text = _dump(build(run, category, results=[token]), None)
    body = forked.joined_halves(results, run.findings[:MAX_RESULTS], ", ")
    return text.replace(f'["{token}"]', f"[{body}]", 1)


def render(run: RunResult, category: str | None = None, limit: int = MAX_GZIP_BYTES) -> str:
    if len(run.findings) > COMPACT_ABOVE:
        text = _compact(run, category)
    else:
        text = _dump(build(run, category), 2)
    return _fit(build(run, category), limit) if _too_large(text, limit) else text
