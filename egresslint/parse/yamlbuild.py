"""Fast, bounded construction of positioned Python values from libyaml nodes.

PyYAML's generic constructor spends most of a load in bookkeeping (generator states, deep
construction, per-node dispatch through several methods). Kubernetes manifests only need the
safe YAML 1.1 core: mappings, sequences, strings, numbers, booleans and null. This builder
walks the composed node tree once, creates :class:`PosDict` / :class:`PosList` with the
positions the rules need, and enforces the limits that protect the linter:

- aliases are shared, never copied, and the size the document would have after alias
  expansion is counted, so an alias bomb ("billion laughs") is refused cheaply;
- nesting deeper than ``max_depth`` is refused;
- any tag outside the safe core (``!!python/object/apply``, custom ``!Ref`` tags, ...) is
  refused: nothing is ever constructed from a tag, let alone executed;
- integers too long for Python's int-from-string limit are refused.

A refused document raises :class:`Unlintable` with a message for an EGL001 finding; a refusal
for a tag carries the tag (``Unlintable.tag``), so the loader can tell a file written for
another application (a CI pipeline's ``!reference``, CloudFormation's ``!Ref``) from a broken
manifest.
"""

from __future__ import annotations

import operator
import re
import sys
from array import array
from sys import intern
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..model import PosDict, PosList, PosMap, PosSpans, Span

_T = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_T + n for n in ("str", "int", "float", "bool", "null"))
MAP_TAGS = frozenset({_T + "map", _T + "omap", _T + "set", _T + "pairs"})
SEQ_TAGS = frozenset({_T + "seq", _T + "omap", _T + "pairs"})
MERGE = _T + "merge"
AS_TEXT = frozenset({_T + "timestamp", _T + "binary", _T + "value", _T + "yaml"})
_BOOLS = {
    "yes": True,
    "true": True,
    "on": True,
    "y": True,
    "no": False,
    "false": False,
    "off": False,
    "n": False,
}
_SAFE = yaml.constructor.SafeConstructor
_INT_DIGITS = getattr(sys, "get_int_max_str_digits", lambda: 0)() or 4300


_IMPLICIT: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    k: tuple(v) for k, v in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}
_MAP, _SEQ = _T + "map", _T + "seq"
_RESOLVED: dict[str, str] = {}  # plain scalar -> tag, for those an implicit resolver may claim
_RESOLVED_MAX = 65_536


class Loader(yaml.CSafeLoader):
    """``CSafeLoader`` with a faster tag resolver, same answers.

    libyaml's composer asks the Python ``resolve`` for the tag of every untagged node, and
    PyYAML's generic version (a list concatenation and a regex loop per scalar) cost about a
    fifth of the C parse. Quoted scalars and plain ones whose first character no implicit
    resolver claims are strings; the others go through the same regexes, memoised (manifests
    repeat the same few numbers, booleans and ports). This holds for the safe resolver as
    PyYAML ships it (no path or wildcard resolvers); tests/test_loader.py compares both."""

    # libyaml's composer also calls these two hooks around every node, for path resolvers,
    # which the safe resolver has none of. C callables that do nothing in their place (they
    # are not bound as methods: ``is_(parent, index)`` and ``tuple()``) took another tenth
    # off composing.
    descend_resolver = operator.is_  # type: ignore[assignment]
    ascend_resolver = tuple  # type: ignore[assignment]

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            if not implicit[0] or value[:1] not in _IMPLICIT:
                return STR
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = _resolve_plain(value)
                if len(_RESOLVED) < _RESOLVED_MAX:
                    _RESOLVED[value] = tag
            return tag
        return _MAP if kind is MappingNode else _SEQ


def _resolve_plain(value: str) -> str:
    for tag, regexp in _IMPLICIT.get(value[:1], ()):
        if regexp.match(value):
            return tag
    return STR


