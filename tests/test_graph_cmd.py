"""``egresslint graph``: the drawing model built from the reachability model, and its dot,
mermaid and HTML renderings (the page in a real browser: tests/test_graph_browser.py)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import engine
from egresslint.mesh import reachability
from egresslint.report.draw import html, topology
from egresslint.report.draw.dot import COLOURS
from egresslint.report.draw.mermaid import ARROWS
from egresslint.report.draw.topology import DIRECT, REFUSED, Topology, build

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "fixtures" / "examples" / "broken"
REFUSING = ROOT / "fixtures" / "repos" / "broken-shared-waypoint-refused"
SHOWCASE = ROOT / "docs" / "graph-example"
ASSETS = ROOT / "egresslint" / "report" / "draw" / "assets"

# Kinds that have nothing to do with egress, beside an ordinary waypoint setup: none of them
# may become a node or a resource cited on an edge.
NOT_EGRESS = """\
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector}
webhooks: []
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: istio-validator-istio-system}
webhooks: []
---
apiVersion: v1
kind: Node
metadata: {name: worker-1, labels: {kubernetes.io/hostname: worker-1}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio-waypoint}
spec: {controllerName: istio.io/gateway-controller}
"""


def _run(path: Path) -> engine.RunResult:
    return engine.run(engine.Options(paths=[str(path)], base_dir=str(path), cache=False))


def _draw(path: Path, fmt: str, *extra: str) -> str:
    result = CliRunner().invoke(cli, ["graph", str(path), "--format", fmt, *extra])
    assert result.exit_code == 0, result.output
    return result.stdout


def _node(topo: Topology, kind: str, label: str) -> str:
    return next(n.id for n in topo.nodes.values() if n.kind == kind and n.label == label)


def _edges(topo: Topology, source: str, target: str) -> dict[str, topology.Edge]:
    return {e.verdict: e for e in topo.edges.values() if (e.source, e.target) == (source, target)}


def _cited(topo: Topology, edge: topology.Edge) -> list[str]:
    return [topo.cited[i].ref for i in edge.cited]


@pytest.fixture(scope="module")
def broken() -> Topology:
    return build(_run(BROKEN))


# ---- the drawing model ---------------------------------------------------------------------
def test_every_pair_is_a_path_through_its_proxy(broken: Topology) -> None:
    result = _run(BROKEN)
    assert result.graph is not None
    model = reachability.compute(result.graph)
    assert broken.counts == Counter(p.verdict for p in model.pairs)
    for pair in model.pairs:
        client = _node(broken, "client", pair.client.service_account or "*")
        dest = _node(broken, "destination", pair.destination.label)
        proxy = _node(broken, "proxy", pair.proxy_ref) if pair.proxy_ref else DIRECT
        assert pair.verdict in _edges(broken, client, proxy), pair.key
        assert pair.verdict in _edges(broken, proxy, dest), pair.key
    assert sum(e.count for e in broken.edges.values() if e.segment == "in") == len(model.pairs)


def test_the_network_policy_that_cuts_the_waypoint_off_is_on_its_path(broken: Topology) -> None:
    """EGL301's NetworkPolicy sits on the waypoint's edges out to the hosts it cannot reach,
    not on the clients' edges into the waypoint, and the edges are unreachable."""
    waypoint = _node(broken, "proxy", "Gateway istio-egress/waypoint")
    assert broken.nodes[waypoint].detail == "waypoint (istio-waypoint)"
    cut = "NetworkPolicy istio-egress/deny-direct-egress"
    for port in (80, 443):
        out = _edges(broken, waypoint, _node(broken, "destination", f"aliyun.com:{port}"))
        assert set(out) == {"unreachable"}
        assert cut in _cited(broken, out["unreachable"])
    assert "unreachable \u00b7 1\nNetworkPolicy istio-egress/deny-direct-egress" in {
        broken.label(e) for e in broken.edges.values()
    }
    into = _edges(broken, _node(broken, "client", "sleep"), waypoint)
    assert set(into) == {"unreachable"} and cut not in _cited(broken, into["unreachable"])
    marks = {c.ref: c.findings for c in broken.cited}
    assert "EGL301 error" in marks[cut]


