"""Rendered resources placed back at the lines a person edits.

kustomize, asked for build metadata, annotates every resource it renders with its origin
(the source file, or the generator that made it) and the transformers that touched it, in
order, with the kustomization that configured each. From those:

- the resource's ``file`` is its source document, and a field that has the same value there
  (the same path, the same content) points at it;
- a field a transformer changed points at the kustomization line that configures it: the
  ``namespace:`` for the namespace, ``namePrefix:``/``nameSuffix:`` for the name, the
  ``labels``/``commonLabels`` entry for a label, ``commonAnnotations`` for an annotation;
- any other changed field points at the patch that sets it (a strategic-merge document, a
  JSON 6902 operation, or an inline patch in the kustomization);
- what none of these explains points at the source document's nearest field.

The two annotations are removed before the rules see the resource.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from ..model import Origin, Path, PosDict, PosList, Resource, SourceFile, Span, locate
from ..parse.loader import ParsedFile, load_documents
from .kustomize import Kustomization

ORIGIN = "config.kubernetes.io/origin"
TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"
_GENERATOR_FIELDS = {
    "ConfigMapGenerator": "configMapGenerator",
    "SecretGenerator": "secretGenerator",
    "HelmChartInflationGenerator": "helmCharts",
}
Place = tuple[SourceFile, Span]


@dataclass
class Sources:
    """The files origins point into, by real path: the parsed inputs, and files outside the
    linted paths (a base, a JSON patch) read on demand."""

    parsed: dict[str, ParsedFile]
    shown: Callable[[str], str]  # real path -> path as reports show it
    default_ns: str = "default"
    _docs: dict[str, tuple[SourceFile, list[Any]]] = field(default_factory=dict)

    def file(self, real: str) -> ParsedFile | None:
        found = self.parsed.get(real)
        if found is None and os.path.isfile(real):
            from ..parse.loader import parse_bytes

            try:
                with open(real, "rb") as handle:
                    data = handle.read(64 * 1024 * 1024)
            except OSError:
                return None
            found = parse_bytes(data, SourceFile(self.shown(real)), self.default_ns)
            self.parsed[real] = found
        return found

    def documents(self, real: str) -> tuple[SourceFile, list[Any]] | None:
        """Every document of a file as positioned values (patches need the raw documents)."""
        if real not in self._docs:
            parsed = self.file(real)
            if parsed is None:
                return None
            self._docs[real] = (parsed.source, load_documents(parsed.source.text))
        return self._docs[real]


# ---- adopting a render ------------------------------------------------------------------------
def adopt(
    resources: Sequence[Resource],
    wrapper: str,
    entry: Kustomization,
    kustomizations: Mapping[str, Kustomization],
    sources: Sources,
) -> list[Resource]:
    """Give each rendered resource its origin; strip the build annotations."""
    for res in resources:
        meta = _annotations(res)
        origin_text = meta.pop(ORIGIN, None) if meta is not None else None
        changes_text = meta.pop(TRANSFORMATIONS, None) if meta is not None else None
        if meta is not None and not meta:
            res.body["metadata"].pop("annotations", None)
        chain = _chain(changes_text, wrapper, kustomizations)
        found = _yaml_map(origin_text)
        res.origin = _origin(res, found, wrapper, chain or [entry], entry, sources)
        res.file = res.origin.file
    return list(resources)


def _annotations(res: Resource) -> dict[str, Any] | None:
    meta = res.body.get("metadata")
    notes = meta.get("annotations") if isinstance(meta, dict) else None
    return notes if isinstance(notes, dict) else None


@lru_cache(maxsize=4096)
def _annotation_value(text: str) -> Any:
    """An annotation's YAML value (renders repeat the same transformer list for every
    resource: each text is read once, with the C loader)."""
    try:
        return yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None


def _yaml_map(text: Any) -> dict[str, Any]:
    data = _annotation_value(text) if isinstance(text, str) else None
    return data if isinstance(data, dict) else {}


def _chain(
    text: Any, wrapper: str, kustomizations: Mapping[str, Kustomization]
) -> list[Kustomization]:
    """The kustomizations that transformed the resource, innermost first."""
    steps = _annotation_value(text) if isinstance(text, str) else None
    out: list[Kustomization] = []
    for step in steps if isinstance(steps, list) else []:
        where = step.get("configuredIn") if isinstance(step, dict) else None
        if not isinstance(where, str):
            continue
        k = kustomizations.get(os.path.dirname(_resolve(wrapper, where)))
        if k is not None and k not in out:
            out.append(k)
    return out


@lru_cache(maxsize=65536)
def _resolve(wrapper: str, relative: str) -> str:
    """A path of an annotation (relative to the render's wrapper folder), resolved once: the
    same kustomizations and files recur in every resource of a render."""
    return os.path.realpath(os.path.join(wrapper, relative))


def _origin(
    res: Resource,
    found: Mapping[str, Any],
    wrapper: str,
    chain: list[Kustomization],
    entry: Kustomization,
    sources: Sources,
) -> KustomizeOrigin:
    path = found.get("path")
    source = None
    if isinstance(path, str) and not found.get("repo"):
        parsed = sources.file(_resolve(wrapper, path))
        source = _source_resource(res, parsed.resources if parsed else [])
    if source is not None:
        return KustomizeOrigin(res, source.file, source, chain, sources)
    return KustomizeOrigin(res, *_generated(found, wrapper, chain, entry), sources=sources)


def _source_resource(res: Resource, candidates: Sequence[Resource]) -> Resource | None:
    """The source document of a rendered resource: same kind, and a name the render could
    have made by adding prefixes, suffixes or a content hash."""
    same = [c for c in candidates if c.kind == res.kind]
    exact = [c for c in same if c.name == res.name]
    if exact:
        return exact[0]
    inner = sorted((c for c in same if c.name in res.name), key=lambda c: -len(c.name))
    return inner[0] if inner else (same[0] if len(same) == 1 else None)


def _generated(
    found: Mapping[str, Any], wrapper: str, chain: list[Kustomization], entry: Kustomization
) -> tuple[SourceFile, None, list[Kustomization]]:
    """A generated (or remote) resource points at the kustomization that made it."""
    where = found.get("configuredIn")
    maker = entry
    if isinstance(where, str):
        folder = os.path.dirname(_resolve(wrapper, where))
        maker = next((k for k in chain if k.folder == folder), entry)
    return maker.source, None, [maker, *(k for k in chain if k is not maker)]


# ---- placing fields -------------------------------------------------------------------------
class KustomizeOrigin(Origin):
    """Places for one rendered resource (see the module docstring)."""

    def __init__(
        self,
        rendered: Resource,
        file: SourceFile,
        source: Resource | None,
        chain: list[Kustomization],
        sources: Sources,
    ) -> None:
        self.rendered = rendered.body
        self.kind, self.name = rendered.kind, rendered.name
        self.file = file
        self.source = source
        self.chain = chain
        self.sources = sources
        self.source_ref = source.ref if source is not None else rendered.ref
        self.source_name = source.name if source is not None else rendered.name

    def locate(self, path: Path) -> Span:
        if self.source is None:
            return self._maker_span()
        return locate(self.source.body, path, self.source.body.span)

    def _maker_span(self) -> Span:
        k = self.chain[0]
        for key in _GENERATOR_FIELDS.values():
            if key in k.doc:
                return k.span((key,))
        return k.span(("resources",))

    def place(self, path: Path) -> Place:
        if self.source is None:
            return self.file, self._maker_span()
        changed = first_change(self.rendered, self.source.body, path)
        if changed is not None:
            hit = self._transformer(_label_path(changed, path)) or self._patch(changed, path)
            if hit is not None:
                return hit
        return self.file, self.locate(path)

    # ---- transformers ------------------------------------------------------------------
    def _outermost(self, test: Callable[[Kustomization], Path | None]) -> Place | None:
        for k in reversed(self.chain):
            at = test(k)
            if at is not None:
                return k.source, k.span(at)
        return None

    def _transformer(self, changed: Path) -> Place | None:
        renames_namespace = changed == ("metadata", "name") and self.kind == "Namespace"
        if changed == ("metadata", "namespace") or renames_namespace:
            return self._outermost(lambda k: ("namespace",) if k.get("namespace") else None)
        if changed == ("metadata", "name"):
            return self._outermost(_name_field)
        if len(changed) >= 2 and changed[-2] in ("labels", "matchLabels"):
            return self._outermost(lambda k: _label_field(k, str(changed[-1])))
        if changed[:2] == ("metadata", "annotations") and len(changed) == 3:
            key = str(changed[2])
            return self._outermost(lambda k: _map_field(k, "commonAnnotations", key))
        return None

    # ---- patches -------------------------------------------------------------------------
    def _patch(self, changed: Path, path: Path) -> Place | None:
        for k in reversed(self.chain):
            for at, spec in _patch_specs(k):
                hit = self._patch_place(k, at, spec, changed, path)
                if hit is not None:
                    return hit
        return None

    def _patch_place(
        self, k: Kustomization, at: Path, spec: PatchSpec, changed: Path, path: Path
    ) -> Place | None:
        if not _targets(spec.target, self.kind, (self.name, self.source_name)):
            return None
        if spec.inline is not None:
            docs = load_documents(spec.inline)
            if any(self._touches(d, changed) for d in docs):
                return k.source, k.span(at)
            return None
        real = os.path.realpath(os.path.join(k.folder, spec.file or ""))
        loaded = self.sources.documents(real)
        if loaded is None:
            return None
        source, docs = loaded
        for doc in docs:
            span = self._touch_span(doc, changed, path)
            if span is not None:
                return source, span
        return None

    def _touches(self, doc: Any, changed: Path) -> bool:
        return self._touch_span(doc, changed, changed) is not None

    def _touch_span(self, doc: Any, changed: Path, path: Path) -> Span | None:
        if isinstance(doc, PosList):  # JSON 6902 operations
            return _operation_span(doc, changed)
        if not isinstance(doc, PosDict) or not _same_object(doc, self.kind, self.names):
            return None
        if not _has(doc, changed):
            return None
        best = path if _has(doc, path) else changed
        return locate(doc, best, doc.span)

    @property
    def names(self) -> tuple[str, str]:
        return self.name, self.source_name


# ---- helpers -----------------------------------------------------------------------------------
def _label_path(changed: Path, path: Path) -> Path:
    """A label or annotation map the render added as a whole: the entry asked for."""
    whole_map = bool(changed) and changed[-1] in ("labels", "annotations", "matchLabels")
    if whole_map and len(path) == len(changed) + 1 and path[: len(changed)] == changed:
        return tuple(path)
    return changed


def first_change(rendered: Any, source: Any, path: Path) -> Path | None:
    """The shortest prefix of ``path`` whose value the render changed (added or altered), or
    None when the field (as far as the rendered resource has it) is as the source wrote it."""
    r, s = rendered, source
    for i, key in enumerate(path):
        if not _contains(r, key):
            return None  # the field is absent: point where it would be added
        if not _contains(s, key):
            return path[: i + 1]
        r, s = r[key], s[key]
    return None if r == s else tuple(path)


def _contains(node: Any, key: Any) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)


def _has(doc: Any, path: Path) -> bool:
    node = doc
    for key in path:
        if not _contains(node, key):
            return False
        node = node[key]
    return True


def _name_field(k: Kustomization) -> Path | None:
    for key in ("namePrefix", "nameSuffix"):
        if k.get(key):
            return (key,)
    return None


def _label_field(k: Kustomization, key: str) -> Path | None:
    labels = k.get("labels")
    for i, entry in enumerate(labels if isinstance(labels, list) else []):
        pairs = entry.get("pairs") if isinstance(entry, dict) else None
        if isinstance(pairs, dict) and key in pairs:
            return ("labels", i, "pairs", key)
    return _map_field(k, "commonLabels", key)


def _map_field(k: Kustomization, name: str, key: str) -> Path | None:
    value = k.get(name)
    return (name, key) if isinstance(value, dict) and key in value else None


@dataclass(frozen=True)
class PatchSpec:
    """One patch of a kustomization: a file or an inline text, and its target selector."""

    file: str | None
    inline: str | None
    target: Mapping[str, Any] | None


def _patch_specs(k: Kustomization) -> Iterator[tuple[Path, PatchSpec]]:
    for key in ("patches", "patchesJson6902"):
        items = k.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            target = item.get("target") if isinstance(item.get("target"), dict) else None
            if isinstance(item.get("path"), str):
                yield (key, i, "path"), PatchSpec(item["path"], None, target)
            elif isinstance(item.get("patch"), str):
                yield (key, i, "patch"), PatchSpec(None, item["patch"], target)
    smp = k.get("patchesStrategicMerge")
    for i, item in enumerate(smp if isinstance(smp, list) else []):
        if isinstance(item, str):
            inline = "\n" in item
            yield (
                ("patchesStrategicMerge", i),
                PatchSpec(None if inline else item, item if inline else None, None),
            )


def _targets(target: Mapping[str, Any] | None, kind: str, names: tuple[str, str]) -> bool:
    """Whether a patch's ``target`` selector may select the resource (kind and name; the
    other selectors are not checked, so a patch is at worst considered and found not to set
    the field)."""
    if target is None:
        return True
    if isinstance(target.get("kind"), str) and target["kind"] != kind:
        return False
    name = target.get("name")
    if isinstance(name, str):
        try:
            return any(re.fullmatch(name, n) for n in names)
        except re.error:
            return name in names
    return True


def _same_object(doc: Mapping[str, Any], kind: str, names: tuple[str, str]) -> bool:
    if doc.get("kind") not in (None, kind):
        return False
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name is None or name in names or (isinstance(name, str) and names[0].endswith(name))


def _operation_span(ops: PosList, changed: Path) -> Span | None:
    for i, op in enumerate(ops):
        pointer = op.get("path") if isinstance(op, dict) else None
        if not isinstance(pointer, str):
            continue
        keys = _pointer(pointer)
        size = min(len(keys), len(changed))
        if keys[:size] == tuple(str(p) for p in changed[:size]):
            at = "value" if "value" in op else "path"  # the value set, or the path removed
            return locate(ops, (i, at), ops.span)
    return None


def _pointer(pointer: str) -> tuple[str, ...]:
    parts = pointer.split("/")[1:] if pointer.startswith("/") else pointer.split("/")
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in parts)
