"""Text output grouped by file, and progress on standard error for long runs."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from egresslint.lint import engine
from egresslint.report.progress import Progress
from egresslint.report.text import render

UNBOUND = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: apps}}
spec:
  hosts: [{name}.example]
  ports: [{{number: 443, name: tls, protocol: TLS}}]
  resolution: DNS
"""

# the evidence of egress control: an external host bound to the waypoint
WAYPOINT = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: apps}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bound, namespace: apps, labels: {istio.io/use-waypoint: waypoint}}
spec:
  hosts: [bound.example]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
"""


def _run(root: Path, progress=None) -> engine.RunResult:  # type: ignore[no-untyped-def]
    return engine.run(
        engine.Options(paths=[str(root)], base_dir=str(root), select=["EGL101"]), progress
    )


def test_findings_grouped_by_file(tmp_path: Path) -> None:
    (tmp_path / "gw.yaml").write_text(WAYPOINT)
    (tmp_path / "a.yaml").write_text(
        UNBOUND.format(name="one") + "---\n" + UNBOUND.format(name="two")
    )
    (tmp_path / "b.yaml").write_text(UNBOUND.format(name="three"))
    lines = render(_run(tmp_path)).splitlines()
    heads = [i for i, line in enumerate(lines) if ": warning EGL101 " in line]
    assert [lines[i].split(":")[0] for i in heads] == ["a.yaml", "a.yaml", "b.yaml"]
    # no blank line inside a file's group, exactly one between files
    assert "" not in lines[heads[0] : heads[1]]
    assert lines[heads[1] : heads[2]].count("") == 1
    assert lines[heads[2] - 1] == ""
    assert lines[-1].startswith("egresslint: 3 file(s)")


def test_progress_callback_counts_files(tmp_path: Path) -> None:
    run_id = uuid.uuid4().hex[:12]  # fresh content: a parse cache must not answer for it
    for i in range(5):
        (tmp_path / f"f{i}.yaml").write_text(UNBOUND.format(name=f"n{i}-{run_id}"))
    calls: list[tuple[int, int]] = []
    result = _run(tmp_path, lambda done, total: calls.append((done, total)))
    assert result.files == 5
    assert calls and calls[-1] == (5, 5)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert {total for _, total in calls} == {5}


def test_progress_line_is_drawn_then_erased() -> None:
    stream = io.StringIO()
    progress = Progress(stream, min_files=3)
    for done in range(1, 5):
        progress(done, 4)
    text = stream.getvalue()
    assert "egresslint: reading files 1/4 (25%)" in text
    assert "egresslint: reading files 4/4 (100%)" in text
    assert text.endswith("\r\x1b[K")  # the line is cleared before the report is printed


def test_no_progress_for_short_runs() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    for done in range(1, 11):
        progress(done, 10)
    assert stream.getvalue() == ""
