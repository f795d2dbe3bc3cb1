"""The engine's layout keeps its pipeline shape: imports only point down a layer, rules import
only the rule API and the mesh, and no two modules import each other in a circle.

Every import counts, also those inside functions and under ``TYPE_CHECKING``: a lazy import
that points up is still a dependency that points up. CONTRIBUTING.md shows the same table.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "egresslint"
RULES = ROOT / "rules"

# layer -> the layers its modules may import (a layer may always import itself)
BASE_MODULES = {"egresslint", "egresslint.model", "egresslint.packaged", "egresslint.runtime"}
ENTRY_MODULES = {"egresslint.cli", "egresslint.__main__"}
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "sources": {"base"},
    "parse": {"base", "sources"},
    "views": {"base", "sources", "parse"},
    "mesh": {"base", "sources", "parse"},
    "lint": {"base", "sources", "parse", "views", "mesh"},
    "report": {"base", "sources", "parse", "views", "mesh", "lint"},
    "fix": {"base", "sources", "parse", "views", "mesh", "lint"},
    "entry": {"base", "sources", "parse", "views", "mesh", "lint", "report", "fix"},
}
PACKAGES = set(ALLOWED) - {"base", "entry"}
RULE_API = {"egresslint.model", "egresslint.lint.rule", "egresslint.lint.edits"}


def layer_of(module: str) -> str | None:
    if module in BASE_MODULES:
        return "base"
    if module in ENTRY_MODULES:
        return "entry"
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "egresslint" and parts[1] in PACKAGES:
        return parts[1]
    return None


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = ["egresslint", *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def engine_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(source: str, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The egresslint modules ``source`` imports (``from pkg import mod`` names the module)."""
    here = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "egresslint")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if base.split(".")[0] != "egresslint":
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield full if full in known else base


def import_graph() -> nx.DiGraph:
    modules = engine_modules()
    known = set(modules)
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        source = path.read_text(encoding="utf-8")
        for target in imports(source, name, path.name == "__init__.py", known):
            if target != name:
                graph.add_edge(name, target)
    return graph


def upward(graph: nx.DiGraph) -> list[str]:
    bad = []
    for source, target in graph.edges:
        src, dst = layer_of(source), layer_of(target)
        if src is None or dst is None:
            bad.append(f"{source} -> {target}: module not in the layer table")
        elif dst != src and dst not in ALLOWED[src]:
            bad.append(f"{source} ({src}) -> {target} ({dst})")
    return bad


def test_every_engine_module_has_a_layer() -> None:
    unplaced = [m for m in engine_modules() if layer_of(m) is None]
    assert unplaced == [], "add new top-level modules to a package, or to the table"


def test_imports_only_point_down() -> None:
    assert upward(import_graph()) == []


def test_no_import_cycle() -> None:
    cycles = list(nx.simple_cycles(import_graph()))
    assert cycles == []


def test_top_level_holds_at_most_six_modules() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 6, top


@pytest.mark.parametrize(
    "path", sorted(RULES.glob("egl[0-9][0-9][0-9]_*.py")), ids=lambda p: p.stem
)
def test_rules_import_only_the_rule_api_and_the_mesh(path: Path) -> None:
    known = set(engine_modules())
    targets = set(imports(path.read_text(encoding="utf-8"), "egresslint.rules.x", False, known))
    outside = {t for t in targets if t not in RULE_API and layer_of(t) != "mesh"}
    assert outside == set()


def test_the_check_sees_an_upward_import() -> None:
    """The table is not vacuous: a mesh module that imports the rule engine is reported, a
    lazy import counts, and so does a relative one."""
    known = {"egresslint.lint.engine", "egresslint.mesh.graph", "egresslint.parse.loader"}
    source = (
        "from ..parse import loader\n"
        "def f():\n"
        "    from ..lint import engine\n"
        "    return engine, loader\n"
    )
    graph = nx.DiGraph()
    for target in imports(source, "egresslint.mesh.graph", False, known):
        graph.add_edge("egresslint.mesh.graph", target)
    assert upward(graph) == ["egresslint.mesh.graph (mesh) -> egresslint.lint.engine (lint)"]


def test_the_parse_cache_key_reads_files_that_exist() -> None:
    """The parse cache hashes the modules that shape a parse; a moved module would silently
    drop out of the key (its name is hashed instead) and stale entries would be read."""
    from egresslint import packaged
    from egresslint.parse import cache

    missing = [n for n in cache._SHAPING_MODULES if not (packaged.ROOT / n).is_file()]
    assert missing == []
