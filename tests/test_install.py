"""The installed package carries its rules and schemas: run it from outside the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    src = tmp_path_factory.mktemp("src") / "egresslint"
    shutil.copytree(
        ROOT, src, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__")
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(src),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"pip install failed: {proc.stderr[-2000:]}")
    return target


def test_runs_from_another_folder(installed: Path, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(ROOT / "fixtures" / "examples" / "broken", manifests)
    env = {**os.environ, "PYTHONPATH": str(installed)}
    proc = subprocess.run(
        [sys.executable, "-m", "egresslint", "check", "--format", "json", "manifests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert '"ruleId": "EGL201"' in proc.stdout
    assert '"file": "manifests/destinationrule.yaml"' in proc.stdout
    rules = list((installed / "egresslint" / "rules").glob("egl*.py"))
    assert len(rules) == len(list((ROOT / "rules").glob("egl*.py")))
    assert (installed / "egresslint" / "schemas" / "kinds" / "index.json").is_file()
    assert (installed / "egresslint" / "schemas" / "sarif-schema-2.1.0.json").is_file()
