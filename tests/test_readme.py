"""The README's set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from egresslint.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block, "README must open with a sh block holding the two set-up commands"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_two_setup_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert "egresslint check" in commands[0] and "fixtures/examples" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert _readme_commands()[1] in ci


def test_readme_example_output_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the example names paths relative to the repository
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"```text\n\$ egresslint check (\S+)\n(.*?)```", text, re.S)
    assert shown, "README shows the output of egresslint check on the broken example"
    result = CliRunner().invoke(cli, ["check", "--no-cache", shown.group(1)])
    assert result.exit_code == 1
    assert result.stdout == shown.group(2), "update the README example with the current output"
