"""Suppressions with a reason: annotation, line comment, comment above, document comment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from manifests import EGRESS_NAMESPACE_AND_WAYPOINT

from egresslint.cli import cli
from egresslint.lint import engine, suppress
from egresslint.model import Finding

SETUP = EGRESS_NAMESPACE_AND_WAYPOINT


def opted_out(name: str, annotations: str = "", label_comment: str = "", above: str = "") -> str:
    return f"""\
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: {name}
  namespace: istio-egress
{annotations}  labels:
{above}    istio.io/use-waypoint: none{label_comment}
spec:
  hosts: [{name}.example.com]
  ports: [{{number: 443, name: tls, protocol: TLS}}]
  resolution: DNS
"""


def lint(tmp_path: Path, text: str, inline: bool = True) -> list[Finding]:
    path = tmp_path / "egress.yaml"
    path.write_text(text, encoding="utf-8")
    opts = engine.Options(paths=[str(path)], base_dir=str(tmp_path), inline_suppressions=inline)
    result = engine.run(opts)
    assert not result.internal_errors
    return [f for f in result.findings if f.rule_id in ("EGL101", "EGL004")]


def states(findings: list[Finding]) -> list[tuple[str, str, str | None]]:
    return [(f.rule_id, f.message.split(" ")[1], f.suppressed) for f in findings]


def test_unsuppressed_baseline(tmp_path: Path) -> None:
    found = lint(tmp_path, SETUP + opted_out("a"))
    assert states(found) == [("EGL101", "istio-egress/a", None)]


def test_annotation_with_reason_by_id_or_name(tmp_path: Path) -> None:
    ann = (
        '  annotations:\n    egresslint.io/ignore: "EGL201=n/a, EGL101=owned by team X, '
        'until 2027-01"\n'
    )
    by_name = '  annotations:\n    egresslint.io/ignore: "se-not-bound-to-waypoint=mirror"\n'
    found = lint(tmp_path, SETUP + opted_out("a", ann) + opted_out("b", by_name) + opted_out("c"))
    assert states(found) == [
        ("EGL101", "istio-egress/a", "owned by team X, until 2027-01"),
        ("EGL101", "istio-egress/b", "mirror"),
        ("EGL101", "istio-egress/c", None),
    ]


def test_annotation_without_reason_is_reported_and_does_not_suppress(tmp_path: Path) -> None:
    ann = '  annotations:\n    egresslint.io/ignore: "EGL101"\n'
    found = lint(tmp_path, SETUP + opted_out("a", ann))
    assert [f.rule_id for f in found] == ["EGL004", "EGL101"]
    assert found[0].message.startswith("ServiceEntry istio-egress/a: the egresslint.io/ignore")
    assert found[0].level == "warning" and found[1].suppressed is None


def test_comment_on_the_line(tmp_path: Path) -> None:
    text = SETUP + opted_out("a", label_comment="  # egresslint: ignore EGL101 -- approved SEC-1")
    assert states(lint(tmp_path, text)) == [("EGL101", "istio-egress/a", "approved SEC-1")]


def test_comment_on_the_line_above(tmp_path: Path) -> None:
    above = "    # egresslint: ignore EGL204, EGL101 -- approved SEC-2\n    # (reviewed)\n"
    text = SETUP + opted_out("a", above=above) + opted_out("b")
    assert states(lint(tmp_path, text)) == [
        ("EGL101", "istio-egress/a", "approved SEC-2"),
        ("EGL101", "istio-egress/b", None),
    ]


def test_trailing_comment_does_not_reach_the_next_line(tmp_path: Path) -> None:
    text = (SETUP + opted_out("a")).replace(
        "  labels:\n", "  labels:  # egresslint: ignore EGL101 -- wrong line\n"
    )
    assert states(lint(tmp_path, text)) == [("EGL101", "istio-egress/a", None)]


def test_comment_at_the_top_of_a_document_covers_only_that_document(tmp_path: Path) -> None:
    doc_a = opted_out("a").replace("---\n", "---\n# egresslint: ignore EGL101 -- whole document\n")
    text = SETUP + doc_a + opted_out("b")
    assert states(lint(tmp_path, text)) == [
        ("EGL101", "istio-egress/a", "whole document"),
        ("EGL101", "istio-egress/b", None),
    ]
    on_marker = opted_out("a").replace("---\n", "--- # egresslint: ignore EGL101 -- marker\n")
    assert states(lint(tmp_path, SETUP + on_marker))[0][2] == "marker"


def test_comment_without_reason(tmp_path: Path) -> None:
    text = SETUP + opted_out("a", label_comment="  # egresslint: ignore EGL101")
    found = lint(tmp_path, text)
    assert [(f.rule_id, f.suppressed) for f in found] == [("EGL101", None), ("EGL004", None)]
    assert found[1].span.line == found[0].span.line
    assert "has no reason" in found[1].message


def test_no_inline_suppressions_ignores_everything(tmp_path: Path) -> None:
    ann = '  annotations:\n    egresslint.io/ignore: "EGL101=ok"\n'
    text = (
        SETUP + opted_out("a", ann) + opted_out("b", label_comment="  # egresslint: ignore EGL101")
    )
    assert states(lint(tmp_path, text, inline=False)) == [
        ("EGL101", "istio-egress/a", None),
        ("EGL101", "istio-egress/b", None),
    ]


def test_parse_comment() -> None:
    assert suppress.parse_comment(" EGL101, EGL204 -- a -- b") == (["EGL101", "EGL204"], "a -- b")
    assert suppress.parse_comment(" EGL101  # expect: EGL004") == (["EGL101"], "")
    assert suppress.parse_comment(" -- reason") == ([], "reason")


def test_cli_exit_code_summary_and_sarif(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SETUP + opted_out("a", label_comment="  # egresslint: ignore EGL101 -- approved")
    (tmp_path / "egress.yaml").write_text(text, encoding="utf-8")
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)  # no configuration file from the repository applies
    path = str(tmp_path / "egress.yaml")
    out = runner.invoke(cli, ["check", "--select", "EGL101", "--show-suppressed", path])
    assert out.exit_code == 0, out.output
    assert "1 suppressed" in out.stdout and "(suppressed: approved)" in out.stdout
    keep = ["--sarif-suppressed", "keep"]  # dropped by default (counted in a run property)
    sarif = runner.invoke(cli, ["check", "--select", "EGL101", "-f", "sarif", *keep, path])
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    assert results[0]["suppressions"] == [{"kind": "inSource", "justification": "approved"}]
    strict = runner.invoke(cli, ["check", "--select", "EGL101", "--no-inline-suppressions", path])
    assert strict.exit_code == 1


def test_each_finding_is_matched_only_against_its_own_file_and_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many suppressions in many files stay linear: a finding is never compared with the
    suppressions of other files or resources."""
    for i in range(40):
        comment = f"  # egresslint: ignore EGL101 -- accepted {i}"
        text = SETUP + opted_out(f"api{i}", label_comment=comment)
        (tmp_path / f"f{i}.yaml").write_text(text, encoding="utf-8")
    calls: list[int] = []
    real = suppress.Suppression.covers

    def counting(self: suppress.Suppression, finding: Finding, names: dict[str, str]) -> bool:
        calls.append(1)
        return real(self, finding, names)

    monkeypatch.setattr(suppress.Suppression, "covers", counting)
    result = engine.run(engine.Options(paths=[str(tmp_path)], base_dir=str(tmp_path), cache=False))
    suppressed = [f for f in result.findings if f.suppressed]
    assert len(suppressed) == 40 and {f.suppressed for f in suppressed} == {
        f"accepted {i}" for i in range(40)
    }
    assert len(calls) <= 2 * len(result.findings)


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        ("", None),  # the text in quotes is a label value, not a comment
        ("  # egresslint: ignore EGL101 -- the real one", "the real one"),
    ],
)
def test_hash_inside_quotes_is_not_a_comment(tmp_path: Path, tail: str, reason: str | None) -> None:
    flow = (
        "  labels: {istio.io/use-waypoint: none, "
        "note: 'it''s # egresslint: ignore EGL101 -- fake', "
        'other: "a \\" # egresslint: ignore EGL101 -- fake too"}' + tail + "\n"
    )
    text = opted_out("a")
    block = text[text.index("  labels:") : text.index("spec:")]
    found = lint(tmp_path, SETUP + text.replace(block, flow))
    assert states(found) == [("EGL101", "istio-egress/a", reason)]


