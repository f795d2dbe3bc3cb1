"""From bytes to resources with positions.

Files are parsed with libyaml through PyYAML's ``CSafeLoader`` (YAML 1.1 scalars, as the
Kubernetes API server reads them). A constructor subclass records the position of every key
and value from the node marks and collects duplicate keys. Nothing here raises on bad
input: every problem becomes a finding of a reserved rule (EGL001 unreadable document,
EGL002 duplicate key) and the rest of the input is still returned.

A file none of whose documents is a Kubernetes object (a mapping with ``apiVersion`` and
``kind``), and whose only problems are tags outside the safe core (``!reference`` in a GitLab
pipeline, ``!!python/name:`` in mkdocs.yml, CloudFormation's ``!Ref``), is not a manifest:
it yields nothing, no finding, and ``ParsedFile.not_manifest`` says so.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode

from ..model import Finding, Path, PosDict, Resource, SourceFile, Span, ValuesDoc
from .yamlbuild import Builder, Loader, Unlintable

UNPARSEABLE = "EGL001"
DUPLICATE_KEY = "EGL002"

MAX_EXPANDED_NODES = 200_000  # after alias expansion; real manifests stay far below
MAX_DEPTH = 200
MAX_FALLBACK_CHARS = 1_000_000  # pure-Python re-parse of files libyaml rejects
LIBYAML_MAX_NESTING = 1_000  # libyaml 0.2.6 stops deeper streams with its own error
_DEEP_INDENT = re.compile(f"^ {{{LIBYAML_MAX_NESTING // 2}}}", re.MULTILINE)

CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "GatewayClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "Node",
    }
)

_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def load_single(text: str) -> tuple[Any, list[tuple[Any, int]]]:
    """The first document of ``text`` as positioned values, with its duplicate keys (key,
    1-based line). Raises ``yaml.YAMLError`` or :class:`Unlintable` for unusable input."""
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        builder = Builder(loader, MAX_EXPANDED_NODES, MAX_DEPTH)
        doc = builder.document(node)
        return doc, [(key, line + 1) for key, line, _ in builder.duplicates]
    finally:
        loader.dispose()


def load_documents(text: str) -> list[Any]:
    """Every document of ``text`` as positioned values (mappings, lists or scalars), up to
    the first that cannot be read; never raises (for patches and other non-manifest inputs
    whose positions are needed)."""
    loader = Loader(text)
    docs: list[Any] = []
    try:
        builder = Builder(loader, MAX_EXPANDED_NODES, MAX_DEPTH)
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                docs.append(builder.document(node))
    except (yaml.YAMLError, Unlintable, RecursionError, MemoryError):
        pass
    finally:
        loader.dispose()
    return docs


@dataclass
class ParsedFile:
    """What one file yields: its resources and the problems met while reading it.
    ``not_manifest``: the file is YAML for another application (see the module help)."""

    source: SourceFile
    resources: list[Resource] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    documents: int = 0
    values: list[ValuesDoc] = field(default_factory=list)
    not_manifest: bool = False


def decode(data: bytes) -> tuple[str | None, str | None]:
    """(text, None) or (None, why it cannot be read as YAML text)."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return _try_decode(data, "utf-32")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _try_decode(data, "utf-16")
    if b"\x00" in data[:8192]:
        return None, "binary file (it contains NUL bytes); not YAML"
    text, why = _try_decode(data.removeprefix(codecs.BOM_UTF8), "utf-8")
    if why is not None:
        return None, why
    return text, None


def _try_decode(data: bytes, encoding: str) -> tuple[str | None, str | None]:
    try:
        return data.decode(encoding), None
    except UnicodeDecodeError as exc:  # the finding points at the byte (see parse_bytes)
        return None, (
            f"not valid {encoding.upper().replace('-SIG', '')} text (byte "
            f"0x{data[exc.start]:02x}); save the file as UTF-8"
        )


def _error(source: SourceFile, message: str, line: int = 1, col: int = 1) -> Finding:
    """An EGL001 finding, its position clamped into the file (libyaml may point past the end)."""
    source.line_text(1)
    line = min(max(1, line), max(1, len(source.lines or ())))
    width = len(source.line_text(line))
    col = min(max(1, col), width + 1)
    return Finding(UNPARSEABLE, message, source, Span(line, col, line, max(col + 1, width + 1)))


