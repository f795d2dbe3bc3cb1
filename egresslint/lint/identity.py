"""The identity of a finding, the same wherever the repository is checked out.

Two runs that find the same defect give it the same identity, whatever the working folder,
the place of the checkout (a temporary copy of a git revision, for ``--diff``), the line the
defect moved to, or the position of its resource in a ``kind: List``::

    EGL102|clusters/prod/namespace.yaml|Namespace istio-egress|metadata.labels.istio.io/use-waypoint

It is made of the rule id; the file, relative to a root (the git work tree's top, or the copy
that stands for it); the resource as its source document names it (``source_ref``: kind,
namespace and name), or, for a finding without a resource (a YAML syntax error), its message
with the root taken out; and the field path within the resource (without the ``items.N``
prefix of a List item). Several findings may share an identity: compare them as counts.

``Identities(root, base)`` computes them for the findings of one run, whose shown paths are
relative to ``base`` (the run's base folder); SARIF fingerprints, baselines and ``--diff``
match findings with it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import PurePath

from ..model import Finding


def identity(finding: Finding, file: str, message: str | None = None) -> str:
    """``rule|file|resource|field`` for ``finding`` located in ``file`` (a path relative to the
    root); ``message`` stands in for the resource when there is none (default: the
    finding's)."""
    res = finding.resource
    if res is None:
        what = f"document: {finding.message if message is None else message}"
        field_path = finding.path
    else:
        what = res.source_ref
        base = res.base_path
        field_path = (
            finding.path[len(base) :] if finding.path[: len(base)] == base else finding.path
        )
    dotted = ".".join(str(p) for p in field_path)
    return f"{finding.rule_id}|{file}|{what}|{dotted}"


class Identities:
    """Identities of the findings of one run: ``root`` is the folder paths are made relative
    to (the git work tree's top, or the copy standing for it), ``base`` the folder the run's
    shown paths are relative to (its base folder, by default the working folder)."""

    def __init__(self, root: str, base: str | None = None) -> None:
        self.root = os.path.realpath(root)
        self.base = os.path.abspath(base or os.getcwd())
        self._paths: dict[str, str] = {}

    def path(self, shown: str) -> str:
        """A shown path relative to the root (POSIX separators); as shown when it is not a
        file path (``<stdin>``, ``<render>``) or lies outside the root."""
        known = self._paths.get(shown)
        if known is None:
            known = self._paths[shown] = self._relative(shown)
        return known

    def _relative(self, shown: str) -> str:
        if shown.startswith("<"):
            return shown
        absolute = os.path.join(self.base, shown)
        real = os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))
        try:
            rel = os.path.relpath(real, self.root)
        except ValueError:  # another drive
            return shown
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            return shown
        return PurePath(rel).as_posix()

    def message(self, text: str) -> str:
        """``text`` with the root's path taken out (messages of render failures name files)."""
        return text.replace(self.root + os.sep, "").replace(self.root, ".")

    def of(self, finding: Finding) -> str:
        message = None if finding.resource is not None else self.message(finding.message)
        return identity(finding, self.path(finding.file.path), message)

    def counts(self, findings: Iterable[Finding]) -> Counter[str]:
        """How many active (unsuppressed) findings have each identity."""
        return Counter(self.of(f) for f in findings if f.suppressed is None)
