"""Host lookups by DNS suffix, so matching a host against every wildcard stays linear overall.

``*.example.com`` covers ``api.example.com`` and ``*.eu.example.com``: a name is covered by
the wildcards filed under one of its own dot-suffixes, so a lookup costs one dictionary probe
per label of the name instead of a scan of every wildcard in the repository.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Generic, TypeVar

from .selectors import host_matches

T = TypeVar("T")


def _suffixes(name: str) -> Iterator[str]:
    """``.b.c`` and ``.c`` for ``a.b.c``; also ``.b.c`` for ``*.b.c``."""
    start = 1
    while True:
        i = name.find(".", start)
        if i < 0:
            return
        yield name[i:]
        start = i + 1


class HostIndex(Generic[T]):
    """Values filed under host names, some of them wildcards; queried in insertion order."""

    def __init__(self) -> None:
        self._seq = 0
        self._by_suffix: dict[str, list[tuple[int, str, T]]] = defaultdict(list)
        self._odd: list[tuple[int, str, T]] = []  # "*" and "*foo": checked one by one
        self._concrete: dict[str, list[tuple[int, str, T]]] = defaultdict(list)

    def add_wildcard(self, pattern: str, value: T) -> None:
        self._seq += 1
        if pattern.startswith("*.") and len(pattern) > 2:
            self._by_suffix[pattern[1:]].append((self._seq, pattern, value))
        else:
            self._odd.append((self._seq, pattern, value))

    def add_concrete(self, host: str, value: T) -> None:
        """File a concrete host so that wildcard queries (``*.example.com``) find it."""
        self._seq += 1
        self._concrete[""].append((self._seq, host, value))
        for suffix in _suffixes(host):
            self._concrete[suffix].append((self._seq, host, value))

    def wildcards_covering(self, name: str) -> list[T]:
        """Values of wildcard patterns that cover ``name`` (same answer as ``host_matches``)."""
        found = [e for s in _suffixes(name) for e in self._by_suffix.get(s, ())]
        found += [e for e in self._odd if host_matches(e[1], name)]
        return [v for _, p, v in sorted(found, key=lambda e: e[0]) if host_matches(p, name)]

    def concrete_under(self, pattern: str) -> list[T]:
        """Values of concrete hosts that the wildcard ``pattern`` covers."""
        if pattern == "*":
            found = list(self._concrete.get("", ()))
        elif pattern.startswith("*.") and len(pattern) > 2:
            found = list(self._concrete.get(pattern[1:], ()))
        else:
            return []
        return [v for _, h, v in sorted(found, key=lambda e: e[0]) if host_matches(pattern, h)]
