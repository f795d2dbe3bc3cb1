"""Putting views together: which resources are applied to one cluster together.

In order, each claiming what it takes:

0. every Argo CD Application and Flux Kustomization that points at a local folder takes that
   folder's render, or its plain files, in its namespace (``apps.py``);
1. every configured view (``views:`` in the configuration) takes the renders and plain files
   under its folders (a folder may be in several views);
2. every kustomize entry point nothing claimed is a view of its own, named by its folder;
3. plain files (not included by any kustomization) that no view claimed: where sibling
   folders define the same kind/namespace/name (``clusters/prod`` and ``clusters/staging``),
   each such folder is a view of its own; the rest is one default view.

Rules then run per view, on that view's graph only.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..model import Resource, SourceFile, ValuesDoc
from ..parse.loader import ParsedFile
from .apps import App, namespaced

DEFAULT_VIEW = "default"


@dataclass
class Unit:
    """What a view is made of: one plain file, or one render."""

    folder: str  # real path of the file's folder, or of the rendered entry point
    shown: str  # the file's shown path, or the entry point's shown folder
    resources: list[Resource]
    values: list[ValuesDoc] = field(default_factory=list)
    sources: list[SourceFile] = field(default_factory=list)
    rendered: bool = False
    kind: str = "file"  # "file", "kustomize" or "helm"
    joins: str | None = None  # the view a Helm release asks to join


@dataclass
class View:
    name: str
    kind: str  # "config", "kustomize", "folder" or "default"
    units: list[Unit] = field(default_factory=list)
    complete: bool = False

    @property
    def resources(self) -> list[Resource]:
        return [r for u in self.units for r in u.resources]

    @property
    def values(self) -> list[ValuesDoc]:
        return [v for u in self.units for v in u.values]

    @property
    def sources(self) -> list[SourceFile]:
        return list({id(s): s for u in self.units for s in u.sources}.values())

    @property
    def files(self) -> int:
        return sum(1 for u in self.units if not u.rendered)


@dataclass(frozen=True)
class Configured:
    """A view named in the configuration: its folders (real paths) and completeness."""

    name: str
    folders: tuple[str, ...]
    complete: bool = False


def plain_unit(real: str, parsed: ParsedFile) -> Unit:
    return Unit(
        os.path.dirname(real),
        parsed.source.path,
        list(parsed.resources),
        list(parsed.values),
        [parsed.source],
    )


def assemble(
    plain: Sequence[Unit],
    renders: Sequence[Unit],
    configured: Sequence[Configured] = (),
    complete: bool = False,
    entries: Sequence[App] = (),
) -> list[View]:
    """The views of a run, in a stable order: entry points, configured, rendered, folders,
    default."""
    claimed: set[int] = set()
    views = [_app_view(app, plain, renders, claimed, complete) for app in entries]
    views += [_configured(c, plain, renders, complete) for c in configured]
    claimed |= {id(u) for v in views[len(entries) :] for u in v.units}
    by_name: dict[str, View] = {}
    for unit in renders:
        if id(unit) not in claimed:
            name = unit.joins or unit.shown
            if name not in by_name:
                by_name[name] = View(name, unit.kind, [], complete)
                views.append(by_name[name])
            by_name[name].units.append(unit)
    rest = [u for u in plain if id(u) not in claimed]
    views += _split(rest, complete)
    return _unique_names(v for v in views if v.units)


def _app_view(
    app: App, plain: Sequence[Unit], renders: Sequence[Unit], claimed: set[int], complete: bool
) -> View:
    rendered = [u for u in renders if u.folder == app.folder]
    if rendered:
        taken = rendered[:1]
    elif app.recurse:
        taken = [u for u in plain if _under(u.folder, [app.folder])]
    else:
        taken = [u for u in plain if u.folder == app.folder]
    claimed.update(id(u) for u in taken)
    units = [dataclasses.replace(u, resources=namespaced(u.resources, app)) for u in taken]
    return View(app.name, "entry point", units, complete)


def _configured(
    c: Configured, plain: Sequence[Unit], renders: Sequence[Unit], complete: bool
) -> View:
    units = [u for u in (*renders, *plain) if _under(u.folder, c.folders) or u.joins == c.name]
    return View(c.name, "config", units, c.complete or complete)


def _under(folder: str, roots: Iterable[str]) -> bool:
    return any(folder == r or folder.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _split(units: Sequence[Unit], complete: bool) -> list[View]:
    roots = split_roots(units)
    by_root: dict[str, list[Unit]] = defaultdict(list)
    for unit in units:
        by_root[_deepest(unit.shown, roots)].append(unit)
    views = [View(root, "folder", by_root[root], complete) for root in sorted(roots)]
    if by_root.get(""):
        views.append(View(DEFAULT_VIEW, "default", by_root[""], complete))
    return views


def split_roots(units: Sequence[Unit]) -> set[str]:
    """Sibling folders (shown paths) that define the same kind/namespace/name: each is a
    view of its own. Two files in one folder defining the same object stay together (a
    duplicate, reported as such)."""
    first: dict[tuple[str, str, str], str] = {}
    roots: set[str] = set()
    for unit in units:
        for res in unit.resources:
            seen = first.setdefault(res.key, unit.shown)
            if seen != unit.shown:
                roots.update(_siblings(seen, unit.shown))
    return roots


def _siblings(a: str, b: str) -> tuple[str, ...]:
    pa, pb = a.split("/"), b.split("/")
    common = 0
    while common < min(len(pa), len(pb)) - 1 and pa[common] == pb[common]:
        common += 1
    if common >= len(pa) - 1 or common >= len(pb) - 1:
        return ()  # one file sits in the folder that holds the other: not siblings
    return "/".join(pa[: common + 1]), "/".join(pb[: common + 1])


def _deepest(shown: str, roots: Iterable[str]) -> str:
    best = ""
    for root in roots:
        if shown.startswith(root + "/") and len(root) > len(best):
            best = root
    return best


def _unique_names(views: Iterable[View]) -> list[View]:
    out: list[View] = []
    seen: set[str] = set()
    for view in views:
        name, n = view.name, 2
        while view.name in seen:
            view.name = f"{name} ({n})"
            n += 1
        seen.add(view.name)
        out.append(view)
    return out
