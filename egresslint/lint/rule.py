"""What a rule is: metadata beside a pure check function over the mesh graph."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..model import Finding, Path, Related, Resource

if TYPE_CHECKING:
    from ..mesh.graph import MeshGraph

TAGS = ("bypass", "unreachable", "waypoint-restricted", "unsupported-feature", "invalid")
LEVELS = ("error", "warning", "note")
LEVEL_RANK = {"note": 1, "warning": 2, "error": 3}
PRECISIONS = ("very-high", "high", "medium", "low")
ID_PATTERN = re.compile(r"^EGL\d{3}$")
NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass
class Context:
    """What a check sees: the graph and the run's options."""

    graph: MeshGraph
    istio_version: tuple[int, int, int] = (1, 30, 0)
    params: Mapping[str, Any] = field(default_factory=dict)


Check = Callable[[Context], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """A rule's identity and documentation. ``id`` and ``name`` never change once released."""

    id: str
    name: str
    tag: str
    level: str
    summary: str
    help: str = ""  # markdown; rules put it in their module docstring
    kinds: tuple[str, ...] = ()
    precision: str = "high"
    security_severity: str | None = None  # set for security-relevant rules (SARIF)
    fixable: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)
    # rule ids whose finding this rule's may accompany on the same field, as a consequence
    follows: tuple[str, ...] = ()
    # istioctl analyze message codes (pkg/config/analysis/msg/messages.yaml) this rule covers
    istio_analyzer: tuple[str, ...] = ()
    check: Check | None = field(default=None, compare=False)

    @property
    def security(self) -> bool:
        return self.security_severity is not None

    def at(
        self,
        resource: Resource,
        path: Path,
        message: str,
        related: Iterable[Related] = (),
    ) -> Finding:
        """A finding on ``resource`` at the field ``path`` (relative to the resource)."""
        full = (*resource.base_path, *path)
        file, span = resource.place(path)
        return Finding(self.id, message, file, span, resource, full, tuple(related))

    def problems(self) -> list[str]:
        """Why this metadata is not acceptable (empty when it is)."""
        out = []
        if not ID_PATTERN.match(self.id):
            out.append(f"{self.id}: id must be EGL followed by three digits")
        if not NAME_PATTERN.match(self.name):
            out.append(f"{self.id}: name {self.name!r} must be kebab-case")
        if self.tag not in TAGS:
            out.append(f"{self.id}: tag {self.tag!r} is not one of {', '.join(TAGS)}")
        if self.level not in LEVELS:
            out.append(f"{self.id}: level {self.level!r} is not one of {', '.join(LEVELS)}")
        if self.precision not in PRECISIONS:
            out.append(f"{self.id}: precision {self.precision!r} is not one of {PRECISIONS}")
        bad_codes = [c for c in self.istio_analyzer if not re.fullmatch(r"IST\d{4}", c)]
        if bad_codes:
            out.append(f"{self.id}: istio_analyzer codes must look like IST0123: {bad_codes}")
        if not self.summary.strip() or not self.help.strip():
            out.append(f"{self.id}: summary and help must not be empty")
        return out


def related(resource: Resource, path: Path, message: str) -> Related:
    return Related(resource, (*resource.base_path, *path), message)
