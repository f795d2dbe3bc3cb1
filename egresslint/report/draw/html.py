"""A self-contained HTML page: an inline SVG drawn with a layered layout, no network access.

Columns, left to right: namespaces, workloads and NetworkPolicies; ServiceEntries and the
policies on them; waypoints and egress gateways (with their GatewayClass and policies);
external hosts. Hovering a node shows its findings in the side panel.
"""

from __future__ import annotations

import json
from html import escape

from .topology import Edge, Node, Topology

WIDTH, HEIGHT, GAP_X, GAP_Y, MARGIN = 230, 54, 70, 18, 24
HEADINGS = (
    "Namespaces and workloads",
    "ServiceEntries and policies",
    "Waypoints",
    "External hosts",
)
LEVEL_COLOURS = {"error": "#d73a49", "warning": "#e36209", "note": "#0366d6"}
FILLS = {
    "namespace": "#f6f8fa",
    "workload": "#e6f4ea",
    "netpol": "#f3e8fd",
    "serviceentry": "#fff8e1",
    "waypoint": "#e3f2fd",
    "class": "#e3f2fd",
    "host": "#ffffff",
}

CSS = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 0; display: flex; color: #24292e; }
main { flex: 1; overflow: auto; padding: 8px; }
aside { width: 260px; border-left: 1px solid #d1d5da; padding: 12px; overflow: auto;
        height: 100vh; box-sizing: border-box; background: #fafbfc; }
h1 { font-size: 16px; margin: 4px 0 8px; }
.node rect { stroke: #959da5; stroke-width: 1; }
.node.error rect { stroke: #d73a49; stroke-width: 3; }
.node.warning rect { stroke: #e36209; stroke-width: 3; }
.node.note rect { stroke: #0366d6; stroke-width: 2; }
.node:hover rect, .node.selected rect { stroke: #24292e; stroke-width: 3; }
.node text { font-size: 12px; pointer-events: none; }
.node text.title { font-weight: 600; }
.node text.badge { font-size: 11px; font-weight: 600; }
.edge { fill: none; stroke: #959da5; stroke-width: 1.3; }
.edge.binds, .edge.egress { stroke: #1565c0; }
.edge.bypass { stroke: #d73a49; stroke-width: 3; stroke-dasharray: 8 5; }
.heading { font-size: 13px; font-weight: 600; fill: #586069; }
.legend span { display: inline-block; margin-right: 10px; }
li { margin-bottom: 6px; }
"""

SCRIPT = """
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    errors.push(String(e.message));
    document.body.setAttribute('data-errors', errors.join(' | '));
  });
  var data = JSON.parse(document.getElementById('node-data').textContent);
  var panel = document.getElementById('details');
  function show(id) {
    var n = data[id];
    if (!n) { return; }
    var items = n.findings.map(function (f) { return '<li>' + f + '</li>'; }).join('');
    panel.innerHTML = '<h2>' + n.title + '</h2><p>' + n.name + '</p>' +
      (items ? '<ul>' + items + '</ul>' : '<p>No findings.</p>');
  }
  document.querySelectorAll('.node').forEach(function (el) {
    el.addEventListener('mouseenter', function () { show(el.id); });
    el.addEventListener('click', function () {
      document.querySelectorAll('.node.selected').forEach(function (s) {
        s.classList.remove('selected');
      });
      el.classList.add('selected');
      show(el.id);
    });
  });
  document.body.setAttribute('data-rendered', String(document.querySelectorAll('.node').length));
})();
"""


def _layout(topo: Topology) -> dict[str, tuple[int, int]]:
    columns: list[list[Node]] = [[], [], [], []]
    for node in topo.nodes.values():
        columns[topo.column(node)].append(node)
    positions = {}
    for c, nodes in enumerate(columns):
        nodes.sort(key=lambda n: (n.namespace, n.category != "namespace", n.title, n.name))
        for r, node in enumerate(nodes):
            positions[node.id] = (MARGIN + c * (WIDTH + GAP_X), MARGIN + 30 + r * (HEIGHT + GAP_Y))
    return positions


def _clip(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _node_svg(node: Node, x: int, y: int) -> str:
    fill = FILLS.get(node.category, "#ffffff")
    radius = HEIGHT // 2 if node.category == "host" else 6
    badge = ""
    if node.rule_ids:
        colour = LEVEL_COLOURS.get(node.level, "#586069")
        badge = (
            f'<text class="badge" x="{x + WIDTH - 8}" y="{y + 16}" text-anchor="end" '
            f'fill="{colour}">{escape(" ".join(node.rule_ids[:3]))}</text>'
        )
    tooltip = escape("\n".join([node.title, node.name, *node.findings]))
    return (
        f'<g class="node {node.level} {node.category}" id="{escape(node.id)}" '
        f'data-label="{escape(node.name)}">'
        f"<title>{tooltip}</title>"
        f'<rect x="{x}" y="{y}" width="{WIDTH}" height="{HEIGHT}" rx="{radius}" fill="{fill}"/>'
        f'<text class="title" x="{x + 10}" y="{y + 20}">{escape(_clip(node.title, 31))}</text>'
        f'<text x="{x + 10}" y="{y + 40}">{escape(_clip(node.name))}</text>{badge}</g>'
    )


def _edge_svg(edge: Edge, pos: dict[str, tuple[int, int]]) -> str:
    (x1, y1), (x2, y2) = pos[edge.source], pos[edge.target]
    y1, y2 = y1 + HEIGHT // 2, y2 + HEIGHT // 2
    if x2 > x1:
        x1 += WIDTH
    elif x2 < x1:
        x2 += WIDTH
    else:  # same column: loop out to the right
        x1 += WIDTH
        x2 += WIDTH
    bend = max(40, abs(x2 - x1) // 2)
    c1 = x1 + bend if x2 >= x1 else x1 - bend
    c2 = x2 - bend if x2 > x1 else x2 + bend
    return (
        f'<path class="edge {edge.rel}" d="M{x1},{y1} C{c1},{y1} {c2},{y2} {x2},{y2}" '
        f'marker-end="url(#arrow-{"red" if edge.bypass else "grey"})">'
        f"<title>{escape(edge.rel)}</title></path>"
    )


def render(topo: Topology) -> str:
    pos = _layout(topo)
    rows = max((y for _, y in pos.values()), default=MARGIN) + HEIGHT + MARGIN
    width = MARGIN * 2 + 4 * WIDTH + 3 * GAP_X
    headings = "".join(
        f'<text class="heading" x="{MARGIN + c * (WIDTH + GAP_X)}" y="{MARGIN + 10}">{h}</text>'
        for c, h in enumerate(HEADINGS)
    )
    edges = "".join(_edge_svg(e, pos) for e in topo.edges if e.source in pos and e.target in pos)
    nodes = "".join(_node_svg(n, *pos[n.id]) for n in topo.nodes.values())
    data = {
        n.id: {
            "title": escape(n.title),
            "name": escape(n.name),
            "findings": [escape(f) for f in n.findings],
        }
        for n in topo.nodes.values()
    }
    payload = json.dumps(data).replace("</", "<\\/")
    bypasses = sum(1 for e in topo.edges if e.bypass)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>egresslint: egress topology</title><style>{CSS}</style></head>
<body><main><h1>Egress topology</h1>
<p class="legend"><span>{len(topo.nodes)} nodes</span><span style="color:#d73a49">- - - bypass: {bypasses}
edge(s) to the outside without a waypoint</span><span>outline: worst finding (red error, orange
warning, blue note)</span></p>
<svg xmlns="http://www.w3.org/2000/svg" id="topology" width="{width}" height="{rows}" viewBox="0 0 {width} {rows}">
<defs>
<marker id="arrow-grey" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#959da5"/></marker>
<marker id="arrow-red" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#d73a49"/></marker>
</defs>{headings}{edges}{nodes}</svg></main>
<aside id="details"><h2>Details</h2><p>Hover or click a node to see its findings.</p></aside>
<script type="application/json" id="node-data">{payload}</script>
<script>{SCRIPT}</script>
</body></html>
"""
