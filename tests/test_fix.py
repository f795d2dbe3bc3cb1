"""``egresslint fix``: mechanical fixes that leave every unrelated byte of the file alone."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.fix import fixer
from egresslint.lint import engine
from egresslint.lint.edits import set_annotation, set_key, set_label
from egresslint.lint.registry import all_rules
from egresslint.model import Resource, SourceFile
from egresslint.parse import loader

SE = """\
# ServiceEntry for the Aliyun API; owned by team egress
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: aliyun   # keep in sync with the DR
  namespace: istio-egress
  labels: {team: "egress",  tier: 'ext'}
spec:
  hosts: [ aliyun.com ]
  ports:
  - number: 80
    name: "http"
    protocol: HTTP  # plain HTTP from the app
    # TLS is originated by the waypoint

  resolution: DNS
  endpoints: ~
"""

DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: aliyun
  namespace: istio-egress
spec:
  host: aliyun.com
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls:
        mode: SIMPLE
"""


def _write(path: Path, text: str, newline: str = "\n", bom: bool = False) -> bytes:
    data = (codecs.BOM_UTF8 if bom else b"") + text.replace("\n", newline).encode()
    path.write_bytes(data)
    return data


def _plan(root: Path) -> fixer.FixReport:
    return fixer.plan(engine.Options(paths=[str(root)], base_dir=str(root)))


def _only_insertions(old: bytes, new: bytes) -> list[bytes]:
    """The lines added to ``old``; fails if any line of ``old`` changed or disappeared."""
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    added, i = [], 0
    for line in new_lines:
        if i < len(old_lines) and line == old_lines[i]:
            i += 1
        else:
            added.append(line)
    assert i == len(old_lines), "a line of the original file changed or disappeared"
    return added


def test_unrelated_bytes_are_kept(tmp_path: Path) -> None:
    old = _write(tmp_path / "se.yaml", SE)
    _write(tmp_path / "dr.yaml", DR)
    report = _plan(tmp_path)
    assert not report.refused
    (item,) = report.files
    assert item.path == "se.yaml"
    assert _only_insertions(old, item.new) == [b"    targetPort: 443\n"]
    lines = item.new.decode().splitlines()
    # inserted after the last key of the port, before the comment lines that followed it
    assert lines[12:15] == [
        "    protocol: HTTP  # plain HTTP from the app",
        "    targetPort: 443",
        "    # TLS is originated by the waypoint",
    ]


def test_flow_mapping_port(tmp_path: Path) -> None:
    text = SE.replace(
        '  - number: 80\n    name: "http"\n    protocol: HTTP  # plain HTTP from the app\n',
        "  - {number: 80, name: http, protocol: HTTP}  # the app's port\n",
    )
    old = _write(tmp_path / "se.yaml", text)
    _write(tmp_path / "dr.yaml", DR)
    (item,) = _plan(tmp_path).files
    changed = [
        (a, b) for a, b in zip(old.splitlines(), item.new.splitlines(), strict=True) if a != b
    ]
    ((before, after),) = changed
    assert before == b"  - {number: 80, name: http, protocol: HTTP}  # the app's port"
    # the comment keeps its text; it moves right as far as the longer line needs
    assert after.startswith(b"  - {number: 80, name: http, protocol: HTTP, targetPort: 443} ")
    assert after.endswith(b" # the app's port")


def test_crlf_and_bom(tmp_path: Path) -> None:
    old = _write(tmp_path / "se.yaml", SE, newline="\r\n", bom=True)
    _write(tmp_path / "dr.yaml", DR, newline="\r\n")
    (item,) = _plan(tmp_path).files
    assert item.new.startswith(codecs.BOM_UTF8)
    assert _only_insertions(old, item.new) == [b"    targetPort: 443\r\n"]
    assert item.new.count(b"\n") == item.new.count(b"\r\n")


def test_target_in_second_document_with_markers(tmp_path: Path) -> None:
    first = "%YAML 1.1\n---\n# unrelated\napiVersion: v1\nkind: Namespace\nmetadata: { name: istio-egress }\n...\n"
    text = first + "--- # the ServiceEntry\n" + SE + "---\n" + DR + "...\n"
    old = _write(tmp_path / "all.yaml", text)
    report = _plan(tmp_path)
    assert not report.refused
    (item,) = report.files
    assert _only_insertions(old, item.new) == [b"    targetPort: 443\n"]