def test_a_direct_path_blocked_by_the_client_network_policy_is_denied(broken: Topology) -> None:
    into = _edges(broken, _node(broken, "client", "sleep"), DIRECT)
    assert set(into) == {"denied"}
    assert _cited(broken, into["denied"])[0] == "NetworkPolicy default/deny-direct-egress"
    assert broken.label(into["denied"]).startswith("denied \u00b7 2\nNetworkPolicy default/")


def test_a_refused_binding_is_drawn_as_refused_beside_the_direct_path() -> None:
    topo = build(_run(REFUSING))
    waypoint = _node(topo, "proxy", "Gateway platform-egress/egress")
    salesforce = _node(topo, "destination", "acme.my.salesforce.com:443")
    refused = _edges(topo, waypoint, salesforce)
    assert set(refused) == {REFUSED}  # never a controlled edge through the waypoint
    assert refused[REFUSED].segment == REFUSED
    assert "Gateway platform-egress/egress" in _cited(topo, refused[REFUSED])
    assert topo.label(refused[REFUSED]).startswith("binding refused \u00b7 1\n")
    assert set(_edges(topo, DIRECT, salesforce)) == {"denied"}  # the path the traffic takes
    segment = _node(topo, "destination", "api.segment.io:443")
    assert set(_edges(topo, waypoint, segment)) == {"controlled"}


REFUSAL_CASES = sorted(
    p for rule in ("EGL103", "EGL104", "EGL105") for p in (ROOT / "fixtures" / rule).glob("bad-*")
)


