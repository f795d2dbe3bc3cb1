"""Kustomizations as written: what each one includes, which are entry points, and whether
rendering one stays inside the linted tree.

Nothing here renders: kustomize itself does that (``render.py``). This module only reads the
fields of ``kustomization.yaml`` that name other files or folders, so that egresslint knows
which files are linted through a render instead of as plain manifests, which
kustomizations no other one includes (each becomes a view), what a render reads (its cache
key), and which references must not be followed: remote bases (unless asked for) and local
paths that leave the linted tree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..model import Path, PosDict, SourceFile, Span
from ..parse.loader import load_single
from ..parse.yamlbuild import Unlintable

NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_BYTES = 1 << 20  # a kustomization file is small; more is not read
# fields whose entries are paths: folders (kustomizations) or files
_FOLDER_OR_FILE = ("resources", "bases", "components", "generators", "transformers", "validators")
_FILES = ("crds", "configurations", "patchesStrategicMerge")
_ITEM_PATHS = ("patches", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")
_REMOTE = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://|git@|git::|github\.com/|gitlab\.com/|bitbucket\.org/)"
    r"|[?&](?:ref|version|timeout|submodules)="
    r"|^[\w.-]+\.[a-z]{2,}(?::\d+)?/",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Ref:
    """One path a kustomization names: as written, where (field path), and resolved."""

    value: str
    path: Path
    real: str  # absolute, symlinks resolved; "" for a remote reference
    kind: str  # "folder", "file", "remote" or "missing"


@dataclass
class Kustomization:
    """One kustomization file and the references it makes."""

    folder: str  # absolute real path of its folder
    shown: str  # the folder as reports show it
    source: SourceFile
    doc: PosDict
    problem: str = ""  # why the file cannot be read (then it has no references)
    source_real: str = ""  # absolute real path of the kustomization file
    refs: list[Ref] = field(default_factory=list)

    def folders(self) -> list[Ref]:
        return [r for r in self.refs if r.kind == "folder"]

    def files(self) -> list[Ref]:
        return [r for r in self.refs if r.kind == "file"]

    def span(self, path: Path) -> Span:
        from ..model import locate

        return locate(self.doc, path, self.doc.span)

    def get(self, key: str) -> Any:
        return self.doc.get(key) if isinstance(self.doc, dict) else None


def find_folders(files: Iterable[str]) -> list[str]:
    """Folders (real paths, in input order) of the kustomization files among ``files``
    (discovery lists all three names kustomize reads)."""
    found = (os.path.dirname(os.path.realpath(f)) for f in files if os.path.basename(f) in NAMES)
    return list(dict.fromkeys(found))


def kustomization_file(folder: str) -> str | None:
    """The kustomization file of ``folder``, if it has one (kustomize's own order)."""
    for name in NAMES:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def read(folder: str, shown: str, source: SourceFile | None = None) -> Kustomization:
    """Read the kustomization of ``folder`` (``source``: the file as already loaded)."""
    path = kustomization_file(folder) or os.path.join(folder, NAMES[0])
    real_folder, real_file = os.path.realpath(folder), os.path.realpath(path)
    if source is None:
        source = SourceFile(_join(shown, os.path.basename(path)))
        try:
            with open(path, "rb") as handle:
                source.text = handle.read(MAX_BYTES).decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            return Kustomization(real_folder, shown, source, PosDict(), _why(exc), real_file)
    doc, problem = _load(source.text)
    found = Kustomization(real_folder, shown, source, doc, problem, real_file)
    found.refs = list(_refs(doc, real_folder))
    return found


def _why(exc: Exception) -> str:
    return f"cannot be read: {getattr(exc, 'strerror', None) or exc}"


def _join(shown: str, name: str) -> str:
    return name if shown in ("", ".") else f"{shown}/{name}"


def _load(text: str) -> tuple[PosDict, str]:
    try:
        doc, _ = load_single(text)
    except (yaml.YAMLError, Unlintable) as exc:
        return PosDict(), f"is not valid YAML ({str(exc).splitlines()[0]})"
    if doc is None:
        return PosDict(), ""
    if not isinstance(doc, PosDict):
        return PosDict(), "is not a mapping"
    return doc, ""


def _refs(doc: Mapping[str, Any], folder: str) -> Iterator[Ref]:
    for key in (*_FOLDER_OR_FILE, *_FILES):
        for i, value in _strings(doc.get(key)):
            if key == "patchesStrategicMerge" and "\n" in value:
                continue  # an inline patch
            yield classify(value, (key, i), folder)
    for key in _ITEM_PATHS:
        for i, item in _maps(doc.get(key)):
            if isinstance(item.get("path"), str):
                yield classify(item["path"], (key, i, "path"), folder)
    openapi = doc.get("openapi")
    if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
        yield classify(openapi["path"], ("openapi", "path"), folder)
    for key in _GENERATORS:
        for i, item in _maps(doc.get(key)):
            yield from _generator_refs(item, (key, i), folder)


def _generator_refs(item: Mapping[str, Any], at: Path, folder: str) -> Iterator[Ref]:
    for field_name in ("files", "envs"):
        for j, value in _strings(item.get(field_name)):
            path = value.split("=", 1)[1] if "=" in value else value
            yield classify(path, (*at, field_name, j), folder)
    if isinstance(item.get("env"), str):
        yield classify(item["env"], (*at, "env"), folder)


def _strings(value: Any) -> Iterator[tuple[int, str]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str) and item.strip():
                yield i, item.strip()


def _maps(value: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, Mapping):
                yield i, item


def classify(value: str, path: Path, folder: str) -> Ref:
    """A reference as kustomize takes it: an existing local folder or file, else a remote
    one when it looks like a URL, else a missing local path."""
    local = os.path.join(folder, value)
    if os.path.isdir(local):
        return Ref(value, path, os.path.realpath(local), "folder")
    if os.path.isfile(local):
        return Ref(value, path, os.path.realpath(local), "file")
    if _REMOTE.search(value):
        return Ref(value, path, "", "remote")
    return Ref(value, path, os.path.realpath(local), "missing")


def inside(real: str, roots: Iterable[str]) -> bool:
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def boundary(path: str) -> str:
    """What a render may read for a linted ``path``: the git work tree that holds it, else
    the path itself (a file's folder)."""
    real = os.path.realpath(path)
    start = real if os.path.isdir(real) else os.path.dirname(real)
    folder = start
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return start
        folder = parent


def repository_root(real: str, paths: Iterable[str]) -> str:
    """Where a file's repository-relative paths (Argo CD, Flux) start: the git work tree that
    holds it, else the linted folder that holds it."""
    for path in paths:
        if path == "-":
            continue
        top = boundary(path)
        if inside(real, [top]):
            return top
    return os.path.dirname(real)
