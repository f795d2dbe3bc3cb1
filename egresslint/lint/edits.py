"""Declarative edits that rules offer as mechanical fixes.

A fixable rule sets ``fixable=True`` in its ``RULE`` and defines a module-level
``fix(finding) -> Edit | None``. The function stays pure: it only describes the change
("set key K to V in the mapping at path P of this resource"); :mod:`egresslint.fix.fixer`
applies it to the file with round-trip editing, so that everything else keeps its bytes.

Edit kinds (all built on :class:`Edit`):

Paths are relative to the resource (as in ``RULE.at``), not to the document.

- :func:`set_key`: set ``key: value`` in the mapping at ``path`` of a resource. An existing
  key gets the new value in place; a new key is inserted after the first of ``after`` that
  the mapping has (else at its end).
- :func:`set_label`: set a label in ``metadata.labels``, creating ``labels`` after
  ``namespace``/``name`` when the resource has none.
- :func:`set_annotation`: the same for ``metadata.annotations``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..model import Finding, Path, Resource

Scalar = str | int | bool | float


@dataclass(frozen=True)
class Edit:
    """Set ``key: value`` in the mapping at ``path`` (relative to ``resource``)."""

    resource: Resource
    path: Path
    key: str
    value: Scalar
    description: str
    after: tuple[str, ...] = ()  # insert a new key after the first of these present
    create: bool = False  # create the mapping at ``path`` (and its parents) when missing
    create_after: tuple[str, ...] = ()  # where a created mapping goes in its parent

    @property
    def full_path(self) -> Path:
        """The mapping's path from the document root (through ``kind: List`` items)."""
        return (*self.resource.base_path, *self.path)

    @property
    def identity(self) -> tuple[str, int, Path, str]:
        return (self.resource.file.path, self.resource.doc_index, self.full_path, self.key)


Fix = Callable[[Finding], "Edit | Iterable[Edit] | None"]

_METADATA_AFTER = ("namespace", "name")


def set_key(
    resource: Resource,
    path: Path,
    key: str,
    value: Scalar,
    description: str,
    after: Iterable[str] = (),
) -> Edit:
    """Set ``key: value`` in the existing mapping at ``path`` of ``resource``."""
    return Edit(resource, tuple(path), key, value, description, tuple(after))


def set_label(resource: Resource, key: str, value: str) -> Edit:
    """Set the label ``key=value`` on ``resource`` (creating ``metadata.labels`` if needed)."""
    return Edit(
        resource,
        ("metadata", "labels"),
        key,
        value,
        f"set label {key}={value} on {resource.ref}",
        create=True,
        create_after=_METADATA_AFTER,
    )


def set_annotation(resource: Resource, key: str, value: str) -> Edit:
    """Set the annotation ``key: value`` on ``resource``."""
    return Edit(
        resource,
        ("metadata", "annotations"),
        key,
        value,
        f"set annotation {key}={value} on {resource.ref}",
        create=True,
        create_after=("labels", *_METADATA_AFTER),
    )


def as_edits(result: Any) -> list[Edit]:
    """Normalise what a rule's ``fix`` returned (None, one edit, or several)."""
    if result is None:
        return []
    if isinstance(result, Edit):
        return [result]
    return [e for e in result if isinstance(e, Edit)]
