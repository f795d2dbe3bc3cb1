"""SARIF output: valid against the 2.1.0 schema, and what GitHub code scanning reads.

Also runs Microsoft's SARIF Multitool (npm package ``@microsoft/sarif-multitool``) with its
GitHub rule set when ``npm`` is available; the tool is installed once under the user cache
folder. Its exit code is 0 even when it finds problems, so the test reads its report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from fixtures_support import FIXTURES, ROOT, read_case, rule_cases, run_case

from egresslint import runtime
from egresslint.cli import cli
from egresslint.lint import engine
from egresslint.lint.registry import all_rules
from egresslint.lint.rule import LEVELS, PRECISIONS
from egresslint.model import Finding, SourceFile, Span
from egresslint.report import forked, sarif

BAD_CASES = [p for p in rule_cases() if p.name.startswith("bad-")]
MULTITOOL_VERSION = "5.7.0"


@lru_cache(maxsize=1)
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads((ROOT / "schemas" / "sarif-schema-2.1.0.json").read_text())
    return jsonschema.Draft4Validator(schema)


def _check_rule(descriptor: dict[str, Any], rule: Any) -> None:
    assert descriptor["id"] == rule.id and descriptor["name"] == rule.name
    for key in ("shortDescription", "fullDescription"):
        assert 0 < len(descriptor[key]["text"].strip()) <= 1024, (rule.id, key)
    assert descriptor["help"]["text"].strip() and descriptor["help"]["markdown"].strip()
    props = descriptor["properties"]
    assert rule.tag in props["tags"] and len(props["tags"]) <= 20
    assert props["precision"] in PRECISIONS
    assert descriptor["defaultConfiguration"]["level"] == rule.level
    if rule.security:
        assert "security" in props["tags"]
        assert isinstance(props["security-severity"], str)
        assert 0.1 <= float(props["security-severity"]) <= 10.0


def _check_location(location: dict[str, Any]) -> None:
    physical = location["physicalLocation"]
    uri = physical["artifactLocation"]["uri"]
    assert not uri.startswith("/") and "://" not in uri and ".." not in uri.split("/"), uri
    assert physical["artifactLocation"]["uriBaseId"] == sarif.SRCROOT
    region = physical["region"]
    assert region["startLine"] >= 1 and region["startColumn"] >= 1
    assert region["endLine"] >= region["startLine"]
    assert region["endColumn"] >= 1
    if region["endLine"] == region["startLine"]:
        assert region["endColumn"] > region["startColumn"]


def _check_result(res: dict[str, Any], finding: Finding, rules: list[dict[str, Any]]) -> None:
    assert rules[res["ruleIndex"]]["id"] == res["ruleId"] == finding.rule_id
    assert res["level"] in LEVELS
    first_sentence = res["message"]["text"].split(". ")[0]
    if finding.resource is not None:
        assert finding.resource.ref in first_sentence, res["message"]["text"]
    assert len(res["locations"]) == 1
    _check_location(res["locations"][0])
    assert len(res.get("relatedLocations", [])) == len(finding.related)
    for rel in res.get("relatedLocations", []):
        _check_location(rel)
        assert rel["message"]["text"]
    assert res["partialFingerprints"][sarif.FINGERPRINT_KEY]


def check_github(doc: dict[str, Any], result: engine.RunResult) -> None:
    assert doc["$schema"] == sarif.SCHEMA_URI and doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in result.rules]
    for descriptor, rule in zip(rules, result.rules, strict=True):
        _check_rule(descriptor, rule)
    assert len(run["results"]) == len(result.findings)
    for res, finding in zip(run["results"], result.findings, strict=True):
        _check_result(res, finding, rules)


@pytest.mark.parametrize("path", BAD_CASES, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_bad_fixture_sarif_is_valid_for_github(path: Path) -> None:
    result = run_case(read_case(path))
    assert result.findings
    doc = sarif.build(result)
    errors = sorted(validator().iter_errors(doc), key=str)
    assert not errors, errors[0]
    check_github(doc, result)


def fingerprints(folder: Path) -> list[tuple[str, str]]:
    result = engine.run(engine.Options(paths=[str(folder)], base_dir=str(folder)))
    doc = sarif.build(result)
    return sorted(
        (r["ruleId"], r["partialFingerprints"][sarif.FINGERPRINT_KEY])
        for r in doc["runs"][0]["results"]
    )


@pytest.mark.parametrize("path", BAD_CASES, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_fingerprints_survive_moved_lines(path: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    if path.is_dir():
        shutil.copytree(path, case)
    else:
        case.mkdir()
        shutil.copy(path, case / path.name)
    before = fingerprints(case)
    for file in sorted(case.rglob("*.y*ml")):
        data = file.read_bytes()  # bytes: an undecodable file must stay undecodable
        moved = b"# a comment added above\n\n" + data.replace(b"\n---\n", b"\n---\n# moved\n")
        file.write_bytes(moved)
    assert fingerprints(case) == before


def test_results_are_truncated_with_a_notification() -> None:
    source = SourceFile("many.yaml", text="a: 1\n")
    findings = [
        Finding("EGL003", f"Finding {i}.", source, Span(1, 1, 1, 2), level="error")
        for i in range(sarif.MAX_RESULTS + 1)
    ]
    result = engine.RunResult(findings, list(all_rules()))
    run = sarif.build(result)["runs"][0]
    assert len(run["results"]) == sarif.MAX_RESULTS
    notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    assert any(f"only the first {sarif.MAX_RESULTS}" in n for n in notes)


def test_log_is_shrunk_to_the_upload_size_limit() -> None:
    import gzip
    import hashlib

    source = SourceFile("many.yaml", text="a: 1\n")
    findings = [  # hex digests do not compress away
        Finding("EGL003", hashlib.sha256(str(i).encode()).hexdigest() * 4, source, Span(1, 1, 1, 2))
        for i in range(2000)
    ]
    for f in findings:
        f.level = "error"
    limit = 100_000
    text = sarif.render(engine.RunResult(findings, list(all_rules())), limit=limit)
    assert len(gzip.compress(text.encode("utf-8"))) <= limit
    doc = json.loads(text)
    assert list(validator().iter_errors(doc)) == []
    run = doc["runs"][0]
    assert 0 < len(run["results"]) < 2000
    notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    assert any("(gzip) limit" in n and f"{len(run['results'])} of 2000" in n for n in notes)


def _many(count: int) -> engine.RunResult:
    source = SourceFile("many.yaml", text="a: 1\n")
    findings = [
        Finding("EGL003", f'Finding {i}: \u00e9 \\ "q"', source, Span(1, 1, 1, 2), level="error")
        for i in range(count)
    ]
    return engine.RunResult(findings, list(all_rules()))


@pytest.mark.parametrize("fork_above", [0, 10**9])
def test_large_logs_are_the_same_rendered_on_two_cores(
    fork_above: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forked, "MIN_ITEMS", fork_above)
    monkeypatch.setattr(forked, "_can_fork", lambda: True)
    for count in (sarif.COMPACT_ABOVE + 1, sarif.COMPACT_ABOVE + 2):
        run = _many(count)
        text = sarif.render(run, "prod")
        assert text == json.dumps(sarif.build(run, "prod"), ensure_ascii=False) + "\n"


def test_halves_survive_a_failing_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "_can_fork", lambda: True)
    monkeypatch.setattr(forked, "_child", lambda *args: os._exit(3))
    items = [str(i) for i in range(9)]
    assert forked.joined_halves(",".join, items, ",", min_items=0) == "0,1,2,3,4,5,6,7,8"
    assert forked.joined_halves(",".join, items[:1], ",", min_items=0) == "0"
    assert forked.joined_halves(",".join, [], ",", min_items=0) == ""


def test_no_render_child_while_a_cache_writer_has_the_other_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Busy:
        def is_alive(self) -> bool:
            return True

    def no_fork(*args: Any) -> Any:
        raise AssertionError("forked beside a busy cache writer")

    monkeypatch.setattr(runtime, "_writers", [Busy()])
    monkeypatch.setattr(forked, "_start", no_fork)
    assert forked.joined_halves(",".join, ["a", "b", "c"], ",", min_items=0) == "a,b,c"


@pytest.mark.parametrize(
    ("category", "expected"), [("egresslint/prod", "egresslint/prod"), ("prod", "prod/")]
)
def test_sarif_category_sets_automation_details(category: str, expected: str) -> None:
    out = CliRunner().invoke(
        cli,
        ["check", "-f", "sarif", "--sarif-category", category, str(FIXTURES / "EGL101")],
    )
    assert json.loads(out.stdout)["runs"][0]["automationDetails"]["id"] == expected


def test_no_category_no_automation_details() -> None:
    out = CliRunner().invoke(cli, ["check", "-f", "sarif", str(FIXTURES / "EGL101")])
    assert "automationDetails" not in json.loads(out.stdout)["runs"][0]


# --- Microsoft SARIF Multitool ---------------------------------------------------------------


def _cache_dir() -> Path:
    base = os.environ.get("EGRESSLINT_TEST_TOOL_CACHE") or str(Path.home() / ".cache")
    return Path(base) / "egresslint-tests" / f"sarif-multitool-{MULTITOOL_VERSION}"


def multitool() -> Path:
    """The platform binary of the Multitool (the npm launcher re-spawns it through a shell)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install @microsoft/sarif-multitool")
    folder = _cache_dir()
    found = sorted(folder.glob("node_modules/@microsoft/sarif-multitool-*/Sarif.Multitool*"))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder),
             f"@microsoft/sarif-multitool@{MULTITOOL_VERSION}"],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        found = sorted(folder.glob("node_modules/@microsoft/sarif-multitool-*/Sarif.Multitool*"))
        if done.returncode != 0 or not found:
            pytest.skip(f"could not install @microsoft/sarif-multitool: {done.stderr[-500:]}")
    binary = found[0]
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o100)  # npm may block its postinstall chmod
    return binary


