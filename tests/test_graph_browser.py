"""The ``egresslint graph`` page in Debian's headless Chromium (tests/browser_support.py):
it draws without a console error, its legend holds every verdict class with its count, it is
drawn in under 5 s, and its filters and groups work; for a broken fixture, for the example of
the README (every class), and for a 10,000-resource corpus (``../shared/bench/gen_corpus.py``).

``EGRESSLINT_GRAPH_SCREENSHOT=docs/graph.png`` makes the example's test write the README's
screenshot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import CHROMIUM, Browser
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.report.draw import html, topology

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "fixtures" / "examples" / "broken"
SHOWCASE = ROOT / "docs" / "graph-example"
GENERATOR = ROOT.parent / "shared" / "bench" / "gen_corpus.py"
RENDER_BUDGET_MS = 5000
PAGE_BUDGET = 3 * 1024 * 1024  # bytes, at 10,000 resources

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not on PATH (.ci/run installs it as root)"
)

READY = "document.body && document.body.dataset.renderMs"
SUMMARY = """JSON.stringify({
  errors: document.body.dataset.errors || "",
  renderMs: Number(document.body.dataset.renderMs),
  legend: [...document.querySelectorAll("#legend label")].map((l) => [l.dataset.class, l.textContent]),
  banner: document.getElementById("banner").hidden ? "" : document.getElementById("banner").textContent,
  nodes: egresslint.cy.nodes().map((n) => n.id()),
  edges: egresslint.cy.edges().map((e) => [e.source().id(), e.target().id(), e.data("cls"), e.data("text")]),
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    found = Browser()
    yield found
    found.close()


def _page(source: Path, out: Path, *options: str) -> Path:
    result = CliRunner().invoke(cli, ["graph", str(source), "-f", "html", "-o", str(out), *options])
    assert result.exit_code == 0, result.output
    return out


def _data(page: Path) -> dict[str, Any]:
    text = page.read_text(encoding="utf-8")
    payload = text.split('<script type="application/json" id="graph-data">', 1)[1]
    return dict(json.loads(payload.split("</script>", 1)[0]))


def _show(browser: Browser, page: Path) -> dict[str, Any]:
    """Open the page, wait until it has drawn, and check what every page must hold."""
    browser.events.clear()
    browser.open(page, READY)
    seen = dict(json.loads(browser.evaluate(SUMMARY)))
    assert seen["errors"] == "" and browser.errors() == [], (seen["errors"], browser.errors())
    assert browser.requests() == [page.resolve().as_uri()]  # works offline: loads nothing else
    assert 0 < seen["renderMs"] < RENDER_BUDGET_MS, seen["renderMs"]
    data = _data(page)
    assert [c for c, _ in seen["legend"]] == list(topology.EDGE_CLASSES)
    for (cls, text), count in zip(seen["legend"], data["counts"], strict=True):
        name = "refused binding" if cls == "refused" else cls
        assert text.strip() == f"{name} {count}", text
    return seen


def _tap(browser: Browser, ident: str) -> None:
    browser.evaluate(f"void egresslint.cy.getElementById({json.dumps(ident)}).emit('tap')")


def _classes(seen: dict[str, Any]) -> set[str]:
    return {topology.EDGE_CLASSES[cls] for _, _, cls, _ in seen["edges"]}


def test_broken_fixture(browser: Browser, tmp_path: Path) -> None:
    page = _page(BROKEN, tmp_path / "broken.html")
    seen = _show(browser, page)
    assert seen["banner"] == ""  # small: everything is drawn
    assert _classes(seen) == {"denied", "unreachable"}
    # opens at namespace level: the namespace, not its client
    assert "gc:default" in seen["nodes"] and not any(n.startswith("open-") for n in seen["nodes"])
    waypoint = next(
        f"n{i}"
        for i, n in enumerate(_data(page)["nodes"])
        if n[1].endswith("istio-egress/waypoint")
    )
    out = [e for e in seen["edges"] if e[0] == waypoint]
    assert [e[1] for e in out] == ["gd:istio-egress"] and out[0][3].startswith(
        "unreachable \u00b7 2"
    )
    # clicking the edge lists the resources behind it, with file and line
    edge = browser.evaluate(
        f"egresslint.cy.edges().filter((e) => e.source().id() === '{waypoint}')[0].id()"
    )
    _tap(browser, edge)
    details = browser.evaluate("document.getElementById('details').textContent")
    assert "NetworkPolicy istio-egress/deny-direct-egress" in details
    assert "networkpolicy.yaml:24" in details and "EGL301" in details


def test_groups_open_on_click_and_filters_narrow(browser: Browser, tmp_path: Path) -> None:
    page = _page(SHOWCASE, tmp_path / "showcase.html")
    _show(browser, page)
    drawn = "JSON.stringify(egresslint.cy.nodes().map((n) => n.id()))"
    _tap(browser, "gc:shop")
    nodes = json.loads(browser.wait(f"{drawn}.includes('open-gc:shop') && {drawn}"))
    client = browser.evaluate("egresslint.cy.nodes('.client').map((n) => n.data('text'))")
    assert "checkout\nambient" in client and "gc:crm" in nodes
    _tap(browser, "open-gc:shop")
    browser.wait(f"!{drawn}.includes('open-gc:shop')")
    _tap(browser, "gd:platform-egress")  # destinations open the same way
    box = "egresslint.cy.getElementById('open-gd:platform-egress')"
    browser.wait(f"{box}.length")
    hosts = browser.evaluate(f"{box}.children().map((n) => n.data('text').split('\\n')[0])")
    assert sorted(hosts) == ["api.github.com:443", "api.stripe.com:443", "ftp.reports.example:21"]
    _tap(browser, "open-gd:platform-egress")
    browser.wait(f"!{drawn}.includes('open-gd:platform-egress')")
    # host filter: only the matching destinations, drawn one by one
    browser.evaluate(
        "(() => { const f = document.getElementById('f-host'); f.value = 'stripe';"
        " f.dispatchEvent(new Event('input')); })()"
    )
    shown = "egresslint.cy.nodes('.destination').map((n) => n.data('text'))"
    assert browser.wait(f"{shown}.length === 1 && {shown}") == ["api.stripe.com:443\nTLS"]
    # a verdict class unticked in the legend leaves the drawing
    browser.evaluate("document.querySelector('#legend [data-class=denied] input').click()")
    assert browser.evaluate("egresslint.cy.edges('.denied').length") == 0
    assert browser.evaluate("egresslint.cy.edges('.controlled').length") > 0
    assert browser.errors() == []


def test_example_of_the_readme_draws_every_class(browser: Browser, tmp_path: Path) -> None:
    page = _page(SHOWCASE, tmp_path / "showcase.html")
    seen = _show(browser, page)
    assert _classes(seen) == set(topology.EDGE_CLASSES)
    refused = [e for e in seen["edges"] if topology.EDGE_CLASSES[e[2]] == "refused"]
    assert refused and all(e[3].startswith("binding refused") for e in refused)
    shot = os.environ.get("EGRESSLINT_GRAPH_SCREENSHOT")
    if shot:  # the README's picture: namespace shop open, the cut-off edge's details shown
        _tap(browser, "gc:shop")
        browser.wait("egresslint.cy.getElementById('open-gc:shop').length")
        _tap(browser, browser.evaluate("egresslint.cy.edges('.unreachable').last().id()"))
        browser.screenshot(ROOT / shot)


@pytest.fixture(scope="module")
def corpus_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not GENERATOR.is_file():
        pytest.skip(f"corpus generator not found at {GENERATOR} (../shared beside the repo)")
    folder = tmp_path_factory.mktemp("corpus") / "corpus-10k"
    subprocess.run(
        [sys.executable, str(GENERATOR), str(folder), "--resources", "10000"],
        check=True,
        capture_output=True,
    )
    page = folder.parent / "graph.html"
    proc = subprocess.run(
        [sys.executable, "-m", "egresslint", "graph", str(folder), "-f", "html", "-o", str(page)],
        capture_output=True,
        text=True,
        timeout=900,  # about 2.5 minutes on a loaded 2-core machine
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return page


def test_ten_thousand_resources(browser: Browser, corpus_page: Path) -> None:
    size = corpus_page.stat().st_size
    assert size <= PAGE_BUDGET, f"{size} bytes"
    data = _data(corpus_page)
    assert sum(data["counts"][:4]) > 100_000  # every client with every destination
    seen = _show(browser, corpus_page)
    # the budget, or the first namespace alone: always at least one is drawn
    assert seen["banner"].startswith("Showing ") and "client namespaces" in seen["banner"]
    if len(seen["edges"]) > html.EDGE_BUDGET:
        assert seen["banner"].startswith("Showing 1 of ") and len(seen["edges"]) < 400
    # namespace level: clients as namespaces, each proxy's destinations in one bucket
    assert data["perClient"] is False  # client edges are sent per namespace at this size
    groups = [n for n in seen["nodes"] if ":" in n]
    first = next(n for n in groups if n.startswith("gc:"))
    bucket = next(n for n in groups if n.startswith("gp:"))
    assert {n[:3] for n in groups} == {"gc:", "gp:"}
    assert browser.evaluate("egresslint.cy.nodes('.client').length") == 0
    _tap(browser, first)  # opens on click, the edges stay on the namespace's box
    browser.wait(f"egresslint.cy.getElementById('open-{first}').children().length")
    _tap(browser, bucket)
    browser.wait(f"egresslint.cy.getElementById('open-{bucket}').children().length")
    assert browser.evaluate("document.body.dataset.errors || ''") == "" and browser.errors() == []


def test_namespace_edges_stay_on_an_open_namespace(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cap, client edges are sent per namespace: an open namespace shows its clients
    in its box and keeps the edges on the box."""
    monkeypatch.setattr(html, "CLIENT_EDGE_CAP", 0)
    page = _page(SHOWCASE, tmp_path / "showcase.html")
    assert _data(page)["perClient"] is False
    _show(browser, page)
    _tap(browser, "gc:shop")
    browser.wait("egresslint.cy.getElementById('open-gc:shop').length")
    box = "egresslint.cy.getElementById('open-gc:shop')"
    assert browser.evaluate(f"{box}.children().map((n) => n.data('text'))") == ["checkout\nambient"]
    assert browser.evaluate(f"{box}.connectedEdges().length") > 0
    assert browser.evaluate("document.body.dataset.errors || ''") == "" and browser.errors() == []
