"""SARIF output: valid against the 2.1.0 schema, and what GitHub code scanning reads.

Also runs Microsoft's SARIF Multitool (npm package ``@microsoft/sarif-multitool``, which
``.ci/run`` installs into ``.ci/tools/bin``) with its SARIF and GitHub rule kinds on logs
egresslint writes; where it is not installed those tests skip and say so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
from egresslint.report import forked, sarif, sarifpaths

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
    active = [f for f in result.findings if f.suppressed is None]  # suppressed: left out
    assert len(run["results"]) == len(active)
    assert run["properties"][sarif.SUPPRESSED_COUNT] == len(result.findings) - len(active)
    for res, finding in zip(run["results"], active, strict=True):
        _check_result(res, finding, rules)


def from_root() -> sarif.Shape:
    """URIs for runs over the fixtures, relative to this repository's root."""
    return sarif.Shape(sarifpaths.find([str(FIXTURES)], str(ROOT)))


@pytest.mark.parametrize("path", BAD_CASES, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_bad_fixture_sarif_is_valid_for_github(path: Path) -> None:
    result = run_case(read_case(path))
    assert result.findings
    doc = sarif.build(result, shape=from_root())
    errors = sorted(validator().iter_errors(doc), key=str)
    assert not errors, errors[0]
    check_github(doc, result)


def fingerprints(folder: Path) -> list[tuple[str, str]]:
    result = engine.run(engine.Options(paths=[str(folder)], base_dir=str(folder)))
    doc = sarif.build(result, shape=sarif.Shape(sarifpaths.find([str(folder)], str(folder))))
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


def multitool() -> str:
    """The Multitool's binary: $SARIF_MULTITOOL, else the one .ci/run installs, else
    sarif-multitool on PATH; the tests skip, saying so, only when none is found."""
    for candidate in (
        os.environ.get("SARIF_MULTITOOL"),
        str(ROOT / ".ci" / "tools" / "bin" / "sarif-multitool"),
        shutil.which("sarif-multitool"),
    ):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip(
        "the SARIF Multitool is not installed: .ci/run installs it into .ci/tools/bin from "
        f"the npm package @microsoft/sarif-multitool@{MULTITOOL_VERSION} (or set SARIF_MULTITOOL)"
    )


def _egresslint(cwd: Path, *args: str, stdin: str | None = None) -> None:
    """``egresslint check`` as a user runs it, in ``cwd``."""
    done = subprocess.run(
        [sys.executable, "-m", "egresslint", "check", "--no-cache", *args],
        cwd=cwd, input=stdin, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr


def _logs(folder: Path) -> dict[str, Path]:
    """The logs validated, by name: egresslint's for an absolute path outside the working
    folder inside a git repository (also with its suppressed findings kept), a folder in no
    git repository, standard input, and every fixture; and a log broken on purpose."""
    from test_sarif_mapping import BROKEN, make_repo

    logs = {name: folder / f"{name}.sarif" for name in LOGS}
    elsewhere = folder / "elsewhere"
    elsewhere.mkdir()
    repo = make_repo(folder / "repo")
    _egresslint(elsewhere, "-f", "sarif", "-o", str(logs["git"]), str(repo / "deploy"))
    kept = ("--sarif-suppressed", "keep", "-o", str(logs["kept"]))
    _egresslint(elsewhere, "-f", "sarif", *kept, str(repo / "deploy"))
    lone = folder / "lone"
    shutil.copytree(BROKEN, lone)
    _egresslint(elsewhere, "-f", "sarif", "-o", str(logs["no-git"]), str(lone))
    text = "\n---\n".join(p.read_text(encoding="utf-8") for p in sorted(BROKEN.glob("*.yaml")))
    _egresslint(elsewhere, "-f", "sarif", "-o", str(logs["stdin"]), "-", stdin=text)
    result = engine.run(engine.Options(paths=[str(FIXTURES)], base_dir=str(ROOT)))
    full = sarif.render(result, "egresslint/fixtures", where=from_root().where)
    logs["fixtures"].write_text(full, encoding="utf-8")
    doc = sarif.build(run_case(read_case(BAD_CASES[0])), shape=from_root())
    for rule in doc["runs"][0]["tool"]["driver"]["rules"]:
        del rule["help"]
    logs["broken"].write_text(json.dumps(doc), encoding="utf-8")
    return logs


LOGS = ("git", "kept", "no-git", "stdin", "fixtures", "broken")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _logs(tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def validated(logs: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """Every log's problems at error or warning level, from one run of ``validate`` with the
    SARIF and the GitHub rule kinds. Its exit code is 0 even when it finds problems: the
    report it writes is read."""
    binary = multitool()
    report = next(iter(logs.values())).parent / "report.sarif"
    done = subprocess.run(
        [binary, "validate", *map(str, logs.values()), "--rule-kind", "Sarif;Gh",
         "--output", str(report), "--log", "ForceOverwrite"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert report.is_file(), done.stdout + done.stderr
    by_uri = {p.resolve().as_uri(): name for name, p in logs.items()}
    problems: dict[str, list[dict[str, Any]]] = {name: [] for name in logs}
    for res in json.loads(report.read_text())["runs"][0].get("results", []):
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        problems[by_uri[uri]].append(res)
    return problems


def _errors(results: list[dict[str, Any]], levels: tuple[str, ...] = ("error",)) -> list[str]:
    return [
        f"{r['ruleId']}: {r['message'].get('text', r['message'])}"
        for r in results
        if r.get("level", "warning") in levels
    ]


@pytest.mark.parametrize("name", ["git", "kept", "no-git", "stdin"])
def test_multitool_finds_no_error(name: str, validated: dict[str, list[dict[str, Any]]]) -> None:
    """Acceptance: an absolute path outside the working folder (URIs relative to the
    repository root: test_sarif_mapping.py), a folder in no git repository, standard input;
    suppressed findings kept too."""
    errors = _errors(validated[name])
    assert not errors, "\n".join(errors[:20])


def test_the_validated_logs_are_the_cases_they_stand_for(logs: dict[str, Path]) -> None:
    def run(name: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(logs[name].read_text(encoding="utf-8"))["runs"][0]
        return found

    def uris(name: str) -> set[str]:
        return {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in run(name)["results"]
        }

    repo = logs["git"].parent / "repo"
    assert run("git")["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.resolve().as_uri() + "/"
    assert uris("git") and all(u.startswith("deploy/") for u in uris("git"))
    assert any(r.get("suppressions") for r in run("kept")["results"])
    assert uris("no-git") and all(u.startswith("file:///") for u in uris("no-git"))
    assert uris("stdin") == {"%3Cstdin%3E"}


def test_multitool_finds_nothing_in_the_fixtures_log(
    validated: dict[str, list[dict[str, Any]]],
) -> None:
    problems = _errors(validated["fixtures"], ("error", "warning"))
    assert not problems, "\n".join(problems[:20])


def test_multitool_reports_a_broken_log(validated: dict[str, list[dict[str, Any]]]) -> None:
    """The checks above are not vacuous: a log whose rules have no help is rejected."""
    assert "GH2012" in {r["ruleId"] for r in validated["broken"] if r.get("level") == "error"}
