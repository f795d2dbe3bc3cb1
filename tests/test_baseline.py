"""Baselines: written sorted and stable, matched without lines, counted per identity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from egresslint.cli import cli

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
    assert doc["version"] == 1
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
    assert doc["version"] == 1 and len(doc["findings"]) == 2
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