def test_kind_list_item(tmp_path: Path) -> None:
    lines = SE.splitlines()[1:]
    items = "\n".join(["- " + lines[0]] + ["  " + line if line else "" for line in lines[1:]])
    text = (
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
        f"  metadata: {{name: x}}\n{items}\n"
    )
    old = _write(tmp_path / "list.yaml", text)
    _write(tmp_path / "dr.yaml", DR)
    report = _plan(tmp_path)
    assert not report.refused, report.refused
    (item,) = report.files
    assert _only_insertions(old, item.new) == [b"      targetPort: 443\n"]


def test_diff_write_and_idempotence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    old = _write(tmp_path / "se.yaml", SE)
    _write(tmp_path / "dr.yaml", DR)
    runner = CliRunner()
    shown = runner.invoke(cli, ["fix", "."])
    assert shown.exit_code == 1, shown.output
    assert "--- a/se.yaml\n+++ b/se.yaml\n" in shown.stdout
    assert "+    targetPort: 443\n" in shown.stdout
    assert "fixed EGL201: add targetPort: 443 to port 80 of ServiceEntry" in shown.stderr
    assert (tmp_path / "se.yaml").read_bytes() == old  # a diff changes nothing

    written = runner.invoke(cli, ["fix", "--write", "."])
    assert written.exit_code == 0, written.output
    assert "se.yaml:12:15: fixed EGL201" in written.stdout or "fixed EGL201" in written.stdout
    assert _only_insertions(old, (tmp_path / "se.yaml").read_bytes()) == [b"    targetPort: 443\n"]

    again = runner.invoke(cli, ["fix", "."])
    assert again.exit_code == 0 and again.stdout == ""
    assert "nothing to fix" in again.stderr
    check = runner.invoke(cli, ["check", "--select", "EGL201", "."])
    assert check.exit_code == 0, check.output


def test_parse_error_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    old = _write(tmp_path / "se.yaml", SE + "---\nbroken: [unclosed\n")
    _write(tmp_path / "dr.yaml", DR)
    result = CliRunner().invoke(cli, ["fix", "--write", "."])
    assert result.exit_code == 1
    assert "not fixed: se.yaml: the file has a YAML error" in result.stderr
    assert (tmp_path / "se.yaml").read_bytes() == old


def test_stdin_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["fix", "--write", "-"], input=SE + "---\n" + DR)
    assert result.exit_code == 1
    assert "not fixed: <stdin>: standard input is never changed" in result.stderr


def test_mixed_line_endings_are_refused(tmp_path: Path) -> None:
    (tmp_path / "se.yaml").write_bytes(SE.encode().replace(b"\n", b"\r\n", 3))
    _write(tmp_path / "dr.yaml", DR)
    report = _plan(tmp_path)
    assert not report.files
    assert report.refused == [("se.yaml", "the file mixes CRLF and LF line endings; not changed")]


# ---- generic edit kinds, with synthetic edits -----------------------------------------------
def _resources(text: str) -> list[Resource]:
    return loader.parse_text(text, SourceFile("x.yaml")).resources


def _apply(text: str, edits_for: object) -> str:
    resources = _resources(text)
    edits = edits_for(resources)  # type: ignore[operator]
    return fixer.apply_edits(text.encode(), resources[0].file, edits).decode()


GW = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint   # the agentgateway waypoint
  namespace: istio-egress
  labels:
    istio.io/waypoint-for: service  # set by hand
    app: "waypoint"
spec:
  gatewayClassName: enterprise-agentgateway-waypoint