@pytest.mark.parametrize("kind", ["Gh", "Sarif"])
def test_multitool_validate_finds_nothing(kind: str, tmp_path: Path) -> None:
    binary = multitool()
    result = engine.run(engine.Options(paths=[str(FIXTURES)], base_dir=str(ROOT)))
    assert any(f.suppressed for f in result.findings)  # suppressions are covered too
    log = tmp_path / "egresslint.sarif"
    log.write_text(sarif.render(result, "egresslint/fixtures"), encoding="utf-8")
    report = tmp_path / "report.sarif"
    done = subprocess.run(
        [str(binary), "validate", str(log), "--rule-kind", kind, "--output", str(report),
         "--log", "ForceOverwrite"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert report.is_file(), done.stdout + done.stderr
    problems = [
        f"{r['ruleId']}: {r['message']}"
        for r in json.loads(report.read_text())["runs"][0].get("results", [])
        if r.get("level", "warning") in ("error", "warning")
    ]
    assert not problems, "\n".join(problems[:20])


def test_multitool_reports_a_broken_log(tmp_path: Path) -> None:
    """The check above is not vacuous: a log without locations and help is rejected."""
    binary = multitool()
    doc = sarif.build(run_case(read_case(BAD_CASES[0])))
    for rule in doc["runs"][0]["tool"]["driver"]["rules"]:
        del rule["help"]
    log, report = tmp_path / "bad.sarif", tmp_path / "report.sarif"
    log.write_text(json.dumps(doc), encoding="utf-8")
    subprocess.run(
        [str(binary), "validate", str(log), "--rule-kind", "Gh", "--output", str(report),
         "--log", "ForceOverwrite"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    rule_ids = {r["ruleId"] for r in json.loads(report.read_text())["runs"][0].get("results", [])}
    assert "GH2012" in rule_ids
