"""GitHub integration: ``--format github`` workflow commands (the composite action: test_action.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import engine
from egresslint.lint.registry import all_rules
from egresslint.model import Finding, SourceFile, Span
from egresslint.report import github

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


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
