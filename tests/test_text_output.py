"""Text output grouped by file, fitted to a terminal, with suppressed findings hidden and
quiet; progress on standard error for long runs."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import click

from egresslint.lint import engine
from egresslint.model import Finding, SourceFile, Span
from egresslint.report.progress import Progress
from egresslint.report.text import Style, render, window

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


# ---- fitting the terminal, suppressed findings, quiet ---------------------------------------


def _finding(line: str, col: int, end_col: int, message: str = "short") -> Finding:
    source = SourceFile("long.yaml", text=f"a: 1\n{line}\n")
    return Finding("EGL101", message, source, Span(2, col, 2, end_col), level="warning")


def _only(*findings: Finding) -> engine.RunResult:
    return engine.RunResult(list(findings), [], files=1, resources=1)


def test_window_keeps_the_caret_visible_and_marks_each_cut() -> None:
    text = "x" * 50 + "TARGET" + "y" * 50
    shown, start, length = window(text, 50, 6, 40)
    assert len(shown) == 40
    assert shown.startswith("...") and shown.endswith("...")
    assert shown[start : start + length] == "TARGET"
    # near the start only the tail is cut; near the end only the head
    head, start, _ = window(text, 2, 3, 40)
    assert head == text[:37] + "..." and start == 2
    tail, start, length = window(text, 100, 6, 40)
    assert tail == "..." + text[-37:] and tail[start : start + length] == "y" * 6
    assert window("short", 1, 2, 40) == ("short", 1, 2)


def test_window_shortens_a_caret_wider_than_the_room() -> None:
    text = "k: " + "v" * 200
    shown, start, length = window(text, 3, 200, 40)
    assert len(shown) <= 40 and start + length <= len(shown)
    assert set(shown[start : start + length]) == {"v"}


def test_long_source_line_is_cut_around_the_caret() -> None:
    line = "  hosts: [" + ", ".join(f"h{i}.example" for i in range(30)) + ", TARGET.example]"
    col = line.index("TARGET") + 1
    f = _finding(line, col, col + len("TARGET.example"))
    lines = render(_only(f), style=Style(width=60)).splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith("    2 | "))
    source, caret = lines[at], lines[at + 1]
    assert len(source) <= 60 and "..." in source
    start = caret.index("^")
    assert source[start : start + len("TARGET.example")] == "TARGET.example"
    assert caret.count("^") == len("TARGET.example")


def test_long_message_wraps_at_spaces_and_every_word_survives() -> None:
    message = " ".join(f"word{i}" for i in range(60)) + " unbreakable-" + "z" * 70
    f = _finding("k: v", 1, 2, message)
    lines = render(_only(f), style=Style(width=50)).splitlines()
    head = lines[: lines.index("    2 | k: v")]
    assert head[0].startswith("long.yaml:2:1: warning EGL101 ")
    assert all(line.startswith("    ") for line in head[1:])  # continuation lines indented
    assert all(len(line) <= 50 for line in head if "zzz" not in line)
    assert " ".join(part.strip() for part in head).count("word") == 60
    assert any("unbreakable-" + "z" * 70 in line for line in head)  # never split


def test_without_a_width_every_finding_stays_on_one_line() -> None:
    message = " ".join(f"word{i}" for i in range(60))
    line = "k: " + "v" * 300
    text = render(_only(_finding(line, 4, 304, message)), style=Style(width=None))
    assert f"warning EGL101 {message} [" in text
    assert line in text and "..." not in text


def test_colour_codes_do_not_count_for_the_width() -> None:
    f = _finding("k: v", 1, 2, " ".join(["word"] * 40))
    plain = render(_only(f), style=Style(width=60)).splitlines()
    coloured = render(_only(f), style=Style(width=60, color=True)).splitlines()
    assert [click.unstyle(line) for line in coloured] == plain
    assert "\x1b[" in coloured[0]


def test_suppressed_findings_are_hidden_and_counted(tmp_path: Path) -> None:
    (tmp_path / "gw.yaml").write_text(WAYPOINT)
    ignored = UNBOUND.format(name="quiet").replace(
        "namespace: apps}",
        "namespace: apps, annotations: {egresslint.io/ignore: 'EGL101=vendor mirror'}}",
    )
    (tmp_path / "a.yaml").write_text(ignored + "---\n" + UNBOUND.format(name="loud"))
    run = _run(tmp_path)
    assert sum(f.suppressed is not None for f in run.findings) == 1
    hidden = render(run)
    assert "EGL101 ServiceEntry apps/loud" in hidden and "apps/quiet" not in hidden
    assert hidden.splitlines()[-1].endswith(
        "; 1 suppressed, not shown (--show-suppressed lists them)"
    )
    shown = render(run, style=Style(show_suppressed=True))
    assert "(suppressed: vendor mirror)" in shown
    assert shown.splitlines()[-1].endswith("; 1 suppressed")


def test_quiet_prints_findings_only(tmp_path: Path) -> None:
    (tmp_path / "gw.yaml").write_text(WAYPOINT)
    (tmp_path / "a.yaml").write_text(UNBOUND.format(name="one"))
    run = _run(tmp_path)
    quiet = render(run, style=Style(quiet=True))
    assert quiet.splitlines()[0].startswith("a.yaml:")
    assert "egresslint:" not in quiet  # no summary
    assert quiet == render(run).rsplit("egresslint: ", 1)[0]
    clean = engine.RunResult([], [], files=1)
    assert render(clean, style=Style(quiet=True)) == ""
