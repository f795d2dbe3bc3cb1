"""Recognising ztunnel Helm values documents and reading their ``egressPolicies`` value.

A values document is recognised by content, not by file name: a YAML mapping without
``apiVersion``/``kind`` (see ``MeshGraph.values_documents()``) that either

- has a top-level ``ztunnel:`` mapping (the umbrella ``ambient`` chart), or
- has ``egressPolicies`` or at least two ztunnel chart keys (``caAddress``, ``xdsAddress``,
  ``peerCaCrl``, ``resourceName``, ``resourceScope``, ``logAsJson``, ``istioNamespace``,
  ``multiCluster``) at the top level or under ``_internal_defaults_do_not_set``.

Accepted ``egressPolicies`` shape (tolerant; the public description is thin)::

    egressPolicies:              # a list, or a mapping with a `policies:`/`rules:` list
    - namespaces: [team-a]       # optional: source namespaces the entry applies to
      matchCidrs: [0.0.0.0/0]    # optional: destination CIDRs
      matchPorts: [443]          # optional: destination ports
      policy: Deny               # Deny | Passthrough | Gateway (case-insensitive)

Modes understood (``MODES``), and where they come from:

- ``Deny``: refuse the connection. ``Passthrough``: let it leave directly. Both follow the only
  published schema, Alibaba Cloud ASM "ztunnel configuration" (its ``ztunnel-config``
  ConfigMap): entries apply only to destinations that are not in the service registry (no
  Service or ServiceEntry), an empty or missing list allows everything, and its examples read
  first match wins.
- ``Gateway``: send the connection through the ztunnel egress gateway instead of letting it
  leave (unknown destinations are forced through the gateway, where its policy applies). This
  follows the vendor's documentation of its ztunnel egress mode (`solo-ztunnel-egress`) as the
  project's domain notes record it; the value is vendor-only.

Any other ``policy`` value (or none) is not understood: ``permissive`` then says nothing.
An entry without ``namespaces``, ``matchCidrs`` and ``matchPorts`` matches everything.

Upstream Istio's ztunnel chart has no ``egressPolicies`` value (`manifests/charts/ztunnel/
values.yaml` and `templates/` at 1.22.0 through 1.30.3 and 1.31.0-rc.0), and no
``values.schema.json``, so Helm accepts the key and ignores it: only a vendor chart reads it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import Path, ValuesDoc, as_list

ZTUNNEL_KEYS = frozenset(
    {
        "caAddress",
        "xdsAddress",
        "peerCaCrl",
        "resourceName",
        "resourceScope",
        "logAsJson",
        "istioNamespace",
        "multiCluster",
    }
)
_WRAPPER = "_internal_defaults_do_not_set"


@dataclass(frozen=True)
class ZtunnelValues:
    """The ztunnel section of a values document and where it starts."""

    doc: ValuesDoc
    base: Path  # () for a ztunnel chart file, ("ztunnel",) for the umbrella chart

    def get(self, *path: Any) -> Any:
        return self.doc.get(*self.base, *path)

    @property
    def policies_path(self) -> Path:
        return (*self.base, "egressPolicies")


def _looks_like_ztunnel(section: Mapping[str, Any]) -> bool:
    return "egressPolicies" in section or len(ZTUNNEL_KEYS & set(section)) >= 2


def find(doc: ValuesDoc) -> ZtunnelValues | None:
    """The ztunnel section of a values document, if it is one."""
    body = doc.body
    if isinstance(body.get("ztunnel"), Mapping):
        return ZtunnelValues(doc, ("ztunnel",))
    if _looks_like_ztunnel(body):
        return ZtunnelValues(doc, ())
    inner = body.get(_WRAPPER)
    if isinstance(inner, Mapping) and _looks_like_ztunnel(inner):
        return ZtunnelValues(doc, (_WRAPPER,))
    return None


def entries(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    """The policy entries of an ``egressPolicies`` value, with their index."""
    if isinstance(value, Mapping):
        value = value.get("policies", value.get("rules"))
    return [(i, e) for i, e in enumerate(as_list(value)) if isinstance(e, Mapping)]


MODES = ("deny", "passthrough", "gateway")
RESTRICTING = ("deny", "gateway")  # the connection does not leave unchecked


def _policy(entry: Mapping[str, Any]) -> str:
    value = entry.get("policy", entry.get("action", ""))
    return value.lower() if isinstance(value, str) else ""


def _catch_all(entry: Mapping[str, Any]) -> bool:
    return not any(as_list(entry.get(k)) for k in ("namespaces", "matchCidrs", "matchPorts"))


def permissive(value: Any) -> str | None:
    """Why an ``egressPolicies`` value lets every unregistered destination leave unchecked, or
    None when some entry denies or sends to the gateway (or an entry's mode is not understood)."""
    items = entries(value)
    if not items:
        return "it has no entries (empty means allow all)"
    for _, entry in items:
        mode = _policy(entry)
        if mode not in MODES or mode in RESTRICTING:
            return None
        if _catch_all(entry):
            return "its first catch-all entry is Passthrough"
    return "every entry is Passthrough"


def restricts(value: Any) -> bool:
    """Whether an ``egressPolicies`` value stops some unregistered destination from leaving
    directly: a ``Deny`` or ``Gateway`` entry that no earlier catch-all entry of another mode
    shadows. A mode not understood never counts (unlike ``permissive``, which then says
    nothing)."""
    for _, entry in entries(value):
        mode = _policy(entry)
        if mode in RESTRICTING:
            return True
        if _catch_all(entry):
            return False
    return False


def sections(docs: list[ValuesDoc]) -> Iterator[ZtunnelValues]:
    for doc in docs:
        found = find(doc)
        if found is not None:
            yield found
