"""A self-contained HTML page of the drawing model: cytoscape.js with the dagre layered
layout (``assets/``, bundled with their licences, see ``assets/SOURCES.md``) and the model as
compact JSON, all inline: the page works from ``file://`` with no network (its
Content-Security-Policy allows nothing to load).

The page script (``assets/graph.js``) opens at namespace level (clients by namespace,
destinations by the namespace of their ServiceEntry), expands a group on click, filters by
namespace, host and verdict, and keeps the drawing under an edge budget: past it, the
client namespaces with the most bypass, unreachable and denied pairs are drawn first and a
banner says how many are left out. Edges between clients and proxies are sent per client
while there are at most ``CLIENT_EDGE_CAP`` of them, else per namespace only (then an
expanded namespace shows its clients and their counts, its edges stay on the namespace).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .topology import DIRECT, EDGE_CLASSES, Edge, Node, Topology

ASSETS = Path(__file__).resolve().parent / "assets"
LIBRARIES = ("cytoscape.min.js", "cytoscape-dagre.min.js")
EDGE_BUDGET = 200  # edges drawn at once; past it, client namespaces are left out (said so)
CLIENT_EDGE_CAP = 30_000  # client-to-proxy edges sent per client up to this many
MAX_CITED = 12  # resources listed per edge in the page
CLAUSE = "; "  # reasons are sent as their clauses, joined again by the page
KIND_CODES = {"client": "c", "proxy": "p", "destination": "d"}
_SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.M)


def asset(name: str) -> str:
    """A bundled file's text, ready to inline in a ``<script>`` or ``<style>`` element."""
    text = _SOURCE_MAP.sub("", (ASSETS / name).read_text(encoding="utf-8"))
    if "</script" in text.lower() or "</style" in text.lower():
        raise RuntimeError(f"asset {name} cannot be inlined: it closes its element")
    return text


class _Interner:
    """Values listed once in the page and referred to by index."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.items: list[Any] = []

    def __call__(self, value: Any) -> int:
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.items)
            self.items.append(list(value) if isinstance(value, tuple) else value)
        return found


class _Encoder:
    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.order = {ident: i for i, ident in enumerate(topo.nodes)}
        self.sets = _Interner()
        self.reasons = _Interner()  # a reason: its clauses' indexes (reasons share clauses)
        self.clauses = _Interner()
        self.cited = _Interner()  # the drawing model's index -> the page's, as cited
        self.files = _Interner()
        self.roles = _Interner()

    def node(self, node: Node) -> list[Any]:
        pairs = [node.pairs.get(v, 0) for v in EDGE_CLASSES[:-1]]
        return [KIND_CODES[node.kind], node.label, node.group, node.detail, node.findings, pairs]

    def extras(self, cited: Iterable[int], reasons: Iterable[str]) -> list[int]:
        shown = tuple(self.cited(i) for i in list(cited)[:MAX_CITED])
        return [self.sets(shown), *(self.reason(r) for r in reasons)]

    def reason(self, text: str) -> int:
        return self.reasons(tuple(self.clauses(c) for c in text.split(CLAUSE)))

    def edge(self, edge: Edge) -> list[Any]:
        ends = [self.order[edge.source], self.order[edge.target]]
        cls = EDGE_CLASSES.index(edge.verdict)
        return [*ends, cls, edge.count, *self.extras(edge.cited, edge.reasons)]

    def namespace_edges(self, edges: list[Edge], groups: dict[str, int]) -> list[list[Any]]:
        """Client-to-proxy edges summed per client namespace, with one reason each."""
        summed: dict[tuple[int, str, str], Edge] = {}
        for e in edges:
            key = (groups[self.topo.nodes[e.source].group], e.target, e.verdict)
            into = summed.setdefault(key, Edge(e.source, e.target, e.verdict, e.segment))
            into.count += e.count
            for i in e.cited:
                into.cited.setdefault(i)
            if not into.reasons:
                into.reasons = e.reasons[:1]
        return [
            [g, self.order[t], EDGE_CLASSES.index(v), e.count, *self.extras(e.cited, e.reasons)]
            for (g, t, v), e in summed.items()
        ]

    def citations(self) -> list[list[Any]]:
        """``[ref, file, line, role, findings]`` of each resource cited in the page."""
        out = []
        for index in self.cited.items:
            c = self.topo.cited[index]
            out.append([c.ref, self.files(c.file), c.line, self.roles(c.role), list(c.findings)])
        return out


def data(topo: Topology) -> dict[str, Any]:
    """The page's data: nodes, edges and the resources they cite, by index."""
    enc = _Encoder(topo)
    into = [e for e in topo.edges.values() if e.segment == "in"]
    rest = [e for e in topo.edges.values() if e.segment != "in"]
    namespaces = topo.groups("client")
    per_client = len(into) <= CLIENT_EDGE_CAP
    out: dict[str, Any] = {
        "classes": list(EDGE_CLASSES),
        "counts": [topo.counts.get(v, 0) for v in EDGE_CLASSES[:-1]]
        + [sum(e.count for e in topo.edges.values() if e.segment == "refused")],
        "evidence": list(topo.evidence),
        "budget": EDGE_BUDGET,
        "nodes": [enc.node(n) for n in topo.nodes.values()],
        "direct": enc.order.get(DIRECT, -1),
        "namespaces": namespaces,
        "perClient": per_client,
        "edges": [enc.edge(e) for e in (into if per_client else []) + rest],
        "nsEdges": [] if per_client else enc.namespace_edges(into, _index(namespaces)),
    }
    out["cited"] = enc.citations()
    out["files"] = enc.files.items
    out["roles"] = enc.roles.items
    out["sets"] = enc.sets.items
    out["reasons"] = enc.reasons.items
    out["clauses"] = enc.clauses.items
    return out


def _index(names: list[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}


def _json(value: Any) -> str:
    """JSON to place in a ``<script>`` element: no ``<`` can end it or open a comment there."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c")


CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def render(topo: Topology) -> str:
    libraries = "\n".join(f"<script>{asset(name)}</script>" for name in LIBRARIES)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>egresslint: who reaches what</title>
<style>{asset("graph.css")}</style></head>
<body>
<script>{asset("guard.js")}</script>
<header>
<h1>Egress reachability</h1>
<form id="filters" autocomplete="off">
<label>namespace <input id="f-namespace" type="search" placeholder="any (comma for several)"></label>
<label>host <input id="f-host" type="search" placeholder="any"></label>
<span id="legend" class="legend"></span>
</form>
<p id="banner" hidden></p>
</header>
<main><div id="cy"></div>
<aside id="details"><h2>Details</h2><p>Click a namespace to open it, a node or an edge
to see its pairs, reasons and the resources behind them (file and line).</p></aside></main>
<script type="application/json" id="graph-data">{_json(data(topo))}</script>
{libraries}
<script>{asset("graph.js")}</script>
</body></html>
"""
