"""The command line contract: exit codes, inputs, formats, rule listing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from egresslint.cli import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "fixtures" / "examples"
GOOD = EXAMPLES / "walkthrough-tls-origination"
BROKEN = EXAMPLES / "broken"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_clean_repository_exits_0() -> None:
    code, out, _ = run("check", str(GOOD))
    assert code == 0
    assert "0 error(s), 0 warning(s)" in out


def test_findings_exit_1_with_grep_friendly_lines() -> None:
    code, out, _ = run("check", str(BROKEN))
    assert code == 1
    line = next(x for x in out.splitlines() if "EGL201" in x)
    path, lineno, col, rest = line.split(":", 3)
    assert path.endswith("broken/destinationrule.yaml")
    assert (int(lineno), int(col)) == (13, 9)
    assert rest.startswith(" error EGL201 DestinationRule istio-egress/aliyun-com ")
    assert rest.endswith("[tls-origination-port-mismatch]")


@pytest.mark.parametrize(
    ("fail_on", "expected"), [("error", 1), ("warning", 1), ("note", 1), ("never", 0)]
)
def test_fail_on_levels(fail_on: str, expected: int) -> None:
    assert run("check", "--fail-on", fail_on, str(BROKEN))[0] == expected


def test_fail_on_error_ignores_warnings(tmp_path: Path) -> None:
    (tmp_path / "dup.yaml").write_text("a: 1\na: 2\n")  # EGL002 is a warning
    assert run("check", "--fail-on", "error", str(tmp_path))[0] == 0
    assert run("check", "--fail-on", "warning", str(tmp_path))[0] == 1


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("check", str(tmp_path / "missing"))[0] == 2
    assert run("check", "--format", "xml", str(GOOD))[0] == 2
    assert run("check", "--color", "sometimes", str(GOOD))[0] == 2
    assert run("check", "--select", "EGL999", str(GOOD))[0] == 2
    assert run("check", "--istio-version", "latest", str(GOOD))[0] == 2
    assert run("explain", "EGL999")[0] == 2


def test_nothing_to_lint_exits_2(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not yaml")
    code, _, err = run("check", str(tmp_path))
    assert code == 2
    assert "nothing to lint" in err


def test_empty_stdin_exits_2() -> None:
    code, out, err = run("check", "-", stdin="")
    assert (code, out) == (2, "")
    assert err.startswith("egresslint: error: nothing to lint: standard input is empty")


def test_stdin(tmp_path: Path) -> None:
    text = (
        (BROKEN / "destinationrule.yaml").read_text()
        + "---\n"
        + (BROKEN / "serviceentry.yaml").read_text()
    )
    code, out, _ = run("check", "-", stdin=text)
    assert code == 1
    assert "<stdin>:13:9: error EGL201" in out


def test_broken_file_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "a-broken.yaml").write_text("kind: [unclosed\n")
    for f in BROKEN.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text())
    code, out, _ = run("check", "--format", "json", str(tmp_path))
    data = json.loads(out)
    ids = {(Path(f["file"]).name, f["ruleId"]) for f in data["findings"]}
    assert ("a-broken.yaml", "EGL001") in ids
    assert ("destinationrule.yaml", "EGL201") in ids
    assert code == 1


def test_output_file_and_sarif(tmp_path: Path) -> None:
    target = tmp_path / "out.sarif"
    code, out, _ = run("check", "--format", "sarif", "--output", str(target), str(BROKEN))
    assert code == 1 and "error EGL201 " in out  # the console still shows the findings
    assert out.splitlines()[-1].startswith("egresslint: 6 file(s)")
    sarif = json.loads(target.read_text())
    assert sarif["version"] == "2.1.0"
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"EGL201", "EGL301"}


def test_exclude(tmp_path: Path) -> None:
    for f in BROKEN.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text())
    code, out, _ = run(
        "check", "--exclude", "networkpolicy.yaml", "--format", "json", str(tmp_path)
    )
    assert "EGL301" not in {f["ruleId"] for f in json.loads(out)["findings"]}


def test_hidden_folders_are_skipped(tmp_path: Path) -> None:
    hidden = tmp_path / ".git"
    hidden.mkdir()
    (hidden / "x.yaml").write_text("a: [\n")
    (tmp_path / "ok.yaml").write_text("a: 1\n")
    assert run("check", str(tmp_path))[0] == 0


def test_rules_and_explain() -> None:
    code, out, _ = run("rules")
    assert code == 0
    assert "EGL101  se-not-bound-to-waypoint" in out
    assert out.index("bypass:") < out.index("unreachable:")
    code, out, _ = run("explain", "tls-origination-port-mismatch")
    assert code == 0 and out.startswith("EGL201 tls-origination-port-mismatch (unreachable")
    assert "How to fix" in out


def test_version_and_help() -> None:
    code, out, _ = run("--version")
    assert code == 0 and "egresslint" in out
    code, out, _ = run("check", "--help")
    assert "Exit codes" in out and "--fail-on" in out


def test_module_entry_point_has_no_traceback_on_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\x00\x01\x02garbage")
    proc = subprocess.run(
        [sys.executable, "-m", "egresslint", "check", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "EGL001" in proc.stdout and "binary file" in proc.stdout
