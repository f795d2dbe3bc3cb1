"""Outputs people and CI systems read: several reports in one run, the console beside report
files, --quiet, --color and NO_COLOR, terminal width, GitLab Code Quality, JUnit XML, and
standard input that holds nothing to lint."""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import engine
from egresslint.model import Finding, SourceFile, Span
from egresslint.packaged import package_dir
from egresslint.report import gitlab, junit, outputs

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "fixtures" / "examples" / "broken"
GOOD = ROOT / "fixtures" / "examples" / "walkthrough-tls-origination"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SUMMARY = "egresslint: 6 file(s), 11 resource(s)"

# GitLab's documented requirements beyond the schema its parser applies to each issue
# (doc/ci/testing/code_quality.md, "Code Quality report format"): a JSON array; check_name,
# location.path and location.lines.begin are required; five severities.
GITLAB_DOCUMENTED = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "check_name": {"type": "string", "minLength": 1},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "properties": {
                    "path": {"type": "string", "minLength": 1},
                    "lines": {"type": "object", "required": ["begin"]},
                },
            },
        },
    },
}


def run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["check", "--no-cache", *args], input=stdin, env=env)
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.stdout, result.stderr


def gitlab_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (package_dir("schemas") / "gitlab-codequality.json").read_text()
    )
    return schema


# ---- standard input that holds nothing to lint ----------------------------------------------


@pytest.mark.parametrize(
    ("stdin", "says"),
    [
        ("", "standard input is empty"),
        ("# rendered nothing\n# at all\n", "standard input is empty"),
        ("replicaCount: 2\n", "standard input holds no Kubernetes object (1 YAML document(s)"),
    ],
)
def test_stdin_without_kubernetes_objects_exits_2(stdin: str, says: str) -> None:
    code, out, err = run("-", stdin=stdin)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("egresslint: error: nothing to lint: ")
    assert says in err and "set -o pipefail" in err


def test_empty_stdin_beside_other_paths_still_exits_2() -> None:
    code, _, err = run("-", str(GOOD), stdin="")
    assert code == 2 and "standard input is empty" in err


def test_stdin_with_a_yaml_error_reports_it() -> None:
    code, out, _ = run("-", stdin="kind: [unclosed\n")
    assert code == 1 and "<stdin>:1:" in out and "EGL001" in out


