"""The user cache stays bounded: oldest entries pruned beyond the limit, older versions'
stores removed, and ``egresslint cache info|clean``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.parse import cache, cachedir

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "fixtures" / "examples" / "broken"
MiB = 1024 * 1024


@pytest.fixture()
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(cachedir.MAX_ENV, raising=False)
    return tmp_path / "egresslint"


def _file(path: Path, size: int, age_seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))
    return path


def _names(root: Path, store: str) -> set[str]:
    return {e.path.name for e in cachedir.entries(root, store)}


def test_prune_removes_the_oldest_entries_of_every_store_beyond_the_bound(root: Path) -> None:
    _file(root / cachedir.PARSE_STORE / "old.pack", 400, age_seconds=500)
    _file(root / cachedir.RUN_STORE / "older-report", 400, age_seconds=600)
    _file(root / cachedir.RENDER_STORE / "mid.pack", 400, age_seconds=300)
    _file(root / cachedir.RUN_STORE / "new-report", 400, age_seconds=10)
    _file(root / cachedir.PARSE_STORE / "new.pack", 400, age_seconds=5)
    left = cachedir.prune(bound=1000)
    assert left == 800
    assert _names(root, cachedir.PARSE_STORE) == {"new.pack"}
    assert _names(root, cachedir.RUN_STORE) == {"new-report"}
    assert _names(root, cachedir.RENDER_STORE) == set()


def test_prune_within_the_bound_removes_nothing(root: Path) -> None:
    kept = _file(root / cachedir.PARSE_STORE / "a.pack", 100, age_seconds=10_000)
    assert cachedir.prune(bound=100) == 100
    assert kept.exists()


def test_prune_removes_older_versions_stores_only(root: Path) -> None:
    _file(root / "v1" / "a.pack", 10, age_seconds=0)  # the parse store before v2
    _file(root / "runs-v2" / "slot-report-x", 10, age_seconds=0)
    _file(root / "tools-v0.json", 10, age_seconds=0)
    newer = _file(root / "runs-v99" / "slot-report-x", 10, age_seconds=0)  # a newer install's
    unknown = _file(root / "notes" / "mine.txt", 10, age_seconds=0)
    tools = _file(root / cachedir.TOOL_STORE, 10, age_seconds=0)
    cachedir.prune(bound=cachedir.DEFAULT_MAX)
    assert not (root / "v1").exists() and not (root / "runs-v2").exists()
    assert not (root / "tools-v0.json").exists()
    assert newer.exists() and unknown.exists() and tools.exists()


def test_prune_removes_temporaries_a_crashed_writer_left(root: Path) -> None:
    stale = _file(root / cachedir.PARSE_STORE / ".tmp-crashed", 10, age_seconds=2 * 86400)
    busy = _file(root / cachedir.PARSE_STORE / ".tmp-writing", 10, age_seconds=1)
    cachedir.prune(bound=cachedir.DEFAULT_MAX)
    assert not stale.exists() and busy.exists()


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1000", 1000),
        ("512M", 512 * MiB),
        ("512MiB", 512 * MiB),
        ("2 gb", 2048 * MiB),
        ("1.5k", 1536),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert cachedir.parse_size(text) == size


def test_a_bad_bound_falls_back_to_the_default_and_says_why(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cachedir.MAX_ENV, "lots")
    bound, problem = cachedir.limit()
    assert bound == cachedir.DEFAULT_MAX
    assert problem and "EGRESSLINT_CACHE_MAX" in problem and "'lots' is not a size" in problem
    out = CliRunner().invoke(cli, ["cache", "info"])
    assert out.exit_code == 0
    assert "warning: EGRESSLINT_CACHE_MAX: 'lots' is not a size" in out.stdout


def test_writing_a_pack_prunes_the_folder(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cachedir.MAX_ENV, "1K")
    old = _file(root / cachedir.RUN_STORE / "old-report", 900, age_seconds=100)
    store = cache.ParseCache.open()
    assert store is not None
    store.put_many([("k", b"y" * 600)])
    assert not old.exists()  # 900 + the new pack is over 1 KiB: the oldest goes
    assert store.get("k") == b"y" * 600


def test_runs_stay_within_the_bound(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real runs in three formats write three reports and a parse pack; with a bound just
    below that, a fourth run's report is kept and the oldest entries go."""
    runner = CliRunner()
    for fmt in ("json", "sarif", "text"):
        assert runner.invoke(cli, ["check", "-f", fmt, str(BROKEN)]).exit_code == 1
    assert len(cachedir.entries(root, cachedir.RUN_STORE)) == 3
    total = sum(e.size for s in cachedir.FOLDER_STORES for e in cachedir.entries(root, s))
    bound = total - 1
    monkeypatch.setenv(cachedir.MAX_ENV, str(bound))
    assert runner.invoke(cli, ["check", "-f", "github", str(BROKEN)]).exit_code == 1
    after = [e for s in cachedir.FOLDER_STORES for e in cachedir.entries(root, s)]
    assert 0 < sum(e.size for e in after) <= bound
    newest = max(after, key=lambda e: e.mtime_ns)
    assert "-report-" in newest.path.name  # the github report just written stays
    assert cachedir.entries(root, cachedir.PARSE_STORE) == []  # the oldest entry went first


def test_a_reused_report_counts_as_recently_used(root: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["check", "-f", "json", str(BROKEN)]).exit_code == 1
    (report,) = cachedir.entries(root, cachedir.RUN_STORE)
    os.utime(report.path, (1_000_000, 1_000_000))
    assert runner.invoke(cli, ["check", "-f", "json", str(BROKEN)]).exit_code == 1
    assert report.path.stat().st_mtime > time.time() - 3600


def test_cache_info_and_clean(root: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["check", "-f", "json", str(BROKEN)]).exit_code == 1
    _file(root / "runs-v1" / "x", 10, age_seconds=0)
    info = runner.invoke(cli, ["cache", "info"])
    assert info.exit_code == 0, info.output
    lines = info.stdout.splitlines()
    assert lines[0] == f"cache folder: {root}"
    assert "at most 512 MiB (the default; EGRESSLINT_CACHE_MAX sets another)" in lines[1]
    assert any(line.startswith("  run reports (runs-v3/): 1 entry, ") for line in lines)
    assert any(line.startswith("  parsed files (v2/): 1 entry, ") for line in lines)
    assert "  older version, removed at the next write (runs-v1): 10 bytes" in lines
    files = sum(1 for p in root.rglob("*") if p.is_file())
    cleaned = runner.invoke(cli, ["cache", "clean"])
    assert cleaned.exit_code == 0, cleaned.output
    assert cleaned.stdout.startswith(f"egresslint: removed {files} file(s), ")
    assert list(root.iterdir()) == []
    again = runner.invoke(cli, ["cache", "info"])
    assert "run reports (runs-v3/): 0 entries, 0 bytes" in again.stdout


def test_cache_info_before_the_first_run(root: Path) -> None:
    out = CliRunner().invoke(cli, ["cache", "info"])
    assert out.exit_code == 0
    assert out.stdout.splitlines()[0] == f"cache folder: {root} (does not exist yet)"
    assert not root.exists()  # info never creates the folder


def test_clean_that_cannot_remove_says_what_and_exits_2(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _file(root / cachedir.PARSE_STORE / "a.pack", 10, age_seconds=0)
    monkeypatch.setattr(cachedir, "_remove", lambda path: False)
    out = CliRunner().invoke(cli, ["cache", "clean"])
    assert out.exit_code == 2
    assert f"egresslint: error: could not remove {root / cachedir.PARSE_STORE}" in out.stderr