@pytest.mark.parametrize("case", REFUSAL_CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_refusal_a_rule_reports_is_drawn_refused(case: Path) -> None:
    """The picture and the findings agree: each waypoint that EGL103-EGL105 say refuses a
    binding has a refused edge, and nothing is drawn refused that no finding names."""
    result = engine.run(engine.Options(paths=[str(case)], cache=False))
    topo = build(result)
    refused = {topo.nodes[e.source].label for e in topo.edges.values() if e.verdict == REFUSED}
    rule = case.parent.name
    said = [f.message for f in result.findings if f.rule_id == rule and "refuse" in f.message]
    named = set(re.findall(r"Gateway [\w.-]+/[\w.-]+", " ".join(said)))
    assert refused and refused == named, (refused, named)


def test_kinds_unrelated_to_egress_are_never_drawn(tmp_path: Path) -> None:
    for item in REFUSING.rglob("*.yaml"):
        shutil.copy(item, tmp_path / f"{item.parent.name}-{item.name}")
    (tmp_path / "cluster.yaml").write_text(NOT_EGRESS, encoding="utf-8")
    topo = build(_run(tmp_path))
    shown = [n.label for n in topo.nodes.values()] + [c.ref for c in topo.cited]
    assert shown and not [s for s in shown if re.search(r"Webhook|Node |GatewayClass", s)]
    for fmt in ("dot", "mermaid", "html"):
        text = _draw(tmp_path, fmt)
        assert "worker-1" not in text and "istio-sidecar-injector" not in text, fmt


def test_every_pair_of_the_showcase_has_its_class() -> None:
    topo = build(_run(SHOWCASE))
    assert set(topo.counts) == {"controlled", "denied", "bypass", "unreachable"}
    assert {e.verdict for e in topo.edges.values()} == set(topology.EDGE_CLASSES)
    allow = "AuthorizationPolicy platform-egress/stripe-callers"
    stripe = _node(topo, "destination", "api.stripe.com:443")
    out = _edges(topo, _node(topo, "proxy", "Gateway platform-egress/egress"), stripe)
    assert set(out) == {"controlled", "denied"}
    assert _cited(topo, out["controlled"]) == [allow] == _cited(topo, out["denied"])


# ---- dot and mermaid -----------------------------------------------------------------------
def test_dot(broken: Topology) -> None:
    text = _draw(BROKEN, "dot")
    assert text.startswith("digraph egress {") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    for ident, node in broken.nodes.items():
        shown = re.escape(node.text.replace("\n", "\\n"))
        assert re.search(rf'^\s*"{ident}" \[label="{shown}"', text, re.M), ident
    assert 'subgraph "cluster_client_default"' in text
    edges = re.findall(r'^  "(\w+)" -> "(\w+)" \[label="([^"]*)", color="([^"]+)"', text, re.M)
    assert len(edges) == len(broken.edges)
    for (source, target, label, colour), edge in zip(edges, broken.edges.values(), strict=True):
        assert (source, target) == (edge.source, edge.target)
        assert label.replace("\\n", "\n") == broken.label(edge)
        assert colour == COLOURS[edge.verdict]
    assert re.search(r'-> "d\d" \[label="unreachable[^]]*style=dotted, arrowhead=tee', text)
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg"], input=text, text=True, check=True, capture_output=True)


def test_dot_draws_refused_bindings_dashed_with_a_tee() -> None:
    text = _draw(REFUSING, "dot")
    assert re.search(
        r'"p\d" -> "d\d" \[label="binding refused · 1\\nNamespace crm \+1", color="#57606a",'
        r".*style=dashed, arrowhead=tee",
        text,
    )


def test_mermaid(broken: Topology) -> None:
    text = _draw(BROKEN, "mermaid")
    assert text.startswith("flowchart LR\n")
    for ident in broken.nodes:
        assert re.search(rf"^\s*{ident}[\[(]", text, re.M), ident
    links = re.findall(r"^  (\w+) (-->|--x|-\.->|-\.-x)\|\"([^\"]*)\"\| (\w+)$", text, re.M)
    assert len(links) == len(broken.edges)
    styled: dict[int, str] = {}
    for indexes, colour in re.findall(r"^  linkStyle ([\d,]+) stroke:(#\w+),", text, re.M):
        styled.update(dict.fromkeys(map(int, indexes.split(",")), colour))
    pairs = zip(links, broken.edges.values(), strict=True)
    for i, ((_, arrow, label, _), edge) in enumerate(pairs):
        assert arrow == ARROWS[edge.verdict] and styled[i] == COLOURS[edge.verdict]
        assert label == broken.label(edge).replace("\n", "<br/>")
    assert text.count("subgraph") == text.count("\n  end")


def test_mermaid_escapes_names(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: sleep, namespace: default}\n"
        "spec: {template: {spec: {serviceAccountName: 'sleep <v2> \"x\"'}}}\n",
        encoding="utf-8",
    )
    shutil.copy(BROKEN / "serviceentry.yaml", tmp_path / "serviceentry.yaml")
    text = _draw(tmp_path, "mermaid")
    assert '["sleep #lt;v2#gt; #quot;x#quot;<br/>' in text and "<v2>" not in text