def _yaml_error(source: SourceFile, exc: yaml.YAMLError) -> Finding:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    detail = f"{context}: {problem}" if context else str(problem)
    hinted = _template_error(source, f"Cannot parse YAML ({detail})")
    ipv6 = _ipv6_hint(source.line_text(line)) if "mapping values" in str(problem) else ""
    return hinted or _error(source, f"Cannot parse YAML: {detail}.{ipv6}", line, col)


_IPV6_END = re.compile(r"(?:^|[\s\[,])([0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*::)\s*(?:#.*)?$")


def _ipv6_hint(line: str) -> str:
    """An unquoted IPv6 address that ends in '::' makes YAML read a mapping: say so."""
    found = _IPV6_END.search(line)
    if found is None:
        return ""
    return f" The line ends in an unquoted IPv6 address ('{found.group(1)}'): quote it."


def _template_error(
    source: SourceFile, what: str, start: int = 0, end: int | None = None
) -> Finding | None:
    """An EGL001 at the first Helm/Go template markup of the text range, if it has any."""
    template = _TEMPLATE.search(source.text, start, len(source.text) if end is None else end)
    if template is None:
        return None
    line = source.text.count("\n", 0, template.start()) + 1
    col = template.start() - source.text.rfind("\n", 0, template.start())
    message = (
        f"{what}; the file contains Helm/Go template markup ('{{{{ ... }}}}'). Render it "
        "first, e.g. 'helm template ... | egresslint check -'."
    )
    return _error(source, message, line, col)


def _identity(doc: PosDict) -> tuple[str, str, str, str] | None:
    api, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api, str) or not isinstance(kind, str) or not kind:
        return None
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name")
    ns = meta.get("namespace")
    return (
        api,
        kind,
        name if isinstance(name, str) else str(name or "<unnamed>"),
        ns if isinstance(ns, str) else "",
    )


def _resources(
    doc: Any, source: SourceFile, index: int, default_ns: str, base: Path = ()
) -> Iterator[Resource]:
    if not isinstance(doc, PosDict):
        return
    ident = _identity(doc)
    if ident is None:
        return
    api, kind, name, ns = ident
    if kind.endswith("List") and isinstance(doc.get("items"), list):
        for i, item in enumerate(doc["items"]):
            yield from _resources(item, source, index, default_ns, (*base, "items", i))
        return
    scoped = kind in CLUSTER_SCOPED
    yield Resource(
        api, kind, name, "" if scoped else (ns or default_ns), doc, source, index, base, scoped
    )


def _nesting_problem(text: str) -> tuple[int, int] | None:
    """(line, depth) where a stream nests deeper than ``MAX_DEPTH``, for texts that could
    nest deeper than libyaml allows.

    libyaml's composer recursion crashes the interpreter past a few ten thousand levels, and
    libyaml 0.2.6 (in newer PyYAML wheels) refuses streams deeper than 1,000 levels with its
    own message, far from where the document first became too deep. Texts that might nest
    that deep are scanned event by event first (flat), so every libyaml gives the same finding
    at the same line. Nesting needs an opener (``[``, ``{``, ``- ``, ``? ``) or one more column
    of indentation per level, so a text with few openers and no deep indentation is safe.
    """
    openers = text.count("[") + text.count("{") + text.count("- ") + text.count("? ")
    if openers <= LIBYAML_MAX_NESTING // 2 and not _DEEP_INDENT.search(text):
        return None
    depth = 0
    parser = Loader(text)
    try:
        while True:
            event = parser.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return None
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return (event.start_mark.line + 1 if event.start_mark else 1), depth
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if "maximum nesting depth" in str(getattr(exc, "problem", "")) and mark is not None:
            return mark.line + 1, LIBYAML_MAX_NESTING  # libyaml's scanner ran ahead of us
        return None  # the real parse reports it with its position
    finally:
        parser.dispose()


def parse_text(text: str, source: SourceFile, default_ns: str = "default") -> ParsedFile:
    """Parse every document of a YAML stream; bad documents become findings."""
    source.text = text
    parsed = ParsedFile(source)
    deep = _nesting_problem(text)
    if deep is not None:
        message = f"Cannot parse YAML: nested more than {MAX_DEPTH:,} levels deep; file skipped."
        parsed.findings.append(_error(source, message, deep[0]))
        return parsed
    failed = _stream(parsed, Loader(text), default_ns)
    if failed and len(text) <= MAX_FALLBACK_CHARS:
        # libyaml rejects some valid YAML that PyYAML's own parser reads (for example
        # '[001:db8::]' in a flow sequence); a file the C parser refuses gets a second try
        retry = ParsedFile(source)
        if not _stream(retry, yaml.SafeLoader(text), default_ns):
            return retry
    return parsed


