"""``egresslint check --diff REF``: findings new against a git revision, in any file.

Every test builds its own git repository; the pre-commit test runs the real hook with
``pre-commit try-repo`` (see test_precommit.py for what that needs).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from manifests import EGRESS_NAMESPACE_AND_WAYPOINT
from test_precommit import PRE_COMMIT, snapshot, try_repo

from egresslint.cli import cli
from egresslint.sources import revision
from egresslint.views import tools

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

NAMESPACE, WAYPOINT = EGRESS_NAMESPACE_AND_WAYPOINT.split("---\n")

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
OPTED_OUT = "{istio.io/use-waypoint: none}"  # EGL101: the finding the repository already has
FINDING = re.compile(r"^(\S+):(\d+):\d+: \w+ (EGL\d{3}) ", re.M)


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
        + list(args),
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def commit(repo: Path, message: str = "change") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed mesh with one finding already (EGL101 on mesh/bad.yaml), as the cwd."""
    root = tmp_path / "repo"
    (root / "mesh").mkdir(parents=True)
    (root / "mesh" / "namespace.yaml").write_text(NAMESPACE)
    (root / "mesh" / "waypoint.yaml").write_text(WAYPOINT)
    (root / "mesh" / "good.yaml").write_text(SERVICE_ENTRY.format(name="good", labels="{}"))
    (root / "mesh" / "bad.yaml").write_text(SERVICE_ENTRY.format(name="bad", labels=OPTED_OUT))
    git(root, "-c", "init.defaultBranch=main", "init", "-q")
    commit(root, "initial")
    monkeypatch.chdir(root)
    return root


def rename_waypoint(repo: Path) -> None:
    path = repo / "mesh" / "waypoint.yaml"
    path.write_text(path.read_text().replace("name: waypoint,", "name: egress-waypoint,"))