# ---- comments that look like suppressions but are not ---------------------------------------


def notes(tmp_path: Path, text: str, **options: object) -> list[Finding]:
    path = tmp_path / "egress.yaml"
    path.write_text(text, encoding="utf-8")
    opts = engine.Options(paths=[str(path)], base_dir=str(tmp_path), cache=False)
    for key, value in options.items():
        setattr(opts, key, value)
    return [f for f in engine.run(opts).findings if f.rule_id == "EGL007"]


@pytest.mark.parametrize(
    ("comment", "right"),
    [
        ("# egresslint ignore EGL101 -- approved", "# egresslint: ignore EGL101 -- <why"),
        ("# egresslint: disable EGL101 -- approved", "# egresslint: ignore EGL101 -- <why"),
        ("# egresslint-disable EGL101", "# egresslint: ignore EGL101 -- <why"),
        ("# egresslint-disable-next-line", "# egresslint: ignore <rule> -- <why"),
        ("# egresslint:ignroe EGL101 -- ok", "# egresslint: ignore EGL101 -- <why"),
        ("# egresslint: supress se-not-bound-to-waypoint -- ok", "ignore se-not-bound-to-waypoint"),
        ("# egresslint : ignore EGL101 -- ok", "# egresslint: ignore EGL101 -- <why"),
        ("# Egresslint: ignore EGL101 -- ok", "# egresslint: ignore EGL101 -- <why"),
        ("# egress-lint: ignore EGL101 -- ok", "# egresslint: ignore EGL101 -- <why"),
        ("# egresslint EGL101 -- the directive left out", "# egresslint: ignore EGL101 -- <why"),
        ("# egresslint: noqa", "# egresslint: ignore <rule> -- <why"),
    ],
)
def test_near_misses_get_a_note_with_the_right_spelling(
    tmp_path: Path, comment: str, right: str
) -> None:
    line, found = lint_and_notes(tmp_path, comment)
    (note,) = found
    assert note.level == "note" and note.span.line == line
    assert right in note.message and "suppresses nothing" in note.message


