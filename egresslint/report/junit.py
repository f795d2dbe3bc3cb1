"""JUnit XML for CI systems that show test reports (GitLab ``artifacts:reports:junit``,
Jenkins' JUnit plugin, Azure Pipelines, CircleCI).

One ``<testsuite>`` per file with findings, one ``<testcase>`` per finding. A finding that
counts for the exit code (unsuppressed, at or above ``--fail-on``) is a ``<failure>``; one
below that level, or suppressed, is ``<skipped>`` with the reason, so the report fails
exactly when egresslint does. Test names are the rule and the field (resource and field
path, never the line), so CI systems that compare runs see a moved line as the same test.
A last suite, ``egresslint``, holds one passing test when the run went through, or one
``<error>`` per internal error.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from ..lint.engine import RunResult, exit_for
from ..lint.rule import LEVEL_RANK
from ..model import Finding
from .text import Style, finding_lines

# characters XML 1.0 cannot carry, even escaped (control characters, lone surrogates)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with the characters XML cannot hold written as ``\\uXXXX``."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _name(f: Finding) -> str:
    what = f.resource.source_ref if f.resource else "document"
    field = ".".join(str(p) for p in f.path)
    return f"{f.rule_id} {what}" + (f" {field}" if field else "")


def _outcome(f: Finding, fail_on: str) -> tuple[str, str]:
    """("failure" or "skipped", the element's message)."""
    if f.suppressed is not None:
        return "skipped", f"suppressed: {f.suppressed}"
    if exit_for(LEVEL_RANK[f.level], fail_on):
        return "failure", f.message
    return "skipped", f"{f.level}, below the --fail-on level ({fail_on})"


def _case(suite: ET.Element, f: Finding, name: str, body: str, fail_on: str) -> str:
    case = ET.SubElement(suite, "testcase", classname=_classname(f.file.path), name=name)
    case.set("file", xml_text(f.file.path))
    case.set("line", str(f.span.line))
    kind, message = _outcome(f, fail_on)
    result = ET.SubElement(case, kind, message=xml_text(message))
    if kind == "failure":
        result.set("type", f.level)
        result.text = body
    return kind


def _classname(path: str) -> str:
    """The file without its extension: Jenkins reads the last dot as package.Class."""
    stem = path.rsplit("/", 1)
    stem[-1] = stem[-1].rsplit(".", 1)[0] or stem[-1]
    return xml_text("/".join(stem))


def _by_file(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.file.path, []).append(f)
    return out


def _suite(
    root: ET.Element, path: str, findings: list[Finding], names: dict[str, str], fail_on: str
) -> None:
    suite = ET.SubElement(root, "testsuite", name=xml_text(path))
    counts = {"failure": 0, "skipped": 0}
    seen: dict[str, int] = {}
    for f in findings:
        name = _name(f)
        seen[name] = seen.get(name, 0) + 1
        name += f" #{seen[name]}" if seen[name] > 1 else ""
        body = "\n".join(finding_lines(f, names, Style(show_suppressed=True)))
        counts[_case(suite, f, xml_text(name), xml_text(body), fail_on)] += 1
    _count(suite, len(findings), counts["failure"], counts["skipped"], 0)


def _count(element: ET.Element, tests: int, failures: int, skipped: int, errors: int) -> None:
    element.set("tests", str(tests))
    element.set("failures", str(failures))
    element.set("errors", str(errors))
    element.set("skipped", str(skipped))


def _run_suite(root: ET.Element, run: RunResult) -> None:
    suite = ET.SubElement(root, "testsuite", name="egresslint")
    for err in run.internal_errors:
        case = ET.SubElement(suite, "testcase", classname="egresslint", name="internal error")
        ET.SubElement(case, "error", message=xml_text(err))
    if not run.internal_errors:
        case = ET.SubElement(suite, "testcase", classname="egresslint", name="egresslint check")
        out = ET.SubElement(case, "system-out")
        out.text = (
            f"{run.files} file(s), {run.resources} resource(s), {len(run.findings)} finding(s)"
        )
    errors = len(run.internal_errors)
    _count(suite, max(errors, 1), 0, 0, errors)


def render(run: RunResult, fail_on: str = "warning") -> str:
    names = {r.id: r.name for r in run.rules}
    root = ET.Element("testsuites", name="egresslint")
    for path, findings in _by_file(run.findings).items():
        _suite(root, path, findings, names, fail_on)
    _run_suite(root, run)
    totals = {key: 0 for key in ("tests", "failures", "errors", "skipped")}
    for suite in root:
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    _count(root, totals["tests"], totals["failures"], totals["skipped"], totals["errors"])
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
