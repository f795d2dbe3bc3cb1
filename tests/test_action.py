"""The composite action and the README's workflow: valid for GitHub, and the action's shell
steps run as GitHub runs them.

``action.yml`` and the README's workflow are validated against SchemaStore's schemas for
GitHub actions and workflows, as ``check-jsonschema`` ships them. The steps run in order the
way a runner runs a composite action: each ``${{ ... }}`` expression of a step's ``env`` and
``if`` is replaced by its value (inputs, ``github.action_path``, ``runner.temp``, the outputs
of earlier steps), each ``run:`` script goes to ``bash --noprofile --norc -eo pipefail`` with
the GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY files, and ``uses:`` steps
are recorded, not run. The install step installs this checkout into a virtual environment
under the module's runner temporary folder once; later runs reuse it, as a second use of the
action in one job does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from egresslint.cli import cli

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
BROKEN = ROOT / "fixtures" / "examples" / "broken"
SHA = re.compile(r"[0-9a-f]{40}")
# The actions action.yml uses, pinned by commit; each SHA was read from the action's own
# repository at the tag named (git rev-parse TAG^{commit}).
PINNED = {
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "github/codeql-action/upload-sarif": ("8aad20d150bbac5944a9f9d289da16a4b0d87c1e", "v4.36.2"),
}
# The same pins in the README's workflow
README_PINNED = {"actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1")}

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


# ---- validation against SchemaStore's schemas ---------------------------------------------
def _check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--verbose", "--builtin-schema", schema]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        check=False,
    )


def _readme_workflow() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```yaml\n(# \.github/workflows/egresslint\.yaml\n.*?)```", text, re.S)
    assert found, "README shows the workflow in a yaml block opening with its file name"
    return found.group(1)


def test_action_validates_against_schemastore() -> None:
    done = _check_jsonschema("vendor.github-actions", ROOT / "action.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_workflow_validates_against_schemastore(tmp_path: Path) -> None:
    workflow = tmp_path / "egresslint.yaml"
    workflow.write_text(_readme_workflow(), encoding="utf-8")
    done = _check_jsonschema("vendor.github-workflows", workflow)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_rejects_a_broken_action(tmp_path: Path) -> None:
    """Not vacuous: a composite step with run but no shell is not a valid action."""
    broken = tmp_path / "action.yml"
    broken.write_text(
        "name: x\ndescription: x\nruns:\n  using: composite\n  steps:\n    - run: echo\n"
    )
    done = _check_jsonschema("vendor.github-actions", broken)
    assert done.returncode == 1
    assert "shell" in done.stdout + done.stderr


def test_readme_workflow_has_the_permissions_upload_needs() -> None:
    workflow = yaml.safe_load(_readme_workflow())
    assert workflow["permissions"] == {
        "contents": "read",
        "security-events": "write",
        "actions": "read",
    }
    steps = workflow["jobs"]["egresslint"]["steps"]
    assert steps[-1]["uses"] == "egresslint/egresslint@<full-commit-sha>"
    assert set(steps[-1]["with"]) <= set(ACTION["inputs"])


def _pins(text: str) -> list[tuple[str, str, str]]:
    """(action, ref, the comment after it) of every ``uses:`` line."""
    return re.findall(r"uses: ([\w./-]+)@(\S+)(?: +# (.*))?", text)


def test_actions_are_pinned_by_commit_with_their_version() -> None:
    pins = {
        name: (ref, comment)
        for name, ref, comment in _pins(ROOT.joinpath("action.yml").read_text())
    }
    assert pins == PINNED
    readme = {name: (ref, comment) for name, ref, comment in _pins(_readme_workflow())}
    for name, pin in README_PINNED.items():
        assert readme[name] == pin
    assert all(SHA.fullmatch(ref) for ref, _ in [*pins.values(), *README_PINNED.values()])


def test_inputs_reach_scripts_through_env_only() -> None:
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")  # no script injection


def test_the_readme_pins_no_tag_that_does_not_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "v0.1.0" not in text
    assert "rev: <full-commit-sha>" in text


# ---- the steps, run as a runner runs them -------------------------------------------------
@dataclass
class Run:
    """What one use of the action did."""

    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # step id -> outputs
    ran: list[str] = field(default_factory=list)  # names of the steps that ran (or were used)
    used: dict[str, dict[str, str]] = field(default_factory=dict)  # uses: -> its with:
    failed: str | None = None  # the step that failed
    log: str = ""  # standard output and error of every step, in order
    codes: dict[str, int] = field(default_factory=dict)


class Runner:
    """A runner for one job: its temporary folder and GitHub's files outlive each use."""

    def __init__(self, base: Path) -> None:
        self.temp = base / "runner-temp"
        self.temp.mkdir()
        self.files = {
            name: base / name.lower()
            for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")
        }
        for path in self.files.values():
            path.touch()
        self.action_path = base / "action"
        shutil.copytree(ROOT, self.action_path, ignore=_not_the_package)

    def use(self, workspace: Path, **given: str) -> Run:
        inputs = {k: str(v.get("default", "")) for k, v in ACTION["inputs"].items()}
        unknown = set(given) - set(inputs)
        assert not unknown, f"the action has no input {unknown}"
        inputs.update(given)
        run = Run()
        for step in ACTION["runs"]["steps"]:
            values = self._values(inputs, run)
            if not _condition(step.get("if", "success()"), values, run.failed is not None):
                continue
            run.ran.append(step["name"])
            if "uses" in step:
                run.used[step["uses"]] = {
                    k: _substitute(str(v), values) for k, v in step.get("with", {}).items()
                }
                continue
            self._run_script(step, values, workspace, run)
            assert run.failed != "Install egresslint", f"the install step failed:\n{run.log}"
        return run

    def _values(self, inputs: dict[str, str], run: Run) -> dict[str, str]:
        values = {f"inputs.{k}": v for k, v in inputs.items()}
        values["github.action_path"] = str(self.action_path)
        values["runner.temp"] = str(self.temp)
        for step_id, outs in run.outputs.items():
            values.update({f"steps.{step_id}.outputs.{k}": v for k, v in outs.items()})
        return values

    def _run_script(
        self, step: dict[str, Any], values: dict[str, str], cwd: Path, run: Run
    ) -> None:
        output = self.files["GITHUB_OUTPUT"]
        output.write_text("")  # each step gets a file of its own
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
        env.update({k: str(p) for k, p in self.files.items()})
        env.update(RUNNER_TEMP=str(self.temp), RUNNER_OS="Linux", GITHUB_ACTIONS="true")
        # pip's own cache, as a runner keeps it (the test session moves XDG_CACHE_HOME)
        env["PIP_CACHE_DIR"] = os.path.join(os.environ["EGRESSLINT_TEST_TOOL_CACHE"], "pip")
        env.update({k: _substitute(str(v), values) for k, v in step.get("env", {}).items()})
        script = self.temp / "step.sh"
        script.write_text(step["run"])
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        run.log += done.stdout + done.stderr
        run.codes[step["name"]] = done.returncode
        if "id" in step:
            run.outputs[step["id"]] = _read_outputs(output)
        if done.returncode != 0:
            run.failed = step["name"]


