"""Graphviz ``dot`` text of the drawing model (render it with ``dot -Tsvg``; Graphviz is not
needed to write it). Clients sit in one box per namespace, destinations in one box per
ServiceEntry namespace; edges are coloured, styled and labelled by verdict as in the page."""

from __future__ import annotations

from .topology import DIRECT, Edge, Node, Topology, box_title

COLOURS = {
    "controlled": "#1a7f37",
    "denied": "#0969da",
    "bypass": "#cf222e",
    "unreachable": "#9a6700",
    "refused": "#57606a",
}
STYLES = {
    "controlled": "style=solid",
    "denied": "style=solid, arrowhead=tee",
    "bypass": "style=dashed",
    "unreachable": "style=dotted, arrowhead=tee",
    "refused": "style=dashed, arrowhead=tee",
}
FILLS = {"client": "#dafbe1", "proxy": "#ddf4ff", "destination": "#ffffff"}


def quote(text: str) -> str:
    """A dot double-quoted string; newlines become centred line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def _node(node: Node) -> str:
    fill = "#ffebe9" if node.id == DIRECT else FILLS[node.kind]
    attrs = [f"label={quote(node.text)}", f'fillcolor="{fill}"']
    if node.id == DIRECT:
        attrs += ['color="#cf222e"', "penwidth=2"]
    if node.findings:
        attrs.append(f"tooltip={quote('findings: ' + ', '.join(node.findings))}")
    return f"{quote(node.id)} [{', '.join(attrs)}];"


def _edge(topo: Topology, edge: Edge) -> str:
    colour = COLOURS[edge.verdict]
    why = "\n".join(edge.reasons)
    attrs = [
        f"label={quote(topo.label(edge))}",
        f'color="{colour}"',
        f'fontcolor="{colour}"',
        STYLES[edge.verdict],
        f"tooltip={quote(why)}",
    ]
    return f"  {quote(edge.source)} -> {quote(edge.target)} [{', '.join(attrs)}];"


def _boxes(topo: Topology, kind: str, title: str) -> list[str]:
    out = []
    for group in topo.groups(kind):
        members = [n for n in topo.of_kind(kind) if n.group == group]
        if not group:
            out += [f"  {_node(n)}" for n in members]
            continue
        out.append(f"  subgraph {quote(f'cluster_{kind}_{group}')} {{")
        out.append(f'    label={quote(box_title(title, group))}; style="rounded"; color="#8c959f";')
        out += [f"    {_node(n)}" for n in members]
        out.append("  }")
    return out


def render(topo: Topology) -> str:
    out = [
        "digraph egress {",
        '  rankdir=LR; newrank=true; ranksep=1.4; fontname="Helvetica";',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    out += _boxes(topo, "client", "namespace ")
    proxies = topo.of_kind("proxy")
    if proxies:
        out.append("  { rank=same;")
        out += [f"    {_node(n)}" for n in proxies]
        out.append("  }")
    out += _boxes(topo, "destination", "ServiceEntries in ")
    out += [_edge(topo, e) for e in topo.edges.values()]
    out.append("}")
    return "\n".join(out) + "\n"
