"""Graphviz ``dot`` text (render it with ``dot -Tsvg``; Graphviz is not needed to write it)."""

from __future__ import annotations

from .topology import Edge, Node, Topology

LEVEL_COLOURS = {"error": "#d73a49", "warning": "#e36209", "note": "#0366d6"}
FILLS = {
    "namespace": "#f6f8fa",
    "workload": "#e6f4ea",
    "serviceentry": "#fff8e1",
    "waypoint": "#e3f2fd",
    "host": "#ffffff",
}
EDGE_STYLES = {
    "bypass": 'color="#d73a49", fontcolor="#d73a49", style=dashed, penwidth=2.5',
    "egress": 'color="#1565c0", penwidth=1.5',
    "binds": 'color="#1565c0"',
}


def quote(text: str) -> str:
    """A dot double-quoted string; newlines become centred line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def _node(node: Node) -> str:
    label = node.label
    if node.rule_ids:
        label += "\n" + " ".join(node.rule_ids)
    attrs = [f"label={quote(label)}", f'fillcolor="{FILLS.get(node.category, "#ffffff")}"']
    if node.category == "host":
        attrs.append("shape=ellipse")
    if node.level:
        attrs += [f'color="{LEVEL_COLOURS[node.level]}"', "penwidth=2.5"]
    if node.findings:
        attrs.append(f"tooltip={quote(chr(10).join(node.findings))}")
    return f"{quote(node.id)} [{', '.join(attrs)}];"


def _edge(edge: Edge) -> str:
    style = EDGE_STYLES.get(edge.rel, 'color="#6a737d"')
    return f"  {quote(edge.source)} -> {quote(edge.target)} [label={quote(edge.rel)}, {style}];"


def render(topo: Topology) -> str:
    out = [
        "digraph egress {",
        '  rankdir=LR; compound=true; fontname="Helvetica";',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for ns in topo.namespaces():
        out.append(f"  subgraph {quote('cluster_ns_' + ns)} {{")
        out.append(f'    label={quote("namespace " + ns)}; style="rounded"; color="#959da5";')
        out += [f"    {_node(n)}" for n in topo.nodes.values() if n.namespace == ns]
        out.append("  }")
    cluster_wide = [n for n in topo.nodes.values() if not n.namespace and n.category != "host"]
    out += [f"  {_node(n)}" for n in cluster_wide]
    hosts = [n for n in topo.nodes.values() if n.category == "host"]
    if hosts:
        out.append('  subgraph "cluster_external" {')
        out.append('    label="outside the mesh"; style="dashed"; color="#959da5";')
        out += [f"    {_node(n)}" for n in hosts]
        out.append("  }")
    out += [_edge(e) for e in topo.edges]
    out.append("}")
    return "\n".join(out) + "\n"
