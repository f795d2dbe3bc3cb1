"""Hostile input: every case ends in a finding or a clean skip, never a traceback or a hang.

Each case is written into a folder beside a copy of a real example repository; the run must
exit 0 or 1, report the case as EGL001/EGL002 (or skip it), and still report the example's own
findings exactly as when it is linted alone. Heavy inputs are generated here, not committed.
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import engine
from egresslint.sources.discover import discover

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "fixtures" / "examples" / "walkthrough-tls-origination"
BROKEN = ROOT / "fixtures" / "examples" / "broken"

SE = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ext
  namespace: apps
spec:
  hosts: [api.example.com]
  ports:
  - number: 443
    name: tls
    protocol: TLS
  resolution: DNS
"""


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def lint(*paths: Path | str, extra: tuple[str, ...] = ()) -> tuple[int, dict[str, Any], str]:
    """Run the CLI with JSON output: (exit code, report, everything printed)."""
    result = CliRunner().invoke(
        cli, ["check", "--format", "json", "--fail-on", "note", *extra, *map(str, paths)]
    )
    out = result.stdout
    assert "Traceback" not in out + result.stderr, out + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1), (result.exit_code, out, result.stderr)
    return result.exit_code, json.loads(out), out + result.stderr


def located(report: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {(f["ruleId"], f["file"], f["region"]["line"]) for f in report["findings"]}


def _mixed(tmp_path: Path, name: str, data: bytes | str) -> tuple[Path, Path]:
    """A folder with the example repository and the hostile file; returns (folder, file)."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root / "real")
    target = root / "hostile" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        target.write_text(data, encoding="utf-8")
    else:
        target.write_bytes(data)
    return root, target


def _baseline(tmp_path: Path) -> set[tuple[str, str, int]]:
    alone = tmp_path / "alone" / "repo"
    shutil.copytree(EXAMPLE, alone / "real")
    cwd = os.getcwd()
    os.chdir(alone)
    try:
        _, report, _ = lint(".")
    finally:
        os.chdir(cwd)
    return {(r, f, line) for r, f, line in located(report) if f.startswith("real/")}


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "\n".join(
        "  " + line for line in lines
    )


def _block_nesting(depth: int) -> str:
    return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "leaf\n"


# name, file content, expected (rule, line) or None for "no finding required", message part
CASES: list[tuple[str, Callable[[], bytes | str], tuple[str, int] | None, str]] = [
    ("alias-bomb.yaml", _alias_bomb, ("EGL001", 9), "billion laughs"),
    (
        "long-line.yaml",
        lambda: (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  k: '"
            + "x" * 5_000_000
            + "'\n"
        ),
        None,
        "",
    ),
    (
        "many-docs.yaml",
        lambda: "".join(
            f"---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: sa{i}, namespace: apps}}\n"
            for i in range(20_000)
        ),
        None,
        "",
    ),
    ("flow-5000.yaml", lambda: "[" * 5000 + "]" * 5000 + "\n", ("EGL001", 1), "nested more than"),
    ("flow-60000.yaml", lambda: "[" * 60000 + "]" * 60000 + "\n", ("EGL001", 1), "nested more"),
    ("block-1500.yaml", lambda: _block_nesting(1500), ("EGL001", 201), "nested more than"),
    (
        "huge-int.yaml",
        lambda: (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  uid: " + "9" * 50_000 + "\n"
        ),
        ("EGL001", 5),
        "digits",
    ),
    (
        "big-port.yaml",
        lambda: SE.replace("number: 443", "number: " + "9" * 400),
        None,
        "",
    ),
    ("binary.yaml", lambda: bytes(range(256)) * 40, ("EGL001", 1), "binary"),
    (
        "latin1.yaml",
        lambda: "apiVersion: v1\nkind: Namespace\nmetadata: {name: caf\xe9}\n".encode("latin-1"),
        ("EGL001", 3),  # at the byte that is not UTF-8
        "UTF-8",
    ),
    (
        "tabs.yaml",
        lambda: "apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: t\n",
        ("EGL001", 4),
        "YAML",
    ),
    (
        "dup.yaml",
        lambda: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  name: b\n",
        ("EGL002", 5),
        "Duplicate key 'name'",
    ),
    (
        "unclosed.yaml",
        lambda: "apiVersion: v1\nkind: Namespace\nmetadata: {name: a\n",
        ("EGL001", 3),
        "flow mapping",
    ),
    (
        "unclosed-seq.yaml",
        lambda: "apiVersion: v1\nkind: Namespace\nmetadata:\n  labels: [a, b\n",
        ("EGL001", 4),
        "YAML",
    ),
    (
        "helm.yaml",
        lambda: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ .Values.name }}\n",
        ("EGL001", 4),
        "template",
    ),
    (
        "custom-tag.yaml",
        lambda: "apiVersion: v1\nkind: Namespace\nmetadata: !Ref x\n",
        ("EGL001", 3),
        "!Ref",
    ),
]


@pytest.mark.parametrize("name,make,expected,message", CASES, ids=[c[0] for c in CASES])
def test_hostile_file_mixed_with_real_manifests(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    make: Callable[[], bytes | str],
    expected: tuple[str, int] | None,
    message: str,
) -> None:
    baseline = _baseline(tmp_path)
    root, _ = _mixed(tmp_path, name, make())
    monkeypatch.chdir(root)
    code, report, _ = lint(".")
    found = located(report)
    assert baseline <= found, "the real manifests lost findings"
    assert not report["internalErrors"]
    mine = [f for f in report["findings"] if f["file"] == f"hostile/{name}"]
    if expected is not None:
        rule, line = expected
        hits = [f for f in mine if f["ruleId"] == rule and f["region"]["line"] == line]
        assert hits, mine
        assert message in hits[0]["message"], hits[0]["message"]
        assert code == 1
    for f in mine:
        assert f["region"]["line"] >= 1 and f["region"]["column"] >= 1


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    data = codecs.BOM_UTF16_LE + SE.encode("utf-16-le")
    root, _ = _mixed(tmp_path, "utf16.yaml", data)
    _, report, _ = lint(root)
    assert report["summary"]["resources"] >= 10  # the example's 9 and the ServiceEntry
    assert not [f for f in report["findings"] if f["ruleId"] == "EGL001"]


def test_python_tags_are_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    doc = (
        f'!!python/object/apply:os.system ["touch {marker}"]\n---\n'
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n"
        f'data: !!python/object/apply:builtins.open ["{marker}", "w"]\n---\n'
        f'!!python/object/new:subprocess.Popen [["touch", "{marker}"]]\n'
    )
    root, _ = _mixed(tmp_path, "python.yaml", doc)
    code, report, _ = lint(root)
    assert not marker.exists()
    mine = [f for f in report["findings"] if f["file"].endswith("python.yaml")]
    assert [f["region"]["line"] for f in mine if f["ruleId"] == "EGL001"] == [1, 6, 8]
    assert "never constructed" in mine[0]["message"]
    assert code == 1


WRONG_SHAPES = """\
42
---
- a
- b
---
"just a string"
---
apiVersion: v1
kind: Namespace
metadata: [1, 2]
spec: 3
---
apiVersion: 3
kind: [ServiceEntry]
metadata: {name: x}
---
kind: ServiceEntry
metadata: {name: no-api}
---
apiVersion: networking.istio.io/v1
metadata: {name: no-kind}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: odd-labels
  namespace: apps
  labels: {a: 1, b: [1], c: null, 5: x, istio.io/use-waypoint: 7}
spec: [1]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: "text"
spec: {hosts: [1, null, {a: b}], ports: [null, 3, {number: x}, {number: 99999999999999999999}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: 12, namespace: [x], labels: "a=b"}
spec: {hosts: "api.example.com", ports: {number: 443}, location: 5, resolution: [DNS]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap, namespace: apps}
spec:
  targetRefs: [null, 3, {kind: 4, name: null}, "x", [1]]
  targetRef: 5
  rules: [null, 1, {from: 3, to: [null, {operation: 5}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr, namespace: apps}
spec: {host: 5, trafficPolicy: {portLevelSettings: [null, 1, {port: x, tls: 3}]}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: apps}
spec: {hosts: [null, 1], http: 3, tls: [null]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: apps, labels: null}
spec: {gatewayClassName: 7, listeners: [null, 1, {port: x, protocol: [HBONE]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np, namespace: apps}
spec: {podSelector: [1], egress: [null, {to: 3, ports: [null, {port: []}]}], policyTypes: 5}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: apps}
spec: {template: {metadata: {labels: [1]}, spec: {containers: 5, serviceAccountName: [x]}}}
---
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: [1]}}
---
apiVersion: v1
kind: List
items: [null, 3, {apiVersion: v1, kind: Namespace, metadata: 5}]
"""


def test_wrong_shapes_run_every_rule_without_crashing(tmp_path: Path) -> None:
    (tmp_path / "shapes.yaml").write_text(WRONG_SHAPES, encoding="utf-8")
    for mode in (None, "solo-ztunnel-egress", "istio-waypoint", "enterprise-agentgateway-waypoint"):
        options = engine.Options(paths=[str(tmp_path)], mode=mode, cache=False)
        result = engine.run(options)
        assert not result.internal_errors, result.internal_errors
        lines = len(WRONG_SHAPES.splitlines())
        for f in result.findings:
            assert 1 <= f.span.line <= lines and f.span.col >= 1, f
    code, report, _ = lint(tmp_path)
    assert code == 1 and report["findings"]


def test_fifo_is_never_opened(tmp_path: Path) -> None:
    root, _ = _mixed(tmp_path, "ok.yaml", SE)
    os.mkfifo(root / "hostile" / "pipe.yaml")  # opening it for reading would block forever
    (root / "hostile" / "folder.yaml").mkdir()
    (root / "hostile" / "folder.yaml" / "inner.yaml").write_text(SE.replace("ext", "inner"))
    _, report, _ = lint(root)
    files = {f["file"] for f in report["findings"]}
    assert not any("pipe.yaml" in f for f in files)
    assert report["summary"]["files"] == 6 + 2  # the example, ok.yaml, folder.yaml/inner.yaml


def test_symlink_loops_and_links_to_parents(tmp_path: Path) -> None:
    root, _ = _mixed(tmp_path, "ok.yaml", SE)
    (root / "hostile" / "loop.yaml").symlink_to("loop.yaml")
    (root / "hostile" / "a.yaml").symlink_to("b.yaml")
    (root / "hostile" / "b.yaml").symlink_to("a.yaml")
    (root / "hostile" / "up").symlink_to("..")
    (root / "hostile" / "dangling.yaml").symlink_to("missing.yaml")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(SE.replace("ext", "secret"))
    (root / "hostile" / "out.yaml").symlink_to(outside / "secret.yaml")
    (root / "hostile" / "outdir").symlink_to(outside)
    _, report, text = lint(root)
    assert report["summary"]["files"] == 7
    assert "secret" not in json.dumps(report["findings"])
    assert any("outside" in s["reason"] for s in report["skipped"]) or "outside" in text


def test_file_vanishing_or_unreadable_after_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, target = _mixed(tmp_path, "gone.yaml", SE)
    (root / "hostile" / "locked.yaml").write_text(SE.replace("ext", "locked"))
    real_open = open

    def flaky_open(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        name = str(file)
        if name.endswith("gone.yaml") and "b" in mode:
            raise FileNotFoundError(2, "No such file or directory")
        if name.endswith("locked.yaml") and "b" in mode:
            raise PermissionError(13, "Permission denied")
        return real_open(file, mode, *args, **kw)

    monkeypatch.setattr("builtins.open", flaky_open)
    _, report, _ = lint(root, extra=("--no-cache",))
    by_file = {f["file"]: f for f in report["findings"] if f["ruleId"] == "EGL001"}
    gone = [v for k, v in by_file.items() if k.endswith("gone.yaml")]
    locked = [v for k, v in by_file.items() if k.endswith("locked.yaml")]
    assert gone and "No such file" in gone[0]["message"]
    assert locked and "Permission denied" in locked[0]["message"]
    assert target.read_text() == SE


def test_inputs_are_never_written(tmp_path: Path) -> None:
    root, _ = _mixed(
        tmp_path, "dup.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, name: b}\n"
    )
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
    for extra in ((), ("--no-cache",), ("--format", "sarif")):
        CliRunner().invoke(cli, ["check", *extra, str(root)])
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
    assert before == after


def test_a_file_reached_twice_is_read_once(tmp_path: Path) -> None:
    root, target = _mixed(tmp_path, "twice.yaml", SE)
    (root / "zz").mkdir()
    (root / "zz" / "alias.yaml").symlink_to(target)  # listed after the hostile/ folder
    paths = [str(root), str(target), str(root / "zz" / "alias.yaml")]
    items = list(discover(paths, base=str(root)))
    shown = [i.shown for i in items]
    assert "hostile/twice.yaml" in shown and len(shown) == len(set(shown))
    assert "zz/alias.yaml" not in shown  # the same file as hostile/twice.yaml, met first


LONE_SURROGATE = SE.replace("name: ext", 'name: "bad\\ud800name"').replace(
    "resolution: DNS", "resolution: DNS_LOOKUP"
)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_text_that_utf8_cannot_carry_is_escaped_in_reports(tmp_path: Path, fmt: str) -> None:
    """A YAML escape for a lone surrogate, and a file name that is not UTF-8, reach messages
    and paths; reports still come out as valid UTF-8 (backslash escapes), from a fresh run
    and from the run cache alike."""
    assert 'name: "bad\\ud800name"' in LONE_SURROGATE
    (tmp_path / "surrogate.yaml").write_text(LONE_SURROGATE, encoding="utf-8")
    name = os.fsdecode(b"latin-\xff.yaml")
    (tmp_path / name).write_text(SE.replace("resolution: DNS", "resolution: DNS_LOOKUP"))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    outputs = []
    for extra in ((), ("-o", str(tmp_path / f"out.{fmt}"))) * 2:  # the second pair is cached
        cmd = [sys.executable, "-m", "egresslint", "check", "-f", fmt, *extra, str(tmp_path)]
        proc = subprocess.run(cmd, capture_output=True, env=env, cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr.decode("utf-8", "replace")
        data = proc.stdout if not extra else (tmp_path / f"out.{fmt}").read_bytes()
        text = data.decode("utf-8")  # strict: never a lone surrogate or a raw 0xff byte
        # SARIF names files by URI: the byte 0xff of the file name is percent-encoded there
        shown = "latin-%FF.yaml" if fmt == "sarif" else "latin-\\udcff.yaml"
        assert "bad\\ud800name" in text and shown in text
        outputs.append(text)
        if fmt in ("json", "sarif"):
            json.loads(text)
    assert outputs[0] == outputs[2] and outputs[1] == outputs[3]


@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_baselines_round_trip_text_that_utf8_cannot_carry(tmp_path: Path, suffix: str) -> None:
    (tmp_path / "surrogate.yaml").write_text(LONE_SURROGATE, encoding="utf-8")
    baseline = tmp_path / f"baseline.{suffix}"
    runner = CliRunner()
    wrote = runner.invoke(cli, ["check", "--write-baseline", str(baseline), str(tmp_path)])
    assert wrote.exit_code == 0, wrote.output
    baseline.read_bytes().decode("utf-8")  # strict
    again = runner.invoke(cli, ["check", "--baseline", str(baseline), str(tmp_path)])
    assert again.exit_code == 0 and "1 finding(s) recorded in the baseline" in again.output


def test_a_folder_that_cannot_be_listed_is_reported_and_the_rest_linted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = _mixed(tmp_path, "ok.yaml", SE)
    (root / "locked").mkdir()
    (root / "locked" / "hidden.yaml").write_text(SE.replace("ext", "hidden"))
    real_scandir = os.scandir

    def refusing(path: Any = ".") -> Any:
        if str(path).endswith("locked"):  # as for a folder without read permission
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    code, report, _ = lint(root, extra=("--no-cache",))
    assert code == 1 and report["summary"]["files"] == 6 + 1
    reasons = {s["file"].rsplit("/", 1)[-1]: s["reason"] for s in report["skipped"]}
    assert reasons["locked"] == "folder cannot be listed (Permission denied)"
    assert "hidden" not in json.dumps(report["findings"])