"""


def test_set_existing_label_value() -> None:
    out = _apply(GW, lambda rs: [set_label(rs[0], "istio.io/waypoint-for", "all")])
    # the end-of-line comment stays in its column
    assert out == GW.replace("waypoint-for: service  #", "waypoint-for: all      #")


def test_add_label_to_existing_labels() -> None:
    out = _apply(GW, lambda rs: [set_label(rs[0], "istio.io/use-waypoint-namespace", "egress")])
    assert out == GW.replace(
        '    app: "waypoint"\n',
        '    app: "waypoint"\n    istio.io/use-waypoint-namespace: egress\n',
    )


def test_add_label_creates_labels_mapping() -> None:
    ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps  # tenant\n  annotations: {a: b}\n"
    out = _apply(ns, lambda rs: [set_label(rs[0], "istio.io/use-waypoint-namespace", "egress")])
    assert out == ns.replace(
        "# tenant\n", "# tenant\n  labels:\n    istio.io/use-waypoint-namespace: egress\n"
    )


def test_set_annotation_and_key_after() -> None:
    out = _apply(
        GW,
        lambda rs: [
            set_annotation(rs[0], "note", "x"),
            set_key(rs[0], ("spec",), "listeners", "none", "d", after=("gatewayClassName",)),
        ],
    )
    assert "  annotations:\n    note: x\nspec:\n" in out
    assert out.endswith("  gatewayClassName: enterprise-agentgateway-waypoint\n  listeners: none\n")


def test_edit_already_in_place_changes_nothing() -> None:
    out = _apply(GW, lambda rs: [set_label(rs[0], "app", "waypoint")])
    assert out == GW


def test_every_fixable_rule_has_a_fix() -> None:
    for rule in all_rules():
        if rule.fixable:
            assert callable(fixer.fix_function(rule.id)), rule.id


def test_rules_and_explain_show_fixable() -> None:
    runner = CliRunner()
    assert "EGL201" in next(
        line for line in runner.invoke(cli, ["rules"]).stdout.splitlines() if "[fix]" in line
    ) or any("[fix]" in ln for ln in runner.invoke(cli, ["rules"]).stdout.splitlines())
    assert "Fixable: yes" in runner.invoke(cli, ["explain", "EGL201"]).stdout


def test_use_waypoint_namespace_label_fix(tmp_path: Path) -> None:
    """EGL403 (ztunnel egress mode, Gateway elsewhere): bind through istio-system."""
    text = (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: payments\n"
        "  namespace: shop\n  labels:\n    istio.io/use-waypoint: ztunnel-egress\nspec:\n"
        "  hosts: [api.payments.example]\n"
    )
    old = _write(tmp_path / "se.yaml", text)
    options = engine.Options(
        paths=[str(tmp_path)], base_dir=str(tmp_path), mode="solo-ztunnel-egress"
    )
    (item,) = fixer.plan(options).files
    assert _only_insertions(old, item.new) == [
        b"    istio.io/use-waypoint-namespace: istio-system\n"
    ]


def test_waypoint_for_all_fix(tmp_path: Path) -> None:
    """EGL406: an agentgateway waypoint without the label gets it, other lines unchanged."""
    text = GW.replace("    istio.io/waypoint-for: service  # set by hand\n", "")
    old = _write(tmp_path / "gw.yaml", text)
    (item,) = _plan(tmp_path).files
    assert _only_insertions(old, item.new) == [b"    istio.io/waypoint-for: all\n"]


WAYPOINT_ELSEWHERE = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: waypoint, namespace: istio-egress}}
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - name: mesh
    port: 15008
    protocol: HBONE
    allowedRoutes: {{namespaces: {{from: {admits}}}}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels:
    istio.io/dataplane-mode: ambient
    istio.io/use-waypoint: waypoint
"""


@pytest.mark.parametrize(("admits", "fixed"), [("All", True), ("Same", False)])
def test_egl102_fix_names_the_one_waypoint_that_admits_the_binding(
    tmp_path: Path, admits: str, fixed: bool
) -> None:
    """The fix reads the view's graph: it adds use-waypoint-namespace only when exactly one
    Gateway of that name exists elsewhere and admits the namespace."""
    (tmp_path / "mesh.yaml").write_text(WAYPOINT_ELSEWHERE.format(admits=admits))
    report = _plan(tmp_path)
    new = [f.new.decode() for f in report.files]
    if fixed:
        assert len(new) == 1 and "istio.io/use-waypoint-namespace: istio-egress" in new[0]
    else:
        assert new == []
