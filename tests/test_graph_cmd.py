"""``egresslint graph``: dot and mermaid structure, and the HTML page in a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import engine
from egresslint.report.draw import topology as draw
from egresslint.report.draw.topology import build

MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata:
  name: apps
  labels: {istio.io/dataplane-mode: ambient}
---
apiVersion: v1
kind: Namespace
metadata:
  name: istio-egress
  labels: {istio.io/dataplane-mode: ambient}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: "sleep <v2>", namespace: apps}
spec:
  selector: {matchLabels: {app: sleep}}
  template:
    metadata: {labels: {app: sleep}}
    spec: {containers: [{name: sleep, image: curl}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: istio-egress}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: bound
  namespace: istio-egress
  labels: {istio.io/use-waypoint: waypoint}
spec:
  hosts: [api.bound.example]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: direct, namespace: istio-egress}
spec:
  hosts: [packages.example.org]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "all.yaml").write_text(MANIFESTS)
    return tmp_path


def _draw(repo: Path, fmt: str) -> str:
    result = CliRunner().invoke(cli, ["graph", str(repo), "--format", fmt])
    assert result.exit_code == 0, result.output
    return result.stdout


def _topology(repo: Path):  # type: ignore[no-untyped-def]
    return build(engine.run(engine.Options(paths=[str(repo)], base_dir=str(repo))))


def test_topology(repo: Path) -> None:
    topo = _topology(repo)
    names = {n.name for n in topo.nodes.values()}
    assert {"apps", "istio-egress", "apps/sleep <v2>", "istio-egress/waypoint"} <= names
    assert {
        "istio-egress/bound",
        "istio-egress/direct",
        "api.bound.example",
        "packages.example.org",
    } <= names
    gw = next(n for n in topo.nodes.values() if n.name == "istio-egress/waypoint")
    assert gw.title == "waypoint (istio-waypoint)"
    direct = next(n for n in topo.nodes.values() if n.name == "istio-egress/direct")
    assert "EGL101" in direct.rule_ids and direct.level == "warning"
    bypass = {(e.source, e.target) for e in topo.edges if e.bypass}
    assert bypass == {("ns_apps", "host_packages_example_org")}


def test_dot(repo: Path) -> None:
    text = _draw(repo, "dot")
    assert text.startswith("digraph egress {") and text.rstrip().endswith("}")
    for ident in _topology(repo).nodes:
        assert re.search(rf'^\s*"{ident}" \[label=', text, re.M), ident
    assert 'subgraph "cluster_ns_apps"' in text
    assert re.search(
        r'"ns_apps" -> "host_packages_example_org" \[label="bypass",.*style=dashed', text
    )
    assert '"Deployment_apps_sleep_v2" [label="Deployment\\napps/sleep <v2>"' in text
    assert text.count("{") == text.count("}")
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg"], input=text, text=True, check=True, capture_output=True)


def test_mermaid(repo: Path) -> None:
    text = _draw(repo, "mermaid")
    assert text.startswith("flowchart LR\n")
    for ident in _topology(repo).nodes:
        assert re.search(rf"^\s*{ident}[\[(]", text, re.M), ident
    assert "apps/sleep #lt;v2#gt;" in text  # escaped, not raw markup
    assert "ns_apps -.->|bypass| host_packages_example_org" in text
    assert re.search(r"^  linkStyle \d+ stroke:#d73a49", text, re.M)
    assert text.count("subgraph") == text.count("\n  end")


def test_html_is_self_contained(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.html"
    result = CliRunner().invoke(cli, ["graph", str(repo), "-f", "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<script src" not in page and "<link" not in page


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not on PATH")
def test_html_in_headless_chromium(repo: Path, tmp_path: Path) -> None:
    page = tmp_path / "graph.html"
    CliRunner().invoke(cli, ["graph", str(repo), "-f", "html", "-o", str(page)])
    assert CHROMIUM is not None
    run = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=2000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = run.stdout
    assert run.returncode == 0 and "<svg" in dom, run.stderr[-2000:]
    topo = _topology(repo)
    # the script ran to its end, counted one SVG group per node, and saw no error
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None
    assert f'data-rendered="{len(topo.nodes)}"' in body.group(0)
    assert "data-errors" not in body.group(0)
    assert not re.search(r"CONSOLE\(\d+\)|Uncaught", run.stderr), run.stderr[-2000:]
    for node in topo.nodes.values():
        assert f'id="{node.id}"' in dom, node.id
        shown = node.name.replace("<", "&lt;").replace(">", "&gt;")
        assert f">{shown}</text>" in dom, node.name
    assert dom.count('class="edge bypass"') == 1


def test_bypass_edges_are_drawn_once_without_comparing_edges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bypass edges (namespace with workloads -> external host) are deduplicated by a set:
    comparing each new one with every edge drawn made a 10k-resource drawing take minutes."""
    docs = []
    for i in range(12):
        docs.append(
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d, namespace: ns{i}}}\n"
            "spec: {template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c}]}}}\n"
        )
    for i in range(20):
        docs.append(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
            f"metadata: {{name: se{i}, namespace: ns{i % 3}}}\n"
            f"spec: {{hosts: [h{i % 5}.example.org], ports: [{{number: 443, name: tls, "
            "protocol: TLS}], resolution: DNS}\n"
        )
    (tmp_path / "all.yaml").write_text("---\n".join(docs), encoding="utf-8")
    compared: list[int] = []
    real_eq = draw.Edge.__eq__
    monkeypatch.setattr(draw.Edge, "__eq__", lambda a, b: compared.append(1) or real_eq(a, b))
    topo = build(engine.run(engine.Options(paths=[str(tmp_path)], cache=False)))
    bypass = [(e.source, e.target) for e in topo.edges if e.bypass]
    assert len(bypass) == len(set(bypass)) == 12 * 5 and not compared
