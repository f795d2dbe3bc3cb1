"""The pre-commit hooks of this repository, run for real with ``pre-commit try-repo``.

The first run installs the hook environment (``pip install`` of this repository into a
virtualenv), which needs the package index; pre-commit caches it afterwards.
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
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository whose ServiceEntries only make sense with the Namespace elsewhere."""
    repo = tmp_path_factory.mktemp("target")
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


def try_repo(target: Path, hook: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert PRE_COMMIT is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    done = subprocess.run(
        [*PRE_COMMIT, "try-repo", str(ROOT), hook, "--color", "never", *args],
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
    assert hooks["egresslint"]["require_serial"] is True
    assert hooks["egresslint"]["types_or"] == ["yaml"]
    assert hooks["egresslint-all"]["pass_filenames"] is False


def test_changed_file_fails_against_the_whole_tree(target: Path) -> None:
    done = try_repo(target, "egresslint", "--files", "mesh/bad.yaml")
    assert done.returncode == 1, done.stdout
    assert "Failed" in done.stdout
    assert "mesh/bad.yaml:6:" in done.stdout and "EGL101" in done.stdout


def test_clean_file_passes_and_other_files_are_not_reported(target: Path) -> None:
    done = try_repo(target, "egresslint", "--files", "mesh/good.yaml", "--verbose")
    assert done.returncode == 0, done.stdout
    assert "Passed" in done.stdout
    assert "mesh/bad.yaml" not in done.stdout  # loaded for context, but not reported


def test_whole_tree_hook(target: Path) -> None:
    done = try_repo(target, "egresslint-all", "--all-files")
    assert done.returncode == 1, done.stdout
    assert "mesh/bad.yaml:6:" in done.stdout