# ---- the HTML page -------------------------------------------------------------------------
def _payload(page: str) -> dict:  # type: ignore[type-arg]
    found = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page, re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_html_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "g.html"
    result = CliRunner().invoke(cli, ["graph", str(BROKEN), "-f", "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "<script src" not in page and "<link" not in page and "sourceMappingURL" not in page
    assert "content=\"default-src 'none';" in page  # the page may load nothing
    assert "cytoscape" in page and "cytoscapeDagre" in page  # the layout library is inlined
    for name in html.LIBRARIES:
        assert html.asset(name) in page


def test_html_data_is_the_drawing_model(broken: Topology) -> None:
    data = _payload(html.render(broken))
    assert data["classes"] == list(topology.EDGE_CLASSES)
    assert data["counts"][:4] == [broken.counts.get(v, 0) for v in reachability.VERDICTS]
    assert len(data["nodes"]) == len(broken.nodes) and data["perClient"] is True
    assert len(data["edges"]) == len(broken.edges)
    waypoint = list(broken.nodes).index(_node(broken, "proxy", "Gateway istio-egress/waypoint"))
    cut = [i for i, c in enumerate(data["cited"]) if c[0].startswith("NetworkPolicy istio-egress")]
    outs = [e for e in data["edges"] if e[0] == waypoint]
    assert outs and all(cut[0] in data["sets"][e[4]] for e in outs)
    # where a person edits it: the egress rules of the second document
    lines = (BROKEN / "networkpolicy.yaml").read_text(encoding="utf-8").splitlines()
    second = lines.index("  namespace: istio-egress")
    line = next(i for i, t in enumerate(lines) if i > second and t == "  egress:") + 1
    ref, file, at, role, found = data["cited"][cut[0]]
    assert (data["files"][file], at) == ("networkpolicy.yaml", line)
    assert data["roles"][role] == "cuts the waypoint off" and found == ["EGL301 error"]


def test_html_sends_namespace_edges_past_the_cap(
    broken: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(html, "CLIENT_EDGE_CAP", 0)
    data = _payload(html.render(broken))
    assert data["perClient"] is False and data["nsEdges"]
    into = [e for e in broken.edges.values() if e.segment == "in"]
    assert sum(e[3] for e in data["nsEdges"]) == sum(e.count for e in into)
    assert len(data["edges"]) == len(broken.edges) - len(into)


def test_html_keeps_hostile_names_inert(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
        'metadata: {name: x, namespace: "</script><script>alert(1)</script><!--"}\n'
        "spec: {hosts: [evil.example], location: MESH_EXTERNAL, resolution: DNS,\n"
        "  ports: [{number: 443, name: tls, protocol: TLS}]}\n",
        encoding="utf-8",
    )
    page = _draw(tmp_path, "html")
    payload = page.split('id="graph-data">', 1)[1].split("</script>", 1)[0]
    assert "alert(1)" in payload and "</script" not in payload and "<!--" not in payload
    assert json.loads(payload)["nodes"]


def test_graph_refuses_a_version_before_ambient() -> None:
    result = CliRunner().invoke(cli, ["graph", str(BROKEN), "--istio-version", "1.10"])
    assert result.exit_code == 2 and "predates ambient" in result.output


# ---- the bundled libraries -----------------------------------------------------------------
def test_bundled_libraries_match_their_sources_note() -> None:
    note = (ASSETS / "SOURCES.md").read_text(encoding="utf-8")
    sums = dict(
        (name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", note, re.M)
    )
    assert set(sums) == set(html.LIBRARIES)
    for name, digest in sums.items():
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest, name
    licences = re.findall(r"\| MIT \| `(LICENSE-[\w-]+\.txt)` \|", note)
    assert len(licences) == 4
    for name in licences:
        assert "Permission is hereby granted" in (ASSETS / name).read_text(encoding="utf-8")


def test_every_asset_ships_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["egresslint.report.draw"]
    shipped = {p.name for g in globs for p in ASSETS.parent.glob(g)}
    assert shipped == {p.name for p in ASSETS.iterdir() if p.is_file()}


# ---- the README ----------------------------------------------------------------------------
def test_readme_shows_the_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/graph.png)" in readme and "docs/graph-example" in readme
    png = (ROOT / "docs" / "graph.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1400, 900)  # --window-size=1400,900


# ---- the upstream corpus -------------------------------------------------------------------
UPSTREAM = ROOT.parent / "shared" / "corpus" / "upstream"


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason=f"upstream corpus not found at {UPSTREAM}")
def test_upstream_corpus_is_not_a_hairball() -> None:
    """Istio's and Gateway API's own YAML: its webhooks, Nodes and GatewayClasses are not drawn,
    and the one client reaches its destinations through a handful of edges (the old topology
    drew 1,062 bypass edges)."""
    topo = build(_run(UPSTREAM))
    shown = [n.label for n in topo.nodes.values()] + [c.ref for c in topo.cited]
    assert not [s for s in shown if re.search(r"Webhook|Node |GatewayClass", s)]
    assert topo.counts["bypass"] > 0 and len(topo.edges) < 3 * len(topo.nodes)
    assert len(topo.of_kind("client")) <= 3
