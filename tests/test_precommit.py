"""The pre-commit hooks of this repository, run for real with ``pre-commit try-repo``.

Every run installs the hook environment (``pip install`` of a snapshot of this repository into
a virtualenv in a temporary store), which needs the package index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from manifests import EGRESS_NAMESPACE_AND_WAYPOINT

ROOT = Path(__file__).resolve().parent.parent


def _pre_commit() -> list[str] | None:
    exe = shutil.which("pre-commit")
    if exe:
        return [exe]
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "pre_commit"]


PRE_COMMIT = _pre_commit()
pytestmark = [
    pytest.mark.skipif(PRE_COMMIT is None, reason="pre-commit is not installed"),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]

NAMESPACE = EGRESS_NAMESPACE_AND_WAYPOINT

SERVICE_ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: {name}
  namespace: istio-egress
  labels: {labels}
spec:
  hosts: [{name}.example.com]
  ports: [{{number: 443, name: tls, protocol: TLS}}]
  resolution: DNS
"""


def git(cwd: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *identity, *args], cwd=cwd, env=env, check=True, capture_output=True)


def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This project as it stands (tracked files and new ones git does not ignore), committed
    in a repository of its own: ``try-repo`` on the working tree itself would install only
    what is committed or staged, not the files a change adds."""
    copy = tmp_path_factory.mktemp("hooks-repo")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() or source.is_symlink():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name, follow_symlinks=False)
    git(copy, "-c", "init.defaultBranch=main", "init", "-q")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "snapshot")
    return copy


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return snapshot(tmp_path_factory)


def mesh_repo(repo: Path) -> Path:
    """A repository whose ServiceEntries only make sense with the Namespace elsewhere, with
    one finding (EGL101 at mesh/bad.yaml:6), staged but not committed."""
    (repo / "mesh").mkdir()
    (repo / "mesh" / "namespace.yaml").write_text(NAMESPACE)
    # bound through its namespace's label: fine
    (repo / "mesh" / "good.yaml").write_text(SERVICE_ENTRY.format(name="good", labels="{}"))
    # opts out of the namespace's waypoint: EGL101, which needs namespace.yaml to be seen
    bad = SERVICE_ENTRY.format(name="bad", labels="{istio.io/use-waypoint: none}")
    (repo / "mesh" / "bad.yaml").write_text(bad)
    git(repo, "-c", "init.defaultBranch=main", "init", "-q")
    git(repo, "add", "-A")
    return repo


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mesh_repo`` committed: its finding is one the repository already has."""
    repo = mesh_repo(tmp_path_factory.mktemp("target"))
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def try_repo(hooks: Path, target: Path, hook: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``pre-commit try-repo`` of the hooks in ``hooks`` (a ``snapshot``) in ``target``."""
    assert PRE_COMMIT is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    done = subprocess.run(
        [*PRE_COMMIT, "try-repo", str(hooks), hook, "--color", "never", *args],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if "An unexpected error has occurred" in done.stdout + done.stderr:
        pytest.fail(f"pre-commit could not install or run the hook:\n{done.stdout}\n{done.stderr}")
    return done


def test_hook_manifest_is_well_formed() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"egresslint", "egresslint-all"}
    for hook in hooks.values():
        assert hook["require_serial"] is True
        assert hook["types_or"] == ["yaml"]  # runs only when a YAML file changed
        assert hook["pass_filenames"] is False  # and then lints the whole repository
    assert hooks["egresslint"]["entry"] == "egresslint check --diff HEAD"
    assert "--diff" not in hooks["egresslint-all"]["entry"]


def test_findings_the_repository_already_has_pass(hooks_repo: Path, target: Path) -> None:
    done = try_repo(hooks_repo, target, "egresslint", "--files", "mesh/good.yaml", "--verbose")
    assert done.returncode == 0, done.stdout
    assert "Passed" in done.stdout
    assert "mesh/bad.yaml" not in done.stdout  # linted, but HEAD has its finding already


def test_first_commit_reports_every_finding(hooks_repo: Path, tmp_path: Path) -> None:
    repo = mesh_repo(tmp_path)  # staged, and no HEAD yet
    done = try_repo(hooks_repo, repo, "egresslint")
    assert done.returncode == 1, done.stdout
    assert "Failed" in done.stdout
    assert "mesh/bad.yaml:6:" in done.stdout and "EGL101" in done.stdout


def test_whole_tree_hook(hooks_repo: Path, target: Path) -> None:
    done = try_repo(hooks_repo, target, "egresslint-all", "--all-files")
    assert done.returncode == 1, done.stdout
    assert "mesh/bad.yaml:6:" in done.stdout