def test_a_failed_render_in_a_pipeline_is_not_green(tmp_path: Path) -> None:
    """`(helm template ... || false) | egresslint check -`: the producer failed and wrote
    nothing; egresslint exits 2 whether or not the shell has pipefail."""
    for pipefail in ("", "set -o pipefail; "):
        proc = subprocess.run(
            ["bash", "-c", f'{pipefail}(exit 3) | "$PY" -m egresslint check --no-cache -'],
            capture_output=True,
            text=True,
            env={**os.environ, "PY": sys.executable},
            cwd=tmp_path,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("egresslint: error: nothing to lint: standard input")


# ---- several outputs ------------------------------------------------------------------------


def test_several_reports_in_one_run_and_the_console_still_shows_findings(tmp_path: Path) -> None:
    sarif, code_quality, xml = tmp_path / "a.sarif", tmp_path / "gl.json", tmp_path / "j.xml"
    code, out, _ = run(
        "-f", f"sarif:{sarif}", "-f", f"gitlab:{code_quality}", "-f", f"junit:{xml}", str(BROKEN)
    )
    assert code == 1
    assert "error EGL201 " in out and out.splitlines()[-1].startswith(SUMMARY)
    assert ANSI.search(out) is None  # not a terminal
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert {i["check_name"] for i in json.loads(code_quality.read_text())} >= {"EGL201", "EGL301"}
    assert ET.fromstring(xml.read_text()).tag == "testsuites"
    # the files are exactly what one report per run writes
    single = tmp_path / "single.sarif"
    run("-f", "sarif", "-o", str(single), str(BROKEN))
    assert single.read_text() == sarif.read_text()


def test_legacy_format_and_output_still_work(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code, out, _ = run("--format", "json", "--output", str(target), str(BROKEN))
    assert code == 1
    assert json.loads(target.read_text())["summary"]["error"] == 2
    assert out.splitlines()[-1].startswith(SUMMARY)  # the console copy, as text


def test_one_report_to_stdout_beside_files_replaces_the_console_text(tmp_path: Path) -> None:
    code, out, _ = run("-f", "json", "-f", f"sarif:{tmp_path / 'x.sarif'}", str(BROKEN))
    assert code == 1 and json.loads(out)["summary"]["error"] == 2  # stdout stays pure JSON
    code, out, _ = run("-f", f"sarif:{tmp_path / 'y.sarif'}", "-f", "github:-", str(BROKEN))
    assert out.startswith("::error file=") and SUMMARY not in out


@pytest.mark.parametrize("fail_on", ["error", "warning", "note", "never"])
def test_exit_code_does_not_depend_on_the_outputs(tmp_path: Path, fail_on: str) -> None:
    alone = run("--fail-on", fail_on, str(BROKEN))[0]
    files = [f"{fmt}:{tmp_path / fmt}" for fmt in ("json", "sarif", "gitlab", "junit")]
    many = run("--fail-on", fail_on, *[a for f in files for a in ("-f", f)], str(BROKEN))[0]
    quiet = run("--fail-on", fail_on, "-q", "-f", f"json:{tmp_path / 'q'}", str(BROKEN))[0]
    assert alone == many == quiet == (0 if fail_on == "never" else 1)


def test_quiet_with_reports_in_files_prints_nothing(tmp_path: Path) -> None:
    code, out, err = run("--quiet", "-f", f"sarif:{tmp_path / 'x.sarif'}", str(BROKEN))
    assert (code, out, err) == (1, "", "")
    assert (tmp_path / "x.sarif").stat().st_size > 0


def test_quiet_text_is_findings_only() -> None:
    code, out, _ = run("-q", str(BROKEN))
    assert code == 1 and "error EGL201 " in out and "egresslint:" not in out
    assert run("-q", "--select", "EGL201", str(GOOD)) == (0, "", "")  # nothing found


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-f", "json", "-f", "sarif"], "only one report can go to standard output"),
        (["-f", "json", "-f", "sarif", "-o", "x"], "--output names the file of one report"),
        (["-f", "json:same", "-f", "sarif:same"], "two reports would be written to same"),
        (["-f", "xml"], "'xml' is not a format"),
        (["-f", "sarif:"], "names no file after ':'"),
    ],
)
def test_impossible_outputs_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(*args, str(GOOD))
    assert code == 2 and out == "" and says in err
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_a_report_never_overwrites_an_input(tmp_path: Path) -> None:
    for f in BROKEN.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    target = tmp_path / "waypoint.yaml"
    before = target.read_bytes()
    code, _, err = run("-f", f"json:{target}", str(tmp_path))
    assert code == 2 and "would overwrite" in err
    assert target.read_bytes() == before


