"""Argo CD Applications and Flux Kustomizations as entry points: each one that points at a
local folder defines a view, the way the controller applies that folder.

- Argo CD ``Application`` (``argoproj.io``): ``spec.source.path`` (or each of
  ``spec.sources[].path``), relative to the repository root; the folder's files (its
  subfolders only with ``directory.recurse: true``), or its kustomization rendered.
  ``spec.destination.namespace`` is the namespace of resources that set none.
- Flux ``Kustomization`` (``kustomize.toolkit.fluxcd.io``): ``spec.path``, relative to the
  source root; the folder's kustomization rendered, else every manifest below it.
  ``spec.targetNamespace`` sets the namespace of every namespaced resource.

The repository root is the git work tree that holds the entry point's file, else the linted
folder that holds it. A path that leaves it, or does not exist, defines no view.

Sources (the controllers' API documentation): Argo CD ``ApplicationDestination.Namespace``
in ``pkg/apis/application/v1alpha1/types.go`` ("will only be set for namespace-scoped
resources that have not set a value for .metadata.namespace"); Flux kustomize-controller
``KustomizationSpec.TargetNamespace`` in ``api/v1/kustomization_types.go`` ("sets or
overrides the namespace in the kustomization.yaml file", which kustomize's namespace
transformer then sets on every namespaced resource).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..model import Origin, Path, Resource, SourceFile, Span, as_list, as_map
from .kustomize import inside


@dataclass(frozen=True)
class App:
    """One entry point: its view's name, the folder it applies, and how."""

    name: str
    folder: str  # real path
    namespace: str  # "" when it sets none
    override: bool  # Flux targetNamespace: set on every namespaced resource
    recurse: bool
    resource: Resource


def find(resources: Sequence[tuple[Resource, str]], roots: Sequence[str]) -> list[App]:
    """``resources``: (resource, repository root of its file)."""
    out: list[App] = []
    for res, root in resources:
        out.extend(_apps(res, root, roots))
    return out


def _apps(res: Resource, root: str, roots: Sequence[str]) -> Iterator[App]:
    if res.kind == "Application" and res.api_version.startswith("argoproj.io/"):
        dest = as_map(res.spec.get("destination")).get("namespace")
        ns = dest if isinstance(dest, str) else ""
        sources = [res.spec.get("source"), *as_list(res.spec.get("sources"))]
        for source in sources:
            path = as_map(source).get("path")
            recurse = as_map(as_map(source).get("directory")).get("recurse") is True
            folder = _folder(root, path, roots)
            if folder:
                yield App(
                    f"Application {res.namespace}/{res.name}", folder, ns, False, recurse, res
                )
    elif res.kind == "Kustomization" and res.api_version.startswith("kustomize.toolkit.fluxcd.io/"):
        target = res.spec.get("targetNamespace")
        ns = target if isinstance(target, str) else ""
        folder = _folder(root, res.spec.get("path"), roots)
        if folder:
            yield App(f"Kustomization {res.namespace}/{res.name}", folder, ns, bool(ns), True, res)


def _folder(root: str, path: Any, roots: Sequence[str]) -> str:
    if not isinstance(path, str) or not path.strip() or "://" in path:
        return ""
    folder = os.path.realpath(os.path.join(root, path.strip().lstrip("/")))
    return folder if os.path.isdir(folder) and inside(folder, roots) else ""


def namespaced(resources: Sequence[Resource], app: App) -> list[Resource]:
    """The resources as the controller applies them: the app's namespace where a namespaced
    resource sets none (Argo CD), or on every namespaced resource (Flux targetNamespace)."""
    if not app.namespace:
        return list(resources)
    out = []
    for res in resources:
        explicit = isinstance(res.metadata.get("namespace"), str)
        if res.cluster_scoped or (explicit and not app.override) or res.namespace == app.namespace:
            out.append(res)
        else:
            moved = dataclasses.replace(res, namespace=app.namespace, _labels=None)
            moved.origin = Moved(res, app)
            out.append(moved)
    return out


class Moved(Origin):
    """A resource an entry point put into its namespace: placed where the original is, but
    for a namespace Flux's ``targetNamespace`` set, which points at that line."""

    def __init__(self, original: Resource, app: App) -> None:
        self.original, self.app = original, app
        self.source_ref, self.source_name = original.source_ref, original.name

    def locate(self, path: Path) -> Span:
        return self.original.locate(path)

    def place(self, path: Path) -> tuple[SourceFile, Span]:
        if self.app.override and tuple(path) == ("metadata", "namespace"):
            entry = self.app.resource
            return entry.place(("spec", "targetNamespace"))
        return self.original.place(path)
