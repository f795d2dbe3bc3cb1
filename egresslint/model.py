"""Resources with source positions, and the findings rules report about them."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Path = tuple[Any, ...]
# (key_line, key_col, key_end_line, key_end_col, val_line, val_col, val_end_line, val_end_col),
# 0-based, as libyaml marks them.
Marks = tuple[int, int, int, int, int, int, int, int]
_MARKS = struct.Struct("8i")
_SPAN = struct.Struct("4i")


class Span(NamedTuple):
    """A 1-based, end-inclusive-line / end-exclusive-column region of a file."""

    line: int
    col: int
    end_line: int
    end_col: int


class PosMap:
    """The marks of a mapping's keys, compact: the keys in order and one ``bytes`` of 8 native
    ints per key (a dict of 8-int tuples held most of the memory at 100k resources). Reads
    like a ``dict[key, Marks]``; lookups scan the keys (mappings are small, and only findings
    and suppressions ask)."""

    __slots__ = ("keys_", "marks")

    def __init__(self, keys: tuple[Any, ...] = (), marks: bytes = b"") -> None:
        self.keys_ = keys
        self.marks = marks

    def __getitem__(self, key: Any) -> Marks:
        try:
            i = self.keys_.index(key)
        except ValueError:
            raise KeyError(key) from None
        return _MARKS.unpack_from(self.marks, _MARKS.size * i)

    def __setitem__(self, key: Any, marks: Marks) -> None:
        packed = _MARKS.pack(*marks)
        if key not in self.keys_:
            self.keys_, self.marks = (*self.keys_, key), self.marks + packed
            return
        i = _MARKS.size * self.keys_.index(key)
        self.marks = self.marks[:i] + packed + self.marks[i + _MARKS.size :]

    def get(self, key: Any, default: Marks | None = None) -> Marks | None:
        return self[key] if key in self.keys_ else default

    def __contains__(self, key: Any) -> bool:
        return key in self.keys_

    def __len__(self) -> int:
        return len(self.keys_)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys_)

    def keys(self) -> tuple[Any, ...]:
        return self.keys_

    def values(self) -> Iterator[Marks]:
        return _MARKS.iter_unpack(self.marks)

    def items(self) -> Iterator[tuple[Any, Marks]]:
        return zip(self.keys_, self.values(), strict=False)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PosMap):
            return self.keys_ == other.keys_ and self.marks == other.marks
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PosMap({dict(self.items())!r})"


class PosDict(dict[Any, Any]):
    """A mapping that remembers where each of its keys and values stands in the file."""

    __slots__ = ("pos", "span")

    def __init__(self) -> None:
        super().__init__()
        self.pos: PosMap = PosMap()
        self.span: Span = Span(1, 1, 1, 1)


class PosSpans:
    """The spans of a sequence's items, packed as 4 native ints each; reads like a
    ``list[Span]``."""

    __slots__ = ("packed",)

    def __init__(self, packed: bytes = b"") -> None:
        self.packed = packed

    def __getitem__(self, i: int) -> Span:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        return Span(*_SPAN.unpack_from(self.packed, _SPAN.size * (i % n)))

    def __len__(self) -> int:
        return len(self.packed) // _SPAN.size

    def __iter__(self) -> Iterator[Span]:
        return (Span(*s) for s in _SPAN.iter_unpack(self.packed))

    def append(self, span: Span) -> None:
        self.packed += _SPAN.pack(*span)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PosSpans):
            return self.packed == other.packed
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class PosList(list[Any]):
    """A sequence that remembers where each of its items stands in the file."""

    __slots__ = ("pos", "span")

    def __init__(self) -> None:
        super().__init__()
        self.pos: PosSpans = PosSpans()
        self.span: Span = Span(1, 1, 1, 1)


def _item_span(item: Any, fallback: Span) -> Span:
    """Point at the first key of a mapping item, or at the whole scalar item."""
    if isinstance(item, PosDict) and item.pos:
        first = item.pos[item.pos.keys_[0]]
        return Span(first[0] + 1, first[1] + 1, first[2] + 1, first[3] + 1)
    return fallback


def locate(root: Any, path: Path, default: Span) -> Span:
    """The span of the field at ``path``, or of its deepest existing ancestor."""
    node, span = root, getattr(root, "span", default)
    for key in path:
        if isinstance(node, PosDict) and key in node.pos:
            m = node.pos[key]
            node = node[key]
            if isinstance(node, (PosDict, PosList)):
                span = Span(m[0] + 1, m[1] + 1, m[2] + 1, m[3] + 1)
            else:
                span = Span(m[0] + 1, m[1] + 1, m[6] + 1, m[7] + 1)
        elif isinstance(node, PosList) and isinstance(key, int) and 0 <= key < len(node):
            node, span = node[key], _item_span(node[key], node.pos[key])
        else:
            break
    return span


@dataclass(eq=False)
class SourceFile:
    """One input file (or standard input) and what loading it found."""

    path: str  # as shown to users: relative to the working folder where possible
    text: str = field(default="", repr=False)
    lines: list[str] | None = field(default=None, repr=False)

    def line_text(self, line: int) -> str:
        if self.lines is None:
            self.lines = self.text.splitlines()
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


class Origin:
    """Where the fields of a rendered resource stand in the files a person edits.

    A resource rendered by kustomize or Helm carries one (``views/origins.py``): its ``file``
    is the source document it came from, and each field is placed where the change that
    produced it is made (the source document, a patch, the kustomization line of a
    transformer, a template). Plain resources have none and are placed in their own file."""

    source_ref: str = ""  # the resource as its source document names it
    source_name: str = ""  # its metadata.name there

    def locate(self, path: Path) -> Span:
        """The span of ``path`` in the resource's own (source) file."""
        raise NotImplementedError

    def place(self, path: Path) -> tuple[SourceFile, Span]:
        """The file and span where ``path`` is set."""
        raise NotImplementedError


