"""Three-valued logic for judgements a repository may not settle: True (certainly),
False (certainly not), None (depends on what the view does not hold)."""

from __future__ import annotations

from collections.abc import Iterable

Tristate = bool | None


def all_of(values: Iterable[Tristate]) -> Tristate:
    """False if any is False, else None if any is None, else True (True for none)."""
    out: Tristate = True
    for v in values:
        if v is False:
            return False
        if v is None:
            out = None
    return out


def any_of(values: Iterable[Tristate]) -> Tristate:
    """True if any is True, else None if any is None, else False (False for none)."""
    out: Tristate = False
    for v in values:
        if v is True:
            return True
        if v is None:
            out = None
    return out