def _not_the_package(folder: str, names: list[str]) -> set[str]:
    """What a copy of the action leaves out: git's and tools' folders, builds, benchmarks."""
    skip = {".git", ".venv", ".ci", "bench", "build", "dist", "node_modules", "__pycache__"}
    caches = (".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis")
    return {n for n in names if n in skip or n in caches or n.endswith(".egg-info")}


def _read_outputs(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        assert sep, f"not a name=value line in GITHUB_OUTPUT: {line!r}"
        found[name] = value
    return found


EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _substitute(text: str, values: dict[str, str]) -> str:
    """``${{ context.name }}`` as GitHub replaces it (a missing step output is empty)."""

    def value(found: re.Match[str]) -> str:
        name = found.group(1)
        if name in values:
            return values[name]
        assert name.startswith("steps."), f"the test knows no value for ${{{{ {name} }}}}"
        return ""

    return EXPRESSION.sub(value, text)


def _condition(text: str, values: dict[str, str], failed: bool) -> bool:
    """A step's ``if:`` for the expressions action.yml uses: contexts, string literals,
    ``==``/``!=``, ``&&``/``||``, parentheses, ``always()`` and ``success()``."""
    found = EXPRESSION.fullmatch(text.strip())
    expr = found.group(1) if found else text
    if "always()" not in expr and failed:
        return False  # a step whose condition has no status function adds success()
    tokens = re.findall(r"'[^']*'|&&|\|\||==|!=|[()]|[\w.-]+(?:\(\))?", expr)
    assert "".join(tokens) == re.sub(r"\s+", "", expr), f"cannot read the condition {expr!r}"
    python = []
    for token in tokens:
        if token in ("always()", "success()"):
            python.append("True")
        elif token in ("&&", "||"):
            python.append({"&&": "and", "||": "or"}[token])
        elif token in ("==", "!=", "(", ")") or token.startswith("'"):
            python.append(token)
        else:
            python.append(repr(_substitute("${{ " + token + " }}", values)))
    return bool(eval(" ".join(python), {"__builtins__": {}}))


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return Runner(tmp_path_factory.mktemp("runner"))


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    """A repository with the broken example under manifests/, committed."""
    shutil.copytree(BROKEN, tmp_path / "manifests")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "manifests"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
    return tmp_path


def _annotations(log: str) -> list[str]:
    return [line for line in log.splitlines() if re.match(r"::(error|warning|notice) file=", line)]


def test_findings_fail_after_the_upload(runner: Runner, workspace: Path) -> None:
    run = runner.use(workspace, paths="manifests")
    assert run.outputs["lint"]["exit-code"] == "1"
    assert run.ran == [
        "Install egresslint",
        "Run egresslint",
        "Upload SARIF to code scanning",
        "Fail on findings",
    ]
    assert run.codes == {"Install egresslint": 0, "Run egresslint": 0, "Fail on findings": 1}
    assert run.failed == "Fail on findings"
    upload = run.used[
        f"github/codeql-action/upload-sarif@{PINNED['github/codeql-action/upload-sarif'][0]}"
    ]
    assert upload == {"sarif_file": "egresslint.sarif"}
    sarif = json.loads((workspace / "egresslint.sarif").read_text())
    assert sarif["runs"][0]["automationDetails"]["id"] == "egresslint/"  # category + "/"
    notes = _annotations(run.log)
    assert any(n.startswith("::error file=manifests/destinationrule.yaml,line=13,") for n in notes)
    assert any(n.startswith("::warning file=manifests/serviceentry.yaml,line=24,") for n in notes)
    assert len(notes) == len(sarif["runs"][0]["results"])
    summary = runner.files["GITHUB_STEP_SUMMARY"].read_text()
    assert f"egresslint: {len(notes)} finding(s), 0 suppressed" in summary


def test_the_callers_python_and_path_stay_as_they_were(runner: Runner, workspace: Path) -> None:
    run = runner.use(workspace, paths="manifests", **{"fail-on": "never"})
    assert run.outputs["lint"]["exit-code"] == "0"
    python = Path(run.outputs["install"]["python"])
    assert python.is_relative_to(runner.temp)  # egresslint's own virtual environment
    assert runner.files["GITHUB_PATH"].read_text() == ""
    assert runner.files["GITHUB_ENV"].read_text() == ""
    assert not any(n.startswith("actions/setup-python@") for n in run.used)


def test_fail_on_never_uploads_and_passes(runner: Runner, workspace: Path) -> None:
    run = runner.use(workspace, paths="manifests", **{"fail-on": "never", "upload": "false"})
    assert run.failed is None
    assert run.ran == ["Install egresslint", "Run egresslint"]
    assert _annotations(run.log)  # still shown


def test_exclude_and_args_reach_egresslint(runner: Runner, workspace: Path) -> None:
    run = runner.use(
        workspace,
        paths="manifests",
        exclude="manifests/networkpolicy.yaml\n  other/*.yaml",
        args="--select EGL201 --select \"EGL301\" --sarif-category 'team a/egress $HOME'",
    )
    assert run.outputs["lint"]["exit-code"] == "1"
    titles = set(re.findall(r",title=(EGL\d+)::", "\n".join(_annotations(run.log))))
    assert titles == {"EGL201"}  # EGL301 is in the excluded NetworkPolicy file
    sarif = json.loads((workspace / "egresslint.sarif").read_text())
    assert sarif["runs"][0]["automationDetails"]["id"] == "team a/egress $HOME"  # as written


def test_args_that_do_not_split_are_an_error(runner: Runner, workspace: Path) -> None:
    run = runner.use(workspace, paths="manifests", args="--select 'EGL201")
    assert run.outputs["lint"]["exit-code"] == "2"
    assert run.failed == "Run egresslint"
    assert "the args input cannot be split into words: No closing quotation" in run.log
    assert "Upload SARIF to code scanning" not in run.ran


def test_an_error_fails_the_step_and_uploads_nothing(runner: Runner, workspace: Path) -> None:
    run = runner.use(workspace, paths="missing-folder")
    assert run.outputs["lint"]["exit-code"] == "2"
    assert run.codes["Run egresslint"] == 2
    assert "egresslint: error: no such file or folder: missing-folder" in run.log
    assert "::error title=egresslint::egresslint could not run (exit code 2)" in run.log
    assert run.ran == ["Install egresslint", "Run egresslint"]


def test_baseline_and_diff_base_report_only_new_findings(
    runner: Runner, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    wrote = CliRunner().invoke(cli, ["check", "--write-baseline", "base.yaml", "manifests"])
    assert wrote.exit_code == 0, wrote.output
    run = runner.use(workspace, paths="manifests", baseline="base.yaml")
    assert run.outputs["lint"]["exit-code"] == "0" and _annotations(run.log) == []
    run = runner.use(workspace, paths="manifests", **{"diff-base": "HEAD"})
    assert run.outputs["lint"]["exit-code"] == "0" and _annotations(run.log) == []
    run = runner.use(workspace, paths="manifests", **{"diff-base": "no-such-revision"})
    assert run.outputs["lint"]["exit-code"] == "2"
    assert "no-such-revision" in run.log


def test_a_python_older_than_3_10_is_refused(runner: Runner, workspace: Path) -> None:
    old = runner.temp / "old-python"
    old.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "Python 3.9.18"\nexit 1\n')
    old.chmod(0o755)
    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "install")
    run = Run()
    values = runner._values({"python-version": "3.9"}, run)
    values["steps.python.outputs.python-path"] = str(old)
    runner._run_script(step, values, workspace, run)
    assert run.codes["Install egresslint"] == 2
    assert "Python 3.9.18 is too old: egresslint needs Python 3.10 or later" in run.log
