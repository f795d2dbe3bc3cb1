"""Rule metadata drives the docs: the reference is current and every rule explains itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from egresslint.lint.registry import all_rules
from egresslint.report import ruledocs

ROOT = Path(__file__).resolve().parent.parent


def test_rule_reference_is_current() -> None:
    current = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert current == ruledocs.markdown(), "run: egresslint rules --format markdown > docs/rules.md"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_rule_help_says_why_and_how(rule) -> None:  # type: ignore[no-untyped-def]
    text = rule.help.lower()
    assert "why it matters" in text
    assert "fix" in text
    module = next((ROOT / "rules").glob(f"{rule.id.lower()}_*.py"))
    assert module.stem == f"{rule.id.lower()}_{rule.name.replace('-', '_')}"


@pytest.mark.parametrize(
    "rule", [r for r in all_rules() if r.check is not None], ids=lambda r: r.id
)
def test_checked_rules_cite_a_source(rule) -> None:  # type: ignore[no-untyped-def]
    assert "source" in rule.help.lower(), f"{rule.id} help names no source for the behaviour"
