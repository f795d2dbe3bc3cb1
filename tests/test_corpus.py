"""The upstream YAML corpus (``../shared/corpus/upstream`` beside the repository) lints cleanly:
no internal error, no traceback; templated files become EGL001 findings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT.parent / "shared" / "corpus" / "upstream"

pytestmark = pytest.mark.skipif(
    not UPSTREAM.is_dir(),
    reason=f"upstream corpus not found at {UPSTREAM} (../shared beside the repo)",
)


def _check(*args: str) -> tuple[subprocess.CompletedProcess[str], dict]:  # type: ignore[type-arg]
    proc = subprocess.run(
        [sys.executable, "-m", "egresslint", "check", "--format", "json", *args, "upstream"],
        cwd=UPSTREAM.parent,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    return proc, json.loads(proc.stdout)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


@pytest.fixture(scope="module")
def report() -> dict:  # type: ignore[type-arg]
    return _check("--no-cache")[1]


def test_upstream_corpus_loads_without_internal_errors(report: dict) -> None:  # type: ignore[type-arg]
    assert report["internalErrors"] == []
    assert report["summary"]["files"] == len(_files(UPSTREAM))
    assert report["summary"]["resources"] > 900


def test_templated_files_are_reported_not_crashed_on(report: dict) -> None:  # type: ignore[type-arg]
    unparseable = {f["file"]: f["message"] for f in report["findings"] if f["ruleId"] == "EGL001"}
    templated = _files(UPSTREAM / "templated")
    assert templated
    for path in templated:
        shown = path.relative_to(UPSTREAM.parent).as_posix()
        try:
            list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError:
            assert shown in unparseable, shown
            assert "template" in unparseable[shown], unparseable[shown]
        # a file whose template markup sits inside quoted strings is valid YAML: linted as is


def test_every_untemplated_file_parses(report: dict) -> None:  # type: ignore[type-arg]
    bad = [
        f for f in report["findings"] if f["ruleId"] == "EGL001" and "/templated/" not in f["file"]
    ]
    assert bad == []
