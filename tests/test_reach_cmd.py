"""``egresslint reach``: the matrix, the trace of one pair with file:line on every step, the
formats, errors, the posture diff against a git revision, and the README's examples."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from egresslint.cli import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = "fixtures/examples"
WALKTHROUGH = f"{EXAMPLES}/walkthrough-tls-origination"
BROKEN = f"{EXAMPLES}/broken"
LOCATION = re.compile(r"^\s+(\S+\.yaml):(\d+)  ", re.M)
STEP = re.compile(r"^  (\d)\. (\w+) \[(\w+)\]: ", re.M)


def _reach(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["reach", "--no-cache", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def _steps(trace: str) -> list[tuple[str, str, list[str]]]:
    """(kind, outcome, [file:line...]) for each numbered step of a text trace."""
    found = []
    blocks = re.split(r"(?m)^(?=  \d\. )", trace)[1:]
    for block in blocks:
        head = STEP.match(block)
        assert head, block
        found.append(
            (head.group(2), head.group(3), [f"{f}:{n}" for f, n in LOCATION.findall(block)])
        )
    return found


def test_matrix_groups_pairs_by_destination() -> None:
    code, out, _ = _reach(WALKTHROUGH)
    assert code == 0
    assert out.splitlines()[0] == "aliyun.com:80"
    assert re.search(
        r"^  default/sleep  controlled   Through Gateway istio-egress/waypoint; TLS: originated at the waypoint",
        out,
        re.M,
    )
    assert "any unregistered external address\n  default/sleep  denied" in out
    assert out.rstrip().endswith("3 pair(s): 2 controlled, 1 denied, 0 bypass, 0 unreachable")


def test_trace_of_the_walkthrough_has_file_and_line_on_every_step() -> None:
    code, out, _ = _reach(WALKTHROUGH, "--from", "default/sleep", "--to", "aliyun.com:80")
    assert code == 0
    assert out.startswith("default/sleep -> aliyun.com:80: controlled\n")
    steps = _steps(out)
    assert [k for k, _, _ in steps] == [
        "capture",
        "registration",
        "proxy",
        "tls",
        "authorization",
        "network",
    ]
    assert all(outcome == "pass" for _, outcome, _ in steps)
    assert all(where for _, _, where in steps), "every step names the file:line it rests on"
    tls = dict((k, w) for k, _, w in steps)["tls"]
    assert tls == [f"{WALKTHROUGH}/destinationrule.yaml:13"]
    assert (
        "4. tls [pass]: originated at the waypoint (DestinationRule istio-egress/aliyun-com, mode SIMPLE) towards port 443"
        in out
    )
    proxy = dict((k, w) for k, _, w in steps)["proxy"]
    assert f"{WALKTHROUGH}/waypoint.yaml:7" in proxy  # gatewayClassName


def test_trace_of_the_broken_example_shows_what_breaks() -> None:
    code, out, _ = _reach(BROKEN, "--from", "default", "--to", "aliyun.com:80")
    assert code == 0
    assert out.startswith("default/sleep -> aliyun.com:80: unreachable\n")
    steps = {k: (o, w) for k, o, w in _steps(out)}
    assert steps["tls"] == (
        "break",
        [f"{BROKEN}/destinationrule.yaml:13", f"{BROKEN}/serviceentry.yaml:13"],
    )
    assert steps["network"] == ("break", [f"{BROKEN}/networkpolicy.yaml:24"])
    assert all(w for _, w in steps.values())


def test_verdict_filter_and_unregistered() -> None:
    code, out, _ = _reach(BROKEN, "--verdict", "unreachable")
    assert code == 0
    assert "packages.example.org" not in out and "aliyun.com:443" in out
    assert out.rstrip().endswith("2 pair(s): 0 controlled, 0 denied, 0 bypass, 2 unreachable")
    code, out, _ = _reach(BROKEN, "--to", "unregistered", "--from", "default/sleep")
    assert out.startswith("default/sleep -> any unregistered external address: denied")


def test_formats() -> None:
    code, out, _ = _reach(BROKEN, "--format", "json")
    doc = json.loads(out)
    assert doc["summary"] == {"controlled": 0, "denied": 2, "bypass": 0, "unreachable": 2}
    first = doc["pairs"][0]
    assert first["client"]["label"] == "default/sleep" and first["verdict"] == "unreachable"
    assert all(s["sources"] for s in first["steps"])
    assert {"resource", "file", "line", "role"} == set(first["steps"][0]["sources"][0])
    rows = list(csv.reader(io.StringIO(_reach(BROKEN, "-f", "csv")[1])))
    assert rows[0] == ["view", "client", "destination", "verdict", "proxy", "reason"]
    assert [r[3] for r in rows[1:]] == ["unreachable", "unreachable", "denied", "denied"]
    markdown = _reach(BROKEN, "-f", "markdown")[1]
    assert "| aliyun.com:80 | default/sleep | **unreachable** |" in markdown
    page = _reach(BROKEN, "-f", "html")[1]
    assert page.startswith("<!DOCTYPE html>") and page.count("<tr>") == 5
    assert "<script" not in page


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "reach.md"
    code, out, _ = _reach(BROKEN, "-f", "markdown", "-o", str(target))
    assert code == 0 and out == ""
    assert "**unreachable**" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no/such/folder"], "no such file or folder: no/such/folder"),
        ([BROKEN, "--view", "nope"], "no view 'nope'; the views are: default"),
        ([BROKEN, "--diff", "HEAD", "-f", "csv"], "--diff writes text, json, markdown, not csv"),
        ([BROKEN, "--istio-version", "one"], "is not an Istio version"),
        ([BROKEN, "--max-pairs", "3"], "4 pairs to compute, more than --max-pairs 3"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    code, out, err = _reach(*args)
    assert code == 2
    assert message in err and "Traceback" not in err + out


def test_nothing_to_read(tmp_path: Path) -> None:
    code, _, err = _reach(str(tmp_path))
    assert code == 2 and "nothing to read" in err


def test_reach_writes_nothing(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / BROKEN, copy)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert _reach(str(copy))[0] == 0
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


# ---- posture diff ------------------------------------------------------------------------------
AUTHZ = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: aliyun-callers
  namespace: istio-egress
spec:
  targetRefs:
  - kind: ServiceEntry
    group: networking.istio.io
    name: external-svc-aliyun
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/sleep"]
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def pull_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose last commit adds an AuthorizationPolicy and removes the client
    namespace's egress lock-down NetworkPolicy."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / WALKTHROUGH, repo)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    (repo / "authz.yaml").write_text(AUTHZ, encoding="utf-8")
    (repo / "networkpolicy.yaml").unlink()
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "allow sleep, drop the lock-down")
    monkeypatch.chdir(repo)
    return repo


def test_diff_shows_the_added_policy_and_the_removed_network_policy(pull_request: Path) -> None:
    code, out, err = _reach(".", "--diff", "HEAD~1", "--format", "markdown")
    assert code == 0, err
    assert out.startswith("### Egress posture changes against `HEAD~1`\n")
    assert "| default/sleep | any unregistered external address | denied | **bypass** |" in out
    # the new AuthorizationPolicy, at the line of its rule
    assert (
        "default/sleep -> aliyun.com:80: controlled -> controlled, allowed at Gateway "
        "istio-egress/waypoint by AuthorizationPolicy istio-egress/aliyun-callers rule 0 "
        "(AuthorizationPolicy istio-egress/aliyun-callers new)"
    ) in out
    assert "AuthorizationPolicy istio-egress/aliyun-callers (new) `authz.yaml:13`" in out
    # the removed NetworkPolicy, at the line it had at the revision
    assert (
        "NetworkPolicy default/deny-direct-egress (removed; was `networkpolicy.yaml:13` at HEAD~1)"
    ) in out
    assert out.rstrip().endswith("3 pair(s) changed.")


def test_diff_text_and_json(pull_request: Path) -> None:
    code, out, _ = _reach(".", "--diff", "HEAD~1")
    assert code == 0
    assert (
        "NetworkPolicy default/deny-direct-egress (removed; was at networkpolicy.yaml:13 in HEAD~1)"
        in out
    )
    assert "AuthorizationPolicy istio-egress/aliyun-callers (new) at authz.yaml:13" in out
    doc = json.loads(_reach(".", "--diff", "HEAD~1", "-f", "json")[1])
    changed = {(c["client"], c["destination"]): (c["before"], c["after"]) for c in doc["changes"]}
    assert changed[("default/sleep", "any unregistered external address")] == ("denied", "bypass")
    cited = [c for ch in doc["changes"] for st in ch["steps"] for c in st["cited"]]
    assert {
        "resource": "AuthorizationPolicy istio-egress/aliyun-callers",
        "file": "authz.yaml",
        "line": 13,
        "role": "allows the client",
        "state": "new",
    } in cited


def test_diff_without_change(pull_request: Path) -> None:
    code, out, _ = _reach(".", "--diff", "HEAD", "-f", "markdown")
    assert code == 0
    assert "No client-destination pair changed its verdict or path." in out


def test_diff_errors(pull_request: Path, tmp_path: Path) -> None:
    code, _, err = _reach(".", "--diff", "no-such-ref")
    assert code == 2 and "unknown revision 'no-such-ref'" in err
    code, _, err = _reach(".", "--diff", "HEAD~1", "--max-pairs", "2")
    assert code == 2 and "3 pairs to compare, more than --max-pairs 2" in err
    outside = tmp_path / "plain"
    shutil.copytree(ROOT / BROKEN, outside)
    code, _, err = _reach(str(outside), "--diff", "HEAD")
    assert code == 2 and "not in a git work tree" in err


# ---- the README ----------------------------------------------------------------------------------
def _readme_examples() -> list[tuple[list[str], str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        (m.group(1).split(), m.group(2))
        for m in re.finditer(r"```text\n\$ egresslint reach ([^\n]+)\n(.*?)```", text, re.S)
    ]


def test_readme_reach_examples_are_current() -> None:
    shown = [(args, out) for args, out in _readme_examples() if "--diff" not in args]
    assert any(WALKTHROUGH in args for args, _ in shown), "README shows the walkthrough"
    assert any(BROKEN in args for args, _ in shown), "README shows the broken example"
    for args, expected in shown:
        code, out, _ = _reach(*args)
        assert code == 0
        assert out == expected, f"update the README example of 'egresslint reach {' '.join(args)}'"


def test_readme_diff_example_is_current(pull_request: Path) -> None:
    shown = [(args, out) for args, out in _readme_examples() if "--diff" in args]
    assert len(shown) == 1, "README shows one reach --diff example"
    args, expected = shown[0]
    assert args == [".", "--diff", "HEAD~1", "--format", "markdown"]
    assert _reach(*args)[1] == expected, "update the README example of reach --diff"


# ---- the GitHub action -------------------------------------------------------------------------
def _posture_step() -> dict[str, object]:
    import yaml

    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return next(s for s in action["runs"]["steps"] if s.get("name") == "Posture diff")


def test_action_writes_the_posture_diff_to_the_job_summary(
    pull_request: Path, tmp_path: Path
) -> None:
    step = _posture_step()
    assert step["if"] == "${{ inputs.diff-base != '' }}"
    summary = tmp_path / "summary.md"
    summary.write_text("egresslint: 3 finding(s), 0 suppressed\n", encoding="utf-8")
    env = {
        "PATH": os.environ["PATH"],
        "EGL_PYTHON": sys.executable,
        "EGL_PATHS": ".",
        "EGL_CONFIG": "",
        "EGL_DIFF_BASE": "HEAD~1",
        "EGL_EXCLUDE": "",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    done = subprocess.run(
        ["bash", "-e", "-c", str(step["run"])],
        cwd=pull_request,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("egresslint: 3 finding(s), 0 suppressed\n### Egress posture changes")
    assert "| default/sleep | any unregistered external address | denied | **bypass** |" in text
    env["EGL_DIFF_BASE"] = "no-such-ref"
    done = subprocess.run(
        ["bash", "-e", "-c", str(step["run"])],
        cwd=pull_request,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0  # informational: it fails nothing
    assert "::warning title=egresslint::the posture diff" in done.stdout
