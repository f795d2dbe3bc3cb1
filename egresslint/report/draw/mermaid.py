"""Mermaid ``flowchart LR`` text of the drawing model, for Markdown files and GitHub
comments: clients by namespace, proxies, destinations by ServiceEntry namespace, and edges
coloured, styled and labelled by verdict as in the page."""

from __future__ import annotations

from .dot import COLOURS
from .topology import DIRECT, Node, Topology, box_title, slug

ARROWS = {
    "controlled": "-->",
    "denied": "--x",
    "bypass": "-.->",
    "unreachable": "-.-x",
    "refused": "-.-x",
}


def escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    out = (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )
    return out.replace("\n", "<br/>")


def _node(node: Node) -> str:
    shape = ('(["', '"])') if node.kind == "destination" else ('["', '"]')
    return f"{node.id}{shape[0]}{escape(node.text)}{shape[1]}"


def _boxes(topo: Topology, kind: str, title: str) -> list[str]:
    out = []
    for group in topo.groups(kind):
        members = [n for n in topo.of_kind(kind) if n.group == group]
        if not group:
            out += [f"  {_node(n)}" for n in members]
            continue
        out.append(f'  subgraph {kind}_{slug(group)}["{escape(box_title(title, group))}"]')
        out += [f"    {_node(n)}" for n in members]
        out.append("  end")
    return out


def render(topo: Topology) -> str:
    out = ["flowchart LR"]
    out += _boxes(topo, "client", "namespace ")
    out += [f"  {_node(n)}" for n in topo.of_kind("proxy")]
    out += _boxes(topo, "destination", "ServiceEntries in ")
    by_verdict: dict[str, list[str]] = {}
    for i, edge in enumerate(topo.edges.values()):
        label = escape(topo.label(edge))
        out.append(f'  {edge.source} {ARROWS[edge.verdict]}|"{label}"| {edge.target}')
        by_verdict.setdefault(edge.verdict, []).append(str(i))
    for verdict, links in by_verdict.items():
        colour = COLOURS[verdict]
        out.append(f"  linkStyle {','.join(links)} stroke:{colour},color:{colour}")
    if DIRECT in topo.nodes:
        out.append(f"  style {DIRECT} fill:#ffebe9,stroke:#cf222e,stroke-width:2px")
    return "\n".join(out) + "\n"