def check(*args: str) -> tuple[int, list[tuple[str, int, str]], str]:
    """Exit code, (file, line, rule) of each finding, and standard error."""
    result = CliRunner().invoke(cli, ["check", "--select", "EGL101", "--select", "EGL102", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    found = [(f, int(line), rule) for f, line, rule in FINDING.findall(result.stdout)]
    return result.exit_code, found, result.stderr


def test_new_finding_in_an_untouched_file_is_reported_and_the_old_one_is_not(repo: Path) -> None:
    rename_waypoint(repo)
    code, found, _ = check()
    assert ("mesh/bad.yaml", 6, "EGL101") in found  # the old finding is there without --diff
    code, found, _ = check("--diff", "HEAD")
    assert code == 1
    assert found == [("mesh/namespace.yaml", 7, "EGL102")]  # a file the change did not touch


def test_nothing_new_passes(repo: Path) -> None:
    code, found, _ = check("--diff", "HEAD")
    assert (code, found) == (0, [])


def test_new_finding_against_an_older_commit(repo: Path) -> None:
    rename_waypoint(repo)
    commit(repo, "rename the waypoint")
    assert check("--diff", "HEAD")[:2] == (0, [])
    assert check("--diff", "HEAD~1")[1] == [("mesh/namespace.yaml", 7, "EGL102")]


def as_list(*docs: str) -> str:
    """A ``kind: List`` document holding ``docs``."""
    items = []
    for doc in docs:
        first, *rest = doc.splitlines()
        items += [f"  - {first}", *(f"    {line}" for line in rest)]
    return "apiVersion: v1\nkind: List\nitems:\n" + "\n".join(items) + "\n"


def test_moved_lines_and_reordered_list_items_are_not_new(repo: Path) -> None:
    bad = SERVICE_ENTRY.format(name="bad", labels=OPTED_OUT)
    other = SERVICE_ENTRY.format(name="other", labels=OPTED_OUT)
    (repo / "mesh" / "bad.yaml").write_text(as_list(bad, other))
    commit(repo)
    moved = "# comment lines move everything down\n\n" + as_list(other, bad)
    (repo / "mesh" / "bad.yaml").write_text(moved)
    code, found, _ = check()
    assert found == [("mesh/bad.yaml", 11, "EGL101"), ("mesh/bad.yaml", 21, "EGL101")]
    assert check("--diff", "HEAD")[:2] == (0, [])


def test_a_second_identical_finding_is_new(repo: Path) -> None:
    (repo / "mesh" / "bad.yaml").write_text(
        SERVICE_ENTRY.format(name="bad", labels=OPTED_OUT)
        + "---\n"
        + SERVICE_ENTRY.format(name="bad", labels=OPTED_OUT)
    )
    code, found, _ = check("--diff", "HEAD", "--select", "EGL101")
    assert code == 1
    assert [rule for _, _, rule in found] == ["EGL101"]


def test_same_findings_from_another_working_folder(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rename_waypoint(repo)
    monkeypatch.chdir(repo.parent)
    code, found, _ = check("--diff", "HEAD", str(repo / "mesh"))
    assert code == 1
    assert [(Path(f).name, line, rule) for f, line, rule in found] == [
        ("namespace.yaml", 7, "EGL102")
    ]


def _state(repo: Path) -> tuple[str, str, str, dict[str, str]]:
    index = hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest()
    files = {
        str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    return git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain"), index, files


def test_work_tree_index_and_head_are_left_alone(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "private-tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    rename_waypoint(repo)
    git(repo, "add", "mesh/waypoint.yaml")  # staged
    (repo / "mesh" / "good.yaml").write_text(SERVICE_ENTRY.format(name="good", labels="{a: b}"))
    before = _state(repo)
    assert check("--diff", "HEAD")[0] == 1
    assert _state(repo) == before
    assert list(private.iterdir()) == []  # the copy of HEAD is gone


def test_first_commit_reports_every_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "new"
    root.mkdir()
    (root / "bad.yaml").write_text(
        EGRESS_NAMESPACE_AND_WAYPOINT + "---\n" + SERVICE_ENTRY.format(name="bad", labels=OPTED_OUT)
    )
    git(root, "-c", "init.defaultBranch=main", "init", "-q")
    monkeypatch.chdir(root)
    code, found, _ = check("--diff", "HEAD")
    assert code == 1
    assert [rule for _, _, rule in found] == ["EGL101"]


def test_path_missing_at_the_revision_reports_all_its_findings(repo: Path) -> None:
    (repo / "team").mkdir()
    (repo / "team" / "se.yaml").write_text(SERVICE_ENTRY.format(name="team", labels=OPTED_OUT))
    code, found, _ = check("--diff", "HEAD", "team", "mesh")
    assert code == 1
    assert found == [("team/se.yaml", 6, "EGL101")]


@pytest.mark.skipif(
    tools.find_kustomize(None, use_cache=False) is None, reason="needs kustomize or kubectl"
)
def test_rendered_overlay_with_a_base_outside_the_linted_folder(repo: Path) -> None:
    """REF's copy renders like the work tree: the overlay reaches its base outside the linted
    folder, and the findings at the base's lines match across both."""
    (repo / "mesh" / "kustomization.yaml").write_text(
        "resources: [namespace.yaml, waypoint.yaml, bad.yaml]\n"
    )
    (repo / "overlays" / "prod").mkdir(parents=True)
    (repo / "overlays" / "prod" / "kustomization.yaml").write_text(
        "resources: [../../mesh]\ncommonLabels: {env: prod}\n"
    )
    commit(repo)
    assert check("overlays/prod")[1] == [("mesh/bad.yaml", 6, "EGL101")]
    assert check("--diff", "HEAD", "overlays/prod")[:2] == (0, [])
    rename_waypoint(repo)
    code, found, _ = check("--diff", "HEAD", "overlays/prod")
    assert (code, found) == (1, [("mesh/namespace.yaml", 7, "EGL102")])


def test_files_below_a_kustomization_are_copied_and_the_rest_only_as_yaml(repo: Path) -> None:
    (repo / "app" / "overlay" / "files").mkdir(parents=True)
    (repo / "app" / "overlay" / "kustomization.yaml").write_text("resources: []\n")
    (repo / "app" / "overlay" / "files" / "patch.json").write_text("[]\n")
    (repo / "app" / "notes.md").write_text("not read\n")
    (repo / "app" / "link.yaml").symlink_to("overlay/kustomization.yaml")
    commit(repo)
    (repo / "mesh" / "namespace.yaml").unlink()  # the copy holds HEAD, not the work tree
    with revision.checkout("HEAD", [str(repo / "app"), str(repo / "mesh")]) as copy:
        root = Path(copy.root)
        assert copy.paths == [str(root / "app"), str(root / "mesh")]
        assert copy.map(str(repo / "mesh" / "x.yaml")) == str(root / "mesh" / "x.yaml")
        assert (root / "app" / "overlay" / "files" / "patch.json").read_text() == "[]\n"
        assert (root / "mesh" / "namespace.yaml").read_text() == NAMESPACE
        assert not (root / "app" / "notes.md").exists()
        assert os.readlink(root / "app" / "link.yaml") == "overlay/kustomization.yaml"
        assert (root / ".git").is_dir()  # the copy's top stands for the work tree's
    assert not root.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--diff", "no-such-branch"], "unknown revision 'no-such-branch'"),
        (["--diff", "HEAD", "-"], "standard input"),
        (["--diff", "HEAD", "mesh", "{outside}"], "is outside the git repository"),
        (["--diff", "HEAD", "--write-baseline", "b.yaml"], "cannot be combined"),
    ],
)
def test_usage_errors_exit_2_in_one_line(
    repo: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.yaml").write_text(NAMESPACE)
    args = [a.replace("{outside}", str(outside)) for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "egresslint", "check", *args],
        cwd=repo,
        input="",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.startswith("egresslint: error: --")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (repo / "b.yaml").exists()


def test_not_a_git_repository_exits_2(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(NAMESPACE)
    done = subprocess.run(
        [sys.executable, "-m", "egresslint", "check", "--diff", "HEAD", "x.yaml"],
        cwd=tmp_path,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("egresslint: error: --diff: x.yaml is not in a git work tree")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.fixture
def staged_rename(repo: Path) -> Iterator[Path]:
    """The waypoint rename staged for a commit; an unstaged edit that would repair the
    binding is left in the work tree (pre-commit sets it aside while the hook runs)."""
    rename_waypoint(repo)
    git(repo, "add", "mesh/waypoint.yaml")
    namespace = repo / "mesh" / "namespace.yaml"
    namespace.write_text(
        NAMESPACE.replace("use-waypoint: waypoint", "use-waypoint: egress-waypoint")
    )
    yield repo


@pytest.mark.skipif(PRE_COMMIT is None, reason="pre-commit is not installed")
def test_precommit_hook_fails_a_commit_that_renames_the_waypoint(
    staged_rename: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    done = try_repo(snapshot(tmp_path_factory), staged_rename, "egresslint")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Failed" in done.stdout
    assert FINDING.findall(done.stdout) == [("mesh/namespace.yaml", "7", "EGL102")]
    assert "mesh/bad.yaml" not in done.stdout  # the finding HEAD already has
    # pre-commit put the unstaged repair back
    assert "egress-waypoint" in (staged_rename / "mesh" / "namespace.yaml").read_text()