class Unlintable(Exception):
    """A document the linter refuses to build; ``line`` is 1-based. ``tag`` is the tag as shown
    in the message when the refusal is for a tag outside the safe core (else None)."""

    def __init__(self, message: str, line: int, tag: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.tag = tag


class Builder:
    """Builds one document; keeps the duplicate keys it met (key, 0-based line, column)."""

    def __init__(self, loader: yaml.CSafeLoader, max_nodes: int, max_depth: int) -> None:
        self.loader = loader
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.duplicates: list[tuple[Any, int, int]] = []
        self._built: dict[int, tuple[Any, int]] = {}  # id(node) -> (value, expanded size)
        self._size = 0

    def document(self, node: Node) -> Any:
        self._built.clear()
        self._size = 0
        value, _ = self._node(node, 1)
        return value

    # ---- dispatch -------------------------------------------------------------------------
    def _node(self, node: Any, depth: int) -> tuple[Any, int]:
        cls = node.__class__
        if cls is ScalarNode:
            self._size += 1
            return self._scalar(node), 1
        done = self._built.get(id(node))
        if done is not None:  # an alias: share the object, count its expanded size
            self._grow(done[1], node)
            return done
        value: Any
        if depth > self.max_depth:
            raise Unlintable(
                f"document is nested more than {self.max_depth} levels deep; skipped",
                node.start_mark.line + 1,
            )
        elif cls is MappingNode and node.tag in MAP_TAGS:
            value, size = self._mapping(node, depth)
        elif cls is SequenceNode and node.tag in SEQ_TAGS:
            value, size = self._sequence(node, depth)
        else:
            raise _unsupported(node)
        self._built[id(node)] = (value, size)
        self._size += 1  # growth without aliases is bounded by the text; aliases are checked
        return value, size

    def _grow(self, size: int, node: Node) -> None:
        self._size += size
        if self._size > self.max_nodes:
            raise Unlintable(
                f"document expands to more than {self.max_nodes:,} nodes through aliases "
                "(a YAML 'billion laughs' pattern?); skipped",
                node.start_mark.line + 1,
            )

    # ---- collections ----------------------------------------------------------------------
    def _mapping(self, node: MappingNode, depth: int) -> tuple[PosDict, int]:
        data = PosDict.__new__(PosDict)
        data.span = _span(node)
        flat: list[int] = []  # 8 marks per key, in the order of the keys (see PosMap)
        index: dict[Any, int] | None = None  # key -> position, built at the first duplicate
        size = 1
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.__class__ is ScalarNode and key_node.tag == STR:
                key = intern(key_node.value)  # the common case, inlined; keys repeat a lot
                self._size += 1
            elif key_node.tag == MERGE:
                merges.append(value_node)
                continue
            else:
                key = _hashable(self._node(key_node, depth + 1)[0], key_node)
            duplicate = key in data
            if duplicate:
                self.duplicates.append((key, key_node.start_mark.line, key_node.start_mark.column))
            if value_node.__class__ is ScalarNode and value_node.tag == STR:
                value = value_node.value
                if len(value) <= 40:  # kinds, versions, protocols, modes: the same few words
                    value = intern(value)
                self._size += 1
                size += 1
            else:
                value, vsize = self._node(value_node, depth + 1)
                size += vsize
            data[key] = value
            ks, ke, vs, ve = (
                key_node.start_mark,
                key_node.end_mark,
                value_node.start_mark,
                value_node.end_mark,
            )
            marks = (ks.line, ks.column, ke.line, ke.column, vs.line, vs.column, ve.line, ve.column)
            if duplicate:  # the last value wins, at the first key's place (as in the dict)
                index = index if index is not None else {k: i for i, k in enumerate(data)}
                flat[8 * index[key] : 8 * index[key] + 8] = marks
            else:
                if index is not None:
                    index[key] = len(index)
                flat += marks
        for merge in merges:
            size += self._merge(data, flat, merge, depth)
        data.pos = PosMap(tuple(data), array("i", flat).tobytes())
        return data, size

    def _merge(self, data: PosDict, flat: list[int], node: Node, depth: int) -> int:
        """``<<: *base`` (or a list of them): keys the mapping does not set itself."""
        value, size = self._node(node, depth + 1)
        sources = value if isinstance(value, list) else [value]
        for src in sources:
            if not isinstance(src, PosDict):
                raise Unlintable(
                    "a merge key ('<<') must name a mapping or a list of mappings; skipped",
                    node.start_mark.line + 1,
                )
            for key, marks in src.pos.items():
                if key not in data:
                    data[key] = src[key]
                    flat += marks
        return size

    def _sequence(self, node: SequenceNode, depth: int) -> tuple[PosList, int]:
        data = PosList.__new__(PosList)
        data.span = _span(node)
        flat: list[int] = []  # 4 ints per item (see PosSpans)
        size = 1
        for child in node.value:
            value, vsize = self._node(child, depth + 1)
            size += vsize
            data.append(value)
            s, e = child.start_mark, child.end_mark
            flat += (s.line + 1, s.column + 1, e.line + 1, e.column + 1)
        data.pos = PosSpans(array("i", flat).tobytes())
        return data, size

    # ---- scalars --------------------------------------------------------------------------
    def _scalar(self, node: ScalarNode) -> Any:
        tag, text = node.tag, node.value
        if tag == STR or tag in AS_TEXT:
            return text  # timestamps and binaries stay text, as the API server sees them
        if tag == INT:
            try:
                return self._int(node)
            except ValueError:
                raise _unsupported(node) from None
        if tag == BOOL:
            found = _BOOLS.get(text.lower())
            return found if found is not None else text
        if tag == NULL:
            return None
        if tag == FLOAT:
            try:
                return _SAFE.construct_yaml_float(self.loader, node)
            except ValueError:
                raise _unsupported(node) from None
        raise _unsupported(node)

    def _int(self, node: ScalarNode) -> Any:
        text = node.value
        if len(text.lstrip("+-").lstrip("0")) >= _INT_DIGITS:
            raise Unlintable(
                f"an integer with {len(text):,} digits cannot be a Kubernetes field value; skipped",
                node.start_mark.line + 1,
            )
        if text.isdigit():
            return int(text)
        return _SAFE.construct_yaml_int(self.loader, node)


def _span(node: Node) -> Span:
    s, e = node.start_mark, node.end_mark
    line = s.line + 1  # one int object for both ends of a one-line span (memory)
    return Span(line, s.column + 1, line if e.line == s.line else e.line + 1, e.column + 1)


def _hashable(key: Any, key_node: Node) -> Any:
    try:
        hash(key)
    except TypeError:
        raise Unlintable(
            "a mapping or sequence is used as a mapping key; skipped",
            key_node.start_mark.line + 1,
        ) from None
    return key


def _unsupported(node: Node) -> Unlintable:
    tag = str(node.tag)
    shown = "!!" + tag[len(_T) :] if tag.startswith(_T) else tag
    return Unlintable(
        f"the tag '{shown}' is not plain Kubernetes YAML and is never constructed; "
        "document skipped",
        node.start_mark.line + 1,
        shown,
    )
