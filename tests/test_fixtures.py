"""Every fixture case: findings must equal the ``# expect:`` markers exactly.

``fixtures/EGLnnn/bad-*`` and ``good-*`` (a file or a folder) are checked for rule EGLnnn
only; ``fixtures/repos/*`` are whole repositories checked for every rule, and those named
``clean-*`` must produce nothing at warning or error level.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_support import FIXTURES, observed, read_case, repo_cases, rule_cases, run_case

from egresslint.lint.registry import all_rules
from egresslint.model import PosDict


def _check_resource(finding) -> None:  # type: ignore[no-untyped-def]
    """A rule finding names its resource first and points inside that resource's document
    (for a rendered resource: its source document, or the patch or kustomization line that
    set the field)."""
    if finding.resource is None:
        return
    res = finding.resource
    assert finding.message.startswith(res.ref), finding.message
    if res.origin is not None and finding.file is not res.file:
        return
    assert res.file is finding.file
    span = res.locate(()) if isinstance(res.body, PosDict) else None
    assert span is not None and span.line <= finding.span.line <= span.end_line


@pytest.mark.parametrize("path", rule_cases(), ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_rule_case(path: Path) -> None:
    rule_id = path.parent.name
    case = read_case(path)
    result = run_case(case)
    assert not result.internal_errors
    found = [f for f in result.findings if f.rule_id == rule_id]
    expected = {e for e in case.expected if e[2] == rule_id}
    if path.name.startswith("bad-"):
        assert expected, f"{path} is a bad case without '# expect: {rule_id}' markers"
    else:
        assert not expected, "good cases carry no markers for their own rule"
    assert observed(found) == expected, "\n".join(
        f"{f.file.path}:{f.span.line}: {f.message}" for f in found
    )
    for f in found:
        _check_resource(f)


@pytest.mark.parametrize("path", repo_cases(), ids=lambda p: p.name)
def test_repository(path: Path) -> None:
    case = read_case(path)
    result = run_case(case)
    assert not result.internal_errors
    assert observed(result.findings) == case.expected, "\n".join(
        f"{f.file.path}:{f.span.line}: {f.rule_id} {f.message}" for f in result.findings
    )
    for f in result.findings:
        _check_resource(f)
    if path.name.startswith("clean-"):
        assert all(f.level == "note" for f in result.findings)


def test_every_rule_has_bad_and_good_fixtures() -> None:
    for rule in all_rules():
        cases = (
            [p.name for p in (FIXTURES / rule.id).glob("*")]
            if (FIXTURES / rule.id).is_dir()
            else []
        )
        assert any(c.startswith("bad-") for c in cases), f"{rule.id} has no bad-* fixture"
        assert any(c.startswith("good-") for c in cases), f"{rule.id} has no good-* fixture"


@pytest.mark.parametrize(
    "example", sorted((FIXTURES / "examples").glob("walkthrough-*")), ids=lambda p: p.name
)
def test_walkthroughs_are_clean(example: Path) -> None:
    result = run_case(read_case(example))
    assert result.resources >= 8
    assert [f for f in result.findings if f.level != "note"] == []