def _stream(parsed: ParsedFile, loader: Any, default_ns: str) -> bool:
    """Parse every document into ``parsed``; True when the stream stopped on an error."""
    source = parsed.source
    builder = Builder(loader, MAX_EXPANDED_NODES, MAX_DEPTH)
    kube = False  # some document is a Kubernetes object
    tags: list[Finding] = []  # refused tags in documents that are not
    try:
        while loader.check_node():
            is_kube, refused = _document(parsed, builder, loader.get_node(), default_ns)
            kube = kube or is_kube
            tags += [refused] if refused is not None else []
    except yaml.YAMLError as exc:
        parsed.findings.append(_yaml_error(source, exc))
        return True
    except (RecursionError, MemoryError):
        parsed.findings.append(_error(source, "Cannot parse YAML: structure too deep or large."))
        return True
    finally:
        loader.dispose()
    if tags and not kube:
        _not_a_manifest(parsed, tags)
    return False


def _not_a_manifest(parsed: ParsedFile, tags: list[Finding]) -> None:
    """Drop everything of a file with no Kubernetes object whose only findings are the
    ``tags`` refused (files with template markup keep their findings and hint)."""
    if len(tags) != len(parsed.findings) or _TEMPLATE.search(parsed.source.text):
        return
    parsed.findings.clear()
    parsed.resources.clear()
    parsed.values.clear()
    parsed.not_manifest = True


def _is_kube_node(node: Any) -> bool:
    """A mapping whose own scalar keys include ``apiVersion`` and ``kind`` (not constructed)."""
    if not isinstance(node, MappingNode):
        return False
    keys = {key.value for key, _ in node.value if isinstance(key, ScalarNode)}
    return "apiVersion" in keys and "kind" in keys


def _document(
    parsed: ParsedFile, builder: Builder, node: Any, default_ns: str
) -> tuple[bool, Finding | None]:
    """Build one document into ``parsed``: (it is a Kubernetes object, the EGL001 finding of a
    refused tag when it is not one)."""
    source, index = parsed.source, parsed.documents
    parsed.documents += 1
    try:
        doc = builder.document(node)
    except Unlintable as exc:
        what = f"Cannot lint document {index + 1}: {exc}"
        hinted = _template_error(source, what, node.start_mark.index, node.end_mark.index)
        finding = hinted or _error(source, f"{what}.", exc.line)
        parsed.findings.append(finding)
        _duplicates(parsed, builder)
        kube = _is_kube_node(node)
        return kube, (finding if exc.tag is not None and not kube else None)
    _duplicates(parsed, builder)
    if isinstance(doc, PosDict) and doc:
        parsed.resources.extend(_resources(doc, source, index, default_ns))
        if "apiVersion" not in doc and "kind" not in doc:
            parsed.values.append(ValuesDoc(source, index, doc))
        return "apiVersion" in doc and "kind" in doc, None
    return False, None


def _duplicates(parsed: ParsedFile, builder: Builder) -> None:
    """EGL002 for the duplicate keys the builder met in the last document."""
    source = parsed.source
    for key, line, col in builder.duplicates:
        parsed.findings.append(
            Finding(
                DUPLICATE_KEY,
                f"Duplicate key '{key}': depending on the client the last value silently wins "
                "or the apply fails. Keep one.",
                source,
                Span(line + 1, col + 1, line + 1, col + 1 + len(str(key))),
            )
        )
    builder.duplicates.clear()


def parse_bytes(data: bytes, source: SourceFile, default_ns: str = "default") -> ParsedFile:
    text, why = decode(data)
    if text is None:
        line, col = _first_bad_byte(data, source)
        finding = _error(source, f"Cannot read file: {why}.", line, col)
        return ParsedFile(source, findings=[finding])
    return parse_text(text, source, default_ns)


def _first_bad_byte(data: bytes, source: SourceFile) -> tuple[int, int]:
    """Where a text file stops being UTF-8 (1-based line and column; 1, 1 for a binary or
    UTF-16/32 file). The location, not the message, names the line, so a finding's
    fingerprint survives lines added above it; the file is shown with U+FFFD in its place."""
    if b"\x00" in data[:8192]:
        return 1, 1
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        source.text = body.decode("utf-8", "replace")
        head = body[: exc.start]
        start = head.rfind(b"\n") + 1
        return head.count(b"\n") + 1, len(head[start:].decode("utf-8", "replace")) + 1
    return 1, 1