@dataclass(eq=False)
class Resource:
    """One Kubernetes object read from a document (or a ``kind: List`` item)."""

    api_version: str
    kind: str
    name: str
    namespace: str
    body: PosDict
    file: SourceFile
    doc_index: int
    base_path: Path = ()  # ("items", 3) for an item of a List document
    cluster_scoped: bool = False
    _labels: dict[str, str] | None = field(default=None, repr=False)
    origin: Origin | None = field(default=None, repr=False)  # set for rendered resources

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else "core"

    @property
    def ref(self) -> str:
        """How messages name the resource: ``ServiceEntry istio-egress/aliyun``."""
        if self.cluster_scoped:
            return f"{self.kind} {self.name}"
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, (dict, Mapping)) else {}

    @property
    def spec(self) -> Mapping[str, Any]:
        spec = self.body.get("spec")
        return spec if isinstance(spec, (dict, Mapping)) else {}

    @property
    def labels(self) -> dict[str, str]:
        if self._labels is None:
            self._labels = _str_map(self.metadata.get("labels"))
        return self._labels

    @property
    def annotations(self) -> dict[str, str]:
        return _str_map(self.metadata.get("annotations"))

    @property
    def source_ref(self) -> str:
        """The resource as its source file names it: ``ref`` for a plain resource, the source
        document's for a rendered one (stable whatever a render prefixed or moved)."""
        return self.origin.source_ref if self.origin is not None else self.ref

    def locate(self, path: Path) -> Span:
        """The span of the field at ``path`` (or of its deepest existing ancestor) in ``file``."""
        if self.origin is not None:
            return self.origin.locate(path)
        return locate(self.body, path, self.body.span)

    def place(self, path: Path) -> tuple[SourceFile, Span]:
        """The file and span a finding about the field at ``path`` points at."""
        if self.origin is not None:
            return self.origin.place(path)
        return self.file, locate(self.body, path, self.body.span)

    def get(self, *path: Any) -> Any:
        """Safe deep lookup: None when any step is missing or of the wrong type."""
        node: Any = self.body
        for key in path:
            if isinstance(node, (dict, Mapping)):  # dict first: no ABC check
                node = node.get(key)
            elif isinstance(node, Sequence) and not isinstance(node, str) and isinstance(key, int):
                node = node[key] if -len(node) <= key < len(node) else None
            else:
                return None
        return node


@dataclass(eq=False)
class ValuesDoc:
    """A YAML mapping document that is not a Kubernetes object (no ``apiVersion``/``kind``),
    such as a Helm values file. Rules read these through ``MeshGraph.values_documents()``."""

    file: SourceFile
    doc_index: int
    body: PosDict

    @property
    def ref(self) -> str:
        """How messages name it: ``Helm values clusters/prod/istiod-values.yaml``."""
        suffix = f" (document {self.doc_index + 1})" if self.doc_index else ""
        return f"Helm values {self.file.path}{suffix}"

    def locate(self, path: Path) -> Span:
        return locate(self.body, path, self.body.span)

    def get(self, *path: Any) -> Any:
        """Safe deep lookup through mappings: None when a step is missing or not a mapping."""
        node: Any = self.body
        for key in path:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node


def listed(items: Iterable[str], limit: int = 5, sep: str = ", ") -> str:
    """Items for a message, at most ``limit`` of them: ``a, b, c and 12 more``."""
    shown = list(items)
    if len(shown) <= limit:
        return sep.join(shown)
    return f"{sep.join(shown[:limit])} and {len(shown) - limit} more"


def as_list(value: Any) -> list[Any]:
    """A YAML sequence as a list; anything else (null, scalar, mapping) as empty."""
    return list(value) if isinstance(value, list) else []


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, (dict, Mapping)) else {}


def enumerate_maps(value: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(index, item) for the mapping items of a sequence; skips items of the wrong type."""
    for i, item in enumerate(as_list(value)):
        if isinstance(item, (dict, Mapping)):
            yield i, item


@dataclass(frozen=True)
class Related:
    """Another resource involved in a finding, with the field that links it."""

    resource: Resource
    path: Path
    message: str

    def place(self) -> tuple[SourceFile, Span]:
        """Where the related field stands (``path`` includes the resource's base path)."""
        res = self.resource
        return res.place(self.path[len(res.base_path) :])


@dataclass(eq=False)
class Finding:
    """One problem found by a rule, located at a field of a file."""

    rule_id: str
    message: str
    file: SourceFile
    span: Span
    resource: Resource | None = None
    path: Path = ()
    related: tuple[Related, ...] = ()
    level: str = ""  # filled by the engine from the rule and the configuration
    suppressed: str | None = None  # the justification, when suppressed in source
    views: tuple[str, ...] = ()  # the views it holds in, when a run has several

    @property
    def identity(self) -> str:
        """Stable across line moves: rule, file, resource and field path (the message stands
        in for them when there is no resource, as for a YAML syntax error)."""
        res = self.resource.source_ref if self.resource else f"document: {self.message}"
        field_path = ".".join(str(p) for p in self.path)
        return f"{self.rule_id}|{self.file.path}|{res}|{field_path}"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file.path, self.span.line, self.span.col, self.rule_id)
