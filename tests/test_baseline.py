"""Baselines: written sorted and stable, matched without lines, counted per identity; the
same from any folder and whatever the order of a List's items; version 1 still read."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import baseline, engine
from egresslint.lint.identity import Identities

ROOT = Path(__file__).resolve().parent.parent
OPT_OUT = ROOT / "fixtures" / "EGL101" / "bad-opt-out.yaml"
SE_DOC = OPT_OUT.read_text(encoding="utf-8").split("---\n")[-1]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["check", "--select", "EGL101", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "m").mkdir()
    shutil.copy(OPT_OUT, tmp_path / "m" / "a.yaml")
    shutil.copy(OPT_OUT, tmp_path / "m" / "b.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_write_then_nothing_new(tree: Path) -> None:
    code, _, err = run("--write-baseline", "base.yaml", "m")
    assert code == 0 and "wrote 2 finding(s) to base.yaml" in err
    doc = yaml.safe_load((tree / "base.yaml").read_text())
    assert doc["version"] == 2
    assert [(e["file"], e["rule"], e["resource"], e["count"]) for e in doc["findings"]] == [
        ("m/a.yaml", "EGL101", "ServiceEntry istio-egress/pypi", 1),
        ("m/b.yaml", "EGL101", "ServiceEntry istio-egress/pypi", 1),
    ]
    assert doc["findings"][0]["path"] == "metadata.labels.istio.io/use-waypoint"
    code, out, _ = run("--baseline", "base.yaml", "m")
    assert code == 0 and "2 finding(s) recorded in the baseline base.yaml" in out


def test_written_file_is_stable(tree: Path) -> None:
    run("--write-baseline", "one.yaml", "m")
    run("--write-baseline", "two.yaml", "m")
    assert (tree / "one.yaml").read_bytes() == (tree / "two.yaml").read_bytes()
    assert (tree / "one.yaml").read_text().startswith("# egresslint baseline")


def test_moved_lines_do_not_resurface(tree: Path) -> None:
    run("--write-baseline", "base.yaml", "m")
    a = tree / "m" / "a.yaml"
    a.write_text("# a comment\n# another\n\n" + a.read_text(), encoding="utf-8")
    assert run("--baseline", "base.yaml", "m")[0] == 0


def test_new_finding_elsewhere_is_reported(tree: Path) -> None:
    run("--write-baseline", "base.yaml", "m")
    shutil.copy(OPT_OUT, tree / "m" / "c.yaml")
    code, out, _ = run("--baseline", "base.yaml", "m")
    assert code == 1
    assert [x.split(":")[0] for x in out.splitlines() if " EGL101 " in x] == ["m/c.yaml"]


def test_counts_per_identity(tree: Path) -> None:
    run("--write-baseline", "base.yaml", "m")
    a = tree / "m" / "a.yaml"
    a.write_text(a.read_text() + "---\n" + SE_DOC, encoding="utf-8")  # the same finding twice
    code, out, _ = run("--baseline", "base.yaml", "m")
    assert code == 1
    assert len([x for x in out.splitlines() if " EGL101 " in x]) == 1


def test_json_by_extension(tree: Path) -> None:
    run("--write-baseline", "base.json", "m")
    doc = json.loads((tree / "base.json").read_text())
    assert doc["version"] == 2 and len(doc["findings"]) == 2
    assert run("--baseline", "base.json", "m")[0] == 0


def test_suppressed_findings_are_not_recorded(tree: Path) -> None:
    a = tree / "m" / "a.yaml"
    head, _, last = a.read_text().rpartition("---\n")
    a.write_text(f"{head}---\n# egresslint: ignore EGL101 -- ok\n{last}", encoding="utf-8")
    _, _, err = run("--write-baseline", "base.yaml", "m")
    assert "wrote 1 finding(s)" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("findings: []\n", "not an egresslint baseline"),
        ("version: 3\nfindings: []\n", "write a new one with 'egresslint check --write-baseline"),
        ("version: true\nfindings: []\n", "not an egresslint baseline"),
        ("version: 1\nfindings: {}\n", "findings: must be a list"),
        ("version: 1\nfindings: [{rule: EGL101}]\n", "findings[0]: needs the strings"),
        ("version: 1\nfindings: [{rule: EGL101, file: x, count: 0}]\n", "findings[0].count"),
        ("version: [\n", "not a valid baseline file"),
    ],
)
def test_bad_baseline_exits_2(tree: Path, text: str, expected: str) -> None:
    (tree / "base.yaml").write_text(text, encoding="utf-8")
    code, _, err = run("--baseline", "base.yaml", "m")
    assert code == 2 and expected in err


def test_missing_baseline_exits_2(tree: Path) -> None:
    code, _, err = run("--baseline", "none.yaml", "m")
    assert code == 2 and "cannot read baseline none.yaml" in err


# ---- the same from any folder --------------------------------------------------------------


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True, capture_output=True)
    return path


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    top = git_repo(tmp_path / "repo")
    (top / "clusters" / "prod").mkdir(parents=True)
    shutil.copy(OPT_OUT, top / "clusters" / "prod" / "a.yaml")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(top)
    return top


def test_written_at_the_root_matches_from_a_subfolder_and_from_outside(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, _ = run("--write-baseline", "base.yaml", "clusters")
    assert code == 0
    (entry,) = yaml.safe_load((repo / "base.yaml").read_text())["findings"]
    assert entry["file"] == "clusters/prod/a.yaml"  # relative to the top of the work tree
    monkeypatch.chdir(repo / "clusters" / "prod")
    code, out, _ = run("--baseline", "../../base.yaml", "a.yaml")
    assert code == 0 and "1 finding(s) recorded in the baseline" in out
    monkeypatch.chdir(repo.parent / "elsewhere")
    code, out, _ = run("--baseline", str(repo / "base.yaml"), str(repo / "clusters"))
    assert code == 0 and "1 finding(s) recorded in the baseline" in out
    shutil.copy(OPT_OUT, repo / "clusters" / "prod" / "b.yaml")  # a new finding still shows
    code, out, _ = run("--baseline", str(repo / "base.yaml"), str(repo / "clusters"))
    reported = [x.split(":")[0] for x in out.splitlines() if " EGL101 " in x]
    assert code == 1 and reported == [str(repo / "clusters" / "prod" / "b.yaml")]


def test_written_from_a_subfolder_names_files_from_the_root(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo / "clusters")
    run("--write-baseline", str(repo / "base.yaml"), "prod")
    (entry,) = yaml.safe_load((repo / "base.yaml").read_text())["findings"]
    assert entry["file"] == "clusters/prod/a.yaml"
    monkeypatch.chdir(repo)
    assert run("--baseline", "base.yaml", ".")[0] == 0


def test_outside_git_the_configuration_folder_is_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = tmp_path / "project"
    (top / "m").mkdir(parents=True)
    shutil.copy(OPT_OUT, top / "m" / "a.yaml")
    (top / ".egresslint.yaml").write_text("fail-on: warning\n", encoding="utf-8")
    monkeypatch.chdir(top / "m")
    run("--write-baseline", str(top / "base.yaml"), ".")
    (entry,) = yaml.safe_load((top / "base.yaml").read_text())["findings"]
    assert entry["file"] == "m/a.yaml"
    monkeypatch.chdir(top)
    assert run("--baseline", "base.yaml", "m")[0] == 0


LIST_ITEM = """\
- apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata:
    name: {name}
    namespace: istio-egress
    labels: {{istio.io/use-waypoint: none}}
  spec:
    hosts: [{name}.example.org]
    ports: [{{number: 443, name: tls, protocol: TLS}}]
    resolution: DNS
