"""GitHub integration: ``--format github`` workflow commands and the composite action."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import engine
from egresslint.lint.registry import all_rules
from egresslint.model import Finding, SourceFile, Span
from egresslint.report import github

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def test_format_github_prints_workflow_commands() -> None:
    case = FIXTURES / "EGL201" / "bad-tls-to-port-80.yaml"
    out = CliRunner().invoke(cli, ["check", "-f", "github", "--select", "EGL201", str(case)])
    assert out.exit_code == 1
    lines = out.stdout.splitlines()
    assert lines and all(line.startswith("::error file=") for line in lines)
    props, message = lines[0][len("::error ") :].split("::", 1)
    fields = dict(p.split("=", 1) for p in props.split(","))
    assert fields["file"].endswith("fixtures/EGL201/bad-tls-to-port-80.yaml")
    assert int(fields["line"]) >= 1 and int(fields["col"]) >= 1 and int(fields["endLine"]) >= 1
    assert fields["title"] == "EGL201"
    assert message.startswith("DestinationRule ")


def test_github_escaping_levels_and_suppressed() -> None:
    source = SourceFile("odd:dir,x/a.yaml")
    findings = [
        Finding("EGL101", "100% sure\nsecond line", source, Span(3, 5, 3, 9), level="note"),
        Finding("EGL101", "warned", source, Span(4, 1, 4, 2), level="warning"),
        Finding("EGL101", "hidden", source, Span(5, 1, 5, 2), level="error", suppressed="ok"),
    ]
    text = github.render(engine.RunResult(findings, list(all_rules())))
    assert text.splitlines() == [
        "::notice file=odd%3Adir%2Cx/a.yaml,line=3,col=5,endLine=3,title=EGL101::100%25 sure%0Asecond line",
        "::warning file=odd%3Adir%2Cx/a.yaml,line=4,col=1,endLine=4,title=EGL101::warned",
    ]


def test_action_is_a_composite_action_with_the_documented_inputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert {"paths", "config", "fail-on", "sarif-category", "upload"} <= set(ACTION["inputs"])
    uses = [s.get("uses", "") for s in ACTION["runs"]["steps"]]
    assert any(u.startswith("actions/setup-python@") for u in uses)
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    for step in ACTION["runs"]["steps"]:
        # inputs reach scripts through env, never spliced into the script text
        assert "${{" not in step.get("run", ""), step.get("name")


def _lint_step() -> dict[str, object]:
    return next(s for s in ACTION["runs"]["steps"] if s.get("id") == "lint")


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize(
    ("paths", "fail_on", "code"),
    [("fixtures/examples/broken", "", "1"), ("fixtures/examples/broken", "never", "0")],
)
def test_action_lint_step_runs(tmp_path: Path, paths: str, fail_on: str, code: str) -> None:
    shim = tmp_path / "bin" / "egresslint"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m egresslint "$@"\n')
    shim.chmod(0o755)
    output = tmp_path / "github_output"
    sarif_file = tmp_path / "out.sarif"
    env = {
        **os.environ,
        "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "GITHUB_OUTPUT": str(output),
        "EGL_PATHS": f"{paths}\nfixtures/EGL101",
        "EGL_CONFIG": "",
        "EGL_FAIL_ON": fail_on,
        "EGL_CATEGORY": "egresslint/broken",
        "EGL_SARIF": str(sarif_file),
    }
    script = str(_lint_step()["run"])
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert output.read_text().strip() == f"exit-code={code}"
    run = json.loads(sarif_file.read_text())["runs"][0]
    assert run["automationDetails"]["id"] == "egresslint/broken"
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    }
    assert any(u.startswith("fixtures/EGL101/") for u in uris)
    assert "finding(s)" in done.stdout