def test_every_output_comes_from_the_run_cache_or_none(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = []
    for _ in range(2):
        sarif, xml = tmp_path / "a.sarif", tmp_path / "j.xml"
        cmd = [sys.executable, "-m", "egresslint", "check", "-f", f"sarif:{sarif}"]
        cmd += ["-f", f"junit:{xml}", str(BROKEN)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        runs.append((proc.returncode, proc.stdout, sarif.read_text(), xml.read_text()))
        sarif.unlink()
        xml.unlink()
    assert runs[0] == runs[1] and runs[0][0] == 1
    assert runs[0][1].splitlines()[-1].startswith(SUMMARY)
    # JUnit depends on --fail-on: a cached report for another level is not reused
    proc = subprocess.run(
        [*cmd, "--fail-on", "error"], capture_output=True, text=True, env=env, check=False
    )
    root = ET.fromstring(xml.read_text())
    assert proc.returncode == 1 and root.get("failures") == "2"


# ---- colour ---------------------------------------------------------------------------------


def test_color_always_never_and_files(tmp_path: Path) -> None:
    assert ANSI.search(run("--color", "always", str(BROKEN))[1])
    assert ANSI.search(run("--color", "never", str(BROKEN))[1]) is None
    assert ANSI.search(run(str(BROKEN))[1]) is None  # auto: not a terminal
    target = tmp_path / "report.txt"
    _, out, _ = run("--color", "always", "-f", f"text:{target}", str(BROKEN))
    assert ANSI.search(out) and ANSI.search(target.read_text()) is None


@pytest.mark.parametrize(
    ("choice", "tty", "no_color", "expected"),
    [
        ("auto", True, None, True),
        ("auto", True, "1", False),
        ("auto", True, "", True),  # no-color.org: only a non-empty value counts
        ("auto", False, None, False),
        ("always", False, "1", True),  # an explicit choice wins over NO_COLOR
        ("never", True, None, False),
    ],
)
def test_use_color(choice: str, tty: bool, no_color: str | None, expected: bool) -> None:
    env = {} if no_color is None else {"NO_COLOR": no_color}
    assert outputs.use_color(choice, tty, env) is expected


def _on_terminal(tmp_path: Path, *args: str, **env: str) -> str:
    """What ``egresslint check`` prints to a pseudo-terminal with ``env`` set."""
    main, sub = pty.openpty()
    full = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    full.update(XDG_CACHE_HOME=str(tmp_path / "cache"), **env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "egresslint", "check", *args], stdout=sub, stderr=sub, env=full
    )
    os.close(sub)
    data = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        data += chunk
    proc.wait()
    os.close(main)
    return data.decode("utf-8").replace("\r\n", "\n")


def test_on_a_terminal_text_is_coloured_and_fits_columns(tmp_path: Path) -> None:
    out = _on_terminal(tmp_path, str(BROKEN), COLUMNS="70")
    assert ANSI.search(out)
    lines = [ANSI.sub("", line) for line in out.splitlines()]
    assert all(len(line) <= 70 for line in lines)
    assert any(line.startswith("    ") and "EGL" not in line for line in lines)  # wrapped
    words = " ".join(line.strip() for line in lines)
    assert "the TLS handshake fails. Add 'targetPort: 443' to port 80" in words
    assert _on_terminal(tmp_path, str(BROKEN), COLUMNS="70", NO_COLOR="1").count("\x1b[") == 0


# ---- GitLab Code Quality --------------------------------------------------------------------


def test_gitlab_report_validates_against_gitlabs_schema() -> None:
    code, out, _ = run("-f", "gitlab", str(BROKEN))
    report = json.loads(out)
    assert code == 1 and len(report) == 4
    validator = jsonschema.Draft7Validator(gitlab_schema())
    for issue in report:
        validator.validate(issue)
    jsonschema.validate(report, GITLAB_DOCUMENTED)
    assert len({i["fingerprint"] for i in report}) == len(report)
    assert {i["severity"] for i in report} == {"major", "minor", "info"}
    first = next(i for i in report if i["check_name"] == "EGL201")
    assert first["location"] == {
        "path": "fixtures/examples/broken/destinationrule.yaml",
        "lines": {"begin": 13, "end": 13},
    }


def test_gitlab_rejects_what_our_checks_would_let_through() -> None:
    """The schemas used above are not vacuous: GitLab's own drops an issue without a
    fingerprint, the documented one a severity it does not know."""
    issue: dict[str, Any] = {"description": "d", "check_name": "c", "fingerprint": "f"}
    issue.update(severity="minor", location={"path": "a.yaml", "lines": {"begin": 1}})
    jsonschema.validate([issue], GITLAB_DOCUMENTED)
    without = {k: v for k, v in issue.items() if k != "fingerprint"}
    assert not jsonschema.Draft7Validator(gitlab_schema()).is_valid(without)
    assert not jsonschema.Draft7Validator(GITLAB_DOCUMENTED).is_valid([{**issue, "severity": "x"}])


def test_gitlab_paths_are_relative_to_the_repository_top(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "deploy" / "egress").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for f in BROKEN.glob("*.yaml"):
        shutil.copy(f, repo / "deploy" / "egress" / f.name)
    proc = subprocess.run(
        [sys.executable, "-m", "egresslint", "check", "--no-cache", "-f", "gitlab", "egress"],
        capture_output=True,
        text=True,
        cwd=repo / "deploy",
        check=False,
    )
    paths = {i["location"]["path"] for i in json.loads(proc.stdout)}
    assert "deploy/egress/destinationrule.yaml" in paths
    assert all(p.startswith("deploy/egress/") for p in paths)


def test_gitlab_leaves_out_suppressed_findings_and_keeps_fingerprints_unique() -> None:
    source = SourceFile("a.yaml", text="k: v\n")
    twin = Finding("EGL101", "m", source, Span(1, 1, 1, 2), level="warning")
    other = Finding("EGL101", "m", source, Span(1, 1, 1, 2), level="warning", suppressed="ok")
    result = engine.RunResult([twin, dataclasses.replace(twin), other], [])
    report = json.loads(gitlab.render(result))
    assert len(report) == 2 and report[0]["fingerprint"] != report[1]["fingerprint"]


# ---- JUnit XML ------------------------------------------------------------------------------


def _cases(xml: str) -> list[ET.Element]:
    return list(ET.fromstring(xml).iter("testcase"))


def test_junit_one_testcase_per_finding_failing_as_the_exit_code_does() -> None:
    code, out, _ = run("-f", "junit", str(BROKEN))
    root = ET.fromstring(out)
    findings = [c for c in _cases(out) if c.get("classname") != "egresslint"]
    assert code == 1 and len(findings) == 4
    failed = {c.get("name", "").split()[0] for c in findings if c.find("failure") is not None}
    assert failed == {"EGL201", "EGL301", "EGL101"}  # the note is below --fail-on warning
    note = next(c for c in findings if c.get("name", "").startswith("EGL111"))
    assert "below the --fail-on level" in note.find("skipped").get("message", "")  # type: ignore[union-attr]
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("5", "3", "1")
    first = next(c for c in findings if c.get("name", "").startswith("EGL201"))
    assert first.get("file", "").endswith("broken/destinationrule.yaml")
    assert first.get("line") == "13" and ":13:9:" not in (first.get("name") or "")
    failure = first.find("failure")
    assert failure is not None and "^^^^" in (failure.text or "")
    _, never, _ = run("-f", "junit", "--fail-on", "never", str(BROKEN))
    assert ET.fromstring(never).get("failures") == "0"


def test_junit_stays_valid_xml_with_control_characters() -> None:
    source = SourceFile("odd\x01.yaml", text="name: a\x02b\n")
    f = Finding("EGL003", "bad \x07 value \ud800", source, Span(1, 1, 1, 5), level="error")
    xml = junit.render(engine.RunResult([f], [], files=1))
    case = next(c for c in _cases(xml) if c.get("classname") != "egresslint")
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "bad \\u0007 value \\ud800"
    assert case.get("file") == "odd\\u0001.yaml"


def test_junit_reports_internal_errors_as_errors() -> None:
    result = engine.RunResult([], [], files=1, internal_errors=["rule EGL101 failed: boom"])
    root = ET.fromstring(junit.render(result))
    assert root.get("errors") == "1"
    error = root.find("testsuite/testcase/error")
    assert error is not None and error.get("message") == "rule EGL101 failed: boom"