"""


def a_list(*names: str) -> str:
    head = OPT_OUT.read_text(encoding="utf-8").split("---\n")
    return (
        "---\n".join(head[:2])
        + "---\napiVersion: v1\nkind: List\nitems:\n"
        + "".join(LIST_ITEM.format(name=n) for n in names)
    )


def test_inserting_a_list_item_keeps_the_recorded_ones(repo: Path) -> None:
    listed = repo / "clusters" / "prod" / "list.yaml"
    listed.write_text(a_list("pypi-mirror", "files"), encoding="utf-8")
    run("--write-baseline", "base.yaml", "clusters/prod/list.yaml")
    recorded = yaml.safe_load((repo / "base.yaml").read_text())["findings"]
    assert {e["path"] for e in recorded} == {"metadata.labels.istio.io/use-waypoint"}  # no items.N
    listed.write_text(a_list("inserted", "pypi-mirror", "files"), encoding="utf-8")
    code, out, _ = run("--baseline", "base.yaml", "clusters/prod/list.yaml")
    assert code == 1
    reported = [x for x in out.splitlines() if " EGL101 " in x]
    assert len(reported) == 1 and "istio-egress/inserted" in reported[0]


def test_entries_carry_the_identity_diff_uses(repo: Path) -> None:
    """Baselines and --diff share one identity: every written entry reads back as the
    identity of the finding it records."""
    (repo / "clusters" / "prod" / "list.yaml").write_text(a_list("x", "y"), encoding="utf-8")
    (repo / "broken.yaml").write_text("key: [\n", encoding="utf-8")  # a finding without resource
    result = engine.run(engine.Options(paths=[str(repo)], base_dir=str(repo), cache=False))
    ids = Identities(str(repo), str(repo))
    baseline.write(str(repo / "base.json"), result.findings, ids)
    recorded = baseline.read(str(repo / "base.json"))
    assert recorded.version == 2 and sum(1 for k in recorded.counts if "|document: " in k) == 1
    assert recorded.counts == ids.counts(result.findings)


def test_version_1_still_matches_where_it_can_and_says_to_regenerate(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = {
        "version": 1,
        "findings": [
            {
                "rule": "EGL101",
                "file": "clusters/prod/a.yaml",
                "resource": "ServiceEntry istio-egress/pypi",
                "path": "metadata.labels.istio.io/use-waypoint",
                "count": 1,
            }
        ],
    }
    (repo / "old.yaml").write_text(yaml.safe_dump(old), encoding="utf-8")
    code, out, _ = run("--baseline", "old.yaml", "clusters")
    assert code == 0 and "1 finding(s) recorded" in out
    assert "old.yaml is version 1" in out and "--write-baseline old.yaml" in out
    monkeypatch.chdir(repo / "clusters")  # written at the root: its files are the root's
    assert run("--baseline", "../old.yaml", "prod")[0] == 0
