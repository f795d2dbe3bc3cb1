"""Mermaid ``flowchart LR`` text, for Markdown files and GitHub comments."""

from __future__ import annotations

from .topology import Node, Topology, slug

CLASSES = {
    "error": "fill:#ffeef0,stroke:#d73a49,stroke-width:3px",
    "warning": "fill:#fff5e6,stroke:#e36209,stroke-width:3px",
    "note": "fill:#f1f8ff,stroke:#0366d6,stroke-width:2px",
}


def escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    out = (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )
    return out.replace("\n", "<br/>")


def _node(node: Node) -> str:
    label = node.label + ("\n" + " ".join(node.rule_ids) if node.rule_ids else "")
    shape = ('(["', '"])') if node.category == "host" else ('["', '"]')
    return f"{node.id}{shape[0]}{escape(label)}{shape[1]}"


def render(topo: Topology) -> str:
    out = ["flowchart LR"]
    for ns in topo.namespaces():
        out.append(f'  subgraph ns_{slug(ns)}_box["{escape("namespace " + ns)}"]')
        out += [f"    {_node(n)}" for n in topo.nodes.values() if n.namespace == ns]
        out.append("  end")
    out += [
        f"  {_node(n)}" for n in topo.nodes.values() if not n.namespace and n.category != "host"
    ]
    hosts = [n for n in topo.nodes.values() if n.category == "host"]
    if hosts:
        out.append('  subgraph external["outside the mesh"]')
        out += [f"    {_node(n)}" for n in hosts]
        out.append("  end")
    bypass = []
    for i, edge in enumerate(topo.edges):
        arrow = "-.->" if edge.bypass else "-->"
        out.append(f"  {edge.source} {arrow}|{edge.rel}| {edge.target}")
        if edge.bypass:
            bypass.append(str(i))
    if bypass:
        out.append(f"  linkStyle {','.join(bypass)} stroke:#d73a49,stroke-width:3px,color:#d73a49")
    for level, style in CLASSES.items():
        members = [n.id for n in topo.nodes.values() if n.level == level]
        if members:
            out.append(f"  classDef {level} {style}")
            out.append(f"  class {','.join(members)} {level}")
    return "\n".join(out) + "\n"