def lint_and_notes(tmp_path: Path, comment: str) -> tuple[int, list[Finding]]:
    text = SETUP + opted_out("a", label_comment="  " + comment)
    line = text.splitlines().index(f"    istio.io/use-waypoint: none  {comment}") + 1
    found = notes(tmp_path, text)
    assert all(f.file.path == "egress.yaml" for f in found)
    return line, found


@pytest.mark.parametrize(
    "comment",
    [
        "# checked by egresslint in CI",
        "# egresslint ignores vendor/ by itself",
        "# egresslint: see the README",
        "# egresslint-test: --mode istio-waypoint",
        "# the egresslint.io/ignore annotation says why",
        "# egresslint.io/ignore below",
        "# egresslint is strict here  # expect: EGL101",
        "# egresslint: ignore EGL101, EGL204 -- a valid suppression",
    ],
)
def test_ordinary_mentions_get_nothing(tmp_path: Path, comment: str) -> None:
    assert lint_and_notes(tmp_path, comment)[1] == []


def test_unknown_rules_in_a_valid_comment_get_a_note_and_known_ones_still_apply(
    tmp_path: Path,
) -> None:
    comment = "  # egresslint: ignore EGL1O1, bypass, EGL101 -- approved"
    text = SETUP + opted_out("a", label_comment=comment)
    assert states(lint(tmp_path, text)) == [("EGL101", "istio-egress/a", "approved")]
    (note,) = notes(tmp_path, text)
    assert "'EGL1O1', 'bypass'" in note.message and "for them" in note.message


def test_an_annotation_naming_no_rule_gets_a_note(tmp_path: Path) -> None:
    ann = '  annotations:\n    egresslint.io/ignore: "bypass=not a rule, EGL101=ok"\n'
    (note,) = notes(tmp_path, SETUP + opted_out("a", ann))
    assert note.message.startswith("ServiceEntry istio-egress/a: the egresslint.io/ignore entry")
    assert "'bypass'" in note.message and note.resource is not None


def test_the_note_follows_the_rule_selection(tmp_path: Path) -> None:
    text = SETUP + opted_out("a", label_comment="  # egresslint ignore EGL101 -- approved")
    assert len(notes(tmp_path, text)) == 1
    assert notes(tmp_path, text, ignore=["EGL007"]) == []
    assert notes(tmp_path, text, inline_suppressions=False) == []
    assert [f.level for f in notes(tmp_path, text, levels={"EGL007": "warning"})] == ["warning"]
