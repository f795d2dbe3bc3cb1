"""Run cache: a second run over unchanged inputs reuses the report and its exit code, and any
change of a byte, an option, the report's shape or the code gives a fresh run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import engine, resultcache

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "fixtures" / "examples" / "broken"


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    target = tmp_path / "tree"
    shutil.copytree(BROKEN, target)
    return target


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout


def _entries(home: Path) -> list[Path]:
    return sorted((home / "egresslint" / "runs-v3").glob("*"))


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_second_run_is_identical(cache_home: Path, tree: Path, fmt: str) -> None:
    cold = check("--no-cache", "--format", fmt, str(tree))
    first = check("--format", fmt, str(tree))
    second = check("--format", fmt, str(tree))
    assert cold == first == second
    assert _entries(cache_home)


def test_hit_skips_the_run_and_keeps_the_exit_code(
    cache_home: Path, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = check("--format", "json", str(tree))
    assert first[0] == 1  # the broken example has warnings and errors

    def no_run(*args: object, **kw: object) -> object:
        raise AssertionError("linted again")

    monkeypatch.setattr(engine, "run", no_run)
    assert check("--format", "json", str(tree)) == first
    assert check("--format", "json", "--fail-on", "never", str(tree)) == (0, first[1])
    with pytest.raises(AssertionError, match="linted again"):
        CliRunner().invoke(cli, ["check", "--format", "sarif", str(tree)], catch_exceptions=False)


def test_report_shape_and_baseline_writing_are_not_reused(cache_home: Path, tree: Path) -> None:
    plain = check("--format", "json", str(tree))
    category = check("--format", "sarif", "--sarif-category", "prod", str(tree))
    assert '"id": "prod/"' in category[1] and check("--format", "json", str(tree)) == plain
    baseline = tree.parent / "baseline.json"
    result = CliRunner().invoke(cli, ["check", "--write-baseline", str(baseline), str(tree)])
    assert result.exit_code == 0 and baseline.read_text().strip()
    assert check("--baseline", str(baseline), "--format", "json", str(tree))[0] == 0


def test_changed_byte_or_option_recomputes(cache_home: Path, tree: Path) -> None:
    before = check("--format", "json", str(tree))
    victim = next(tree.rglob("*.yaml"))
    victim.write_text(victim.read_text() + "\n---\nkind: [\n")  # an EGL001 appears
    after = check("--format", "json", str(tree))
    assert after != before and "EGL001" in after[1]
    assert check("--format", "json", "--no-cache", str(tree)) == after
    ignored = check("--format", "json", "--ignore", "EGL001", str(tree))
    assert "EGL001" not in ignored[1]


def test_damaged_entries_are_ignored(cache_home: Path, tree: Path) -> None:
    first = check("--format", "sarif", str(tree))
    for entry in _entries(cache_home):
        entry.write_bytes(entry.read_bytes()[:40] + b"garbage")
    assert check("--format", "sarif", str(tree)) == first
    for entry in _entries(cache_home):
        entry.write_bytes(b"")
    assert check("--format", "sarif", str(tree)) == first


def test_no_cache_writes_nothing(cache_home: Path, tree: Path) -> None:
    check("--no-cache", str(tree))
    assert not (cache_home / "egresslint").exists()


def test_code_digest_covers_the_rule_catalogue() -> None:
    assert len(resultcache.code_digest()) == 20
