"""Parity with `istioctl analyze` (docs/istioctl-analyze.md), generated so it cannot drift.

Rules declare the analyzer message codes they cover (``Rule.istio_analyzer``); every other
message of Istio's catalogue has a status and a reason in ``istioctl_parity.yaml`` beside this
module: pending (a rule checks it, its metadata does not declare it yet), gap (it applies, no
rule checks it yet), not-applicable, or out-of-scope (kinds egresslint does not read).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ..lint.registry import all_rules
from ..lint.rule import Rule

DATA = Path(__file__).with_name("istioctl_parity.yaml")
SCOPES = ("in", "out")
REASONED = ("pending", "gap", "not-applicable", "out-of-scope")
COVERED = "covered"
STATUS_TEXT = {
    COVERED: "covered",
    "pending": "pending",
    "gap": "not yet covered",
    "not-applicable": "not applicable",
    "out-of-scope": "out of scope",
}


@dataclass(frozen=True)
class Message:
    """One analyzer message of Istio's catalogue and what egresslint does about it."""

    code: str
    name: str
    level: str
    since: str  # the Istio tag that added it, when newer than the catalogue's version
    analyzers: tuple[str, ...]  # producers whose check concerns what egresslint reads
    other_analyzers: tuple[str, ...]  # producers about kinds egresslint does not read
    kinds: tuple[str, ...]
    scope: str  # "in" or "out"
    status: str | None  # one of REASONED, or None where rules declare the code
    rules: tuple[str, ...]  # rules that check it but do not declare the code yet
    related: tuple[str, ...]  # rules that report a related condition
    reason: str

    @property
    def producers(self) -> tuple[str, ...]:
        return self.analyzers + self.other_analyzers


@dataclass(frozen=True)
class Catalogue:
    istio_version: str
    messages: tuple[Message, ...]

    def get(self, code: str) -> Message | None:
        return next((m for m in self.messages if m.code == code), None)


def _strings(entry: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = entry.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{DATA.name}: {entry.get('code')}: '{key}' must be a list of strings")
    return tuple(value)


def _text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{DATA.name}: {entry.get('code')}: '{key}' must be a string")
    return " ".join(value.split())


def _message(entry: Mapping[str, Any]) -> Message:
    status = entry.get("status")
    return Message(
        code=_text(entry, "code"),
        name=_text(entry, "name"),
        level=_text(entry, "level"),
        since=_text(entry, "since"),
        analyzers=_strings(entry, "analyzers"),
        other_analyzers=_strings(entry, "other_analyzers"),
        kinds=_strings(entry, "kinds"),
        scope=_text(entry, "scope"),
        status=status if isinstance(status, str) else None,
        rules=_strings(entry, "rules"),
        related=_strings(entry, "related"),
        reason=_text(entry, "reason"),
    )


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The messages of ``istioctl_parity.yaml``, in its order."""
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    entries = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f"{DATA.name}: 'messages' must be a list of mappings")
    return Catalogue(str(data.get("istio_version", "")), tuple(_message(e) for e in entries))


def declared(rules: Iterable[Rule] | None = None) -> dict[str, tuple[str, ...]]:
    """Code -> the ids of the rules whose metadata declares it."""
    out: dict[str, list[str]] = {}
    for rule in all_rules() if rules is None else rules:
        for code in rule.istio_analyzer:
            out.setdefault(code, []).append(rule.id)
    return {code: tuple(ids) for code, ids in out.items()}


def status(message: Message, by_code: Mapping[str, tuple[str, ...]]) -> str:
    """``covered`` where rules declare the code, else the status the data file gives."""
    if by_code.get(message.code):
        return COVERED
    return message.status or "missing"


def _shape_problems(message: Message) -> list[str]:
    """Fields with values the table does not allow."""
    out = []
    if message.scope not in SCOPES:
        out.append(f"scope must be one of {SCOPES}")
    if message.status is not None and message.status not in REASONED:
        out.append(f"status must be one of {REASONED} or absent (rules declare it)")
    if not message.reason:
        out.append("no reason")
    if (message.status == "out-of-scope") != (message.scope == "out"):
        out.append("status out-of-scope goes with scope out, and only with it")
    if message.status == "pending" and not message.rules:
        out.append("pending names no rule")
    return out


def _coverage_problems(message: Message, by_code: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Where the table and the rules' declarations disagree."""
    current = status(message, by_code)
    if current == "missing":
        return ["no rule declares it and it has no status"]
    if current != COVERED:
        return []
    out = []
    if message.status in ("not-applicable", "out-of-scope"):
        out.append(f"declared by {', '.join(by_code[message.code])} but {message.status}")
    if message.scope != "in":
        out.append("declared by a rule but out of scope")
    return out


def _entry_problems(message: Message, by_code: Mapping[str, tuple[str, ...]]) -> list[str]:
    found = _shape_problems(message) + _coverage_problems(message, by_code)
    return [f"{message.code} ({message.name}): {p}" for p in found]


def _rule_problems(
    cat: Catalogue, by_code: Mapping[str, tuple[str, ...]], rule_ids: set[str]
) -> list[str]:
    out = [
        f"{', '.join(ids)}: declares {code}, which is not in the catalogue"
        for code, ids in by_code.items()
        if cat.get(code) is None
    ]
    for message in cat.messages:
        unknown = sorted(set(message.rules + message.related) - rule_ids)
        if unknown:
            out.append(f"{message.code}: names unknown rules {unknown}")
    return out


def problems(rules: Iterable[Rule] | None = None) -> list[str]:
    """Why the table is incomplete or contradicts the rules' metadata (empty when it is fine)."""
    chosen = list(all_rules() if rules is None else rules)
    by_code = declared(chosen)
    cat = catalogue()
    codes = [m.code for m in cat.messages]
    out = [] if codes == sorted(set(codes)) else ["codes must be unique and sorted"]
    for message in cat.messages:
        out += _entry_problems(message, by_code)
    return out + _rule_problems(cat, by_code, {r.id for r in chosen})


# ---- the document ------------------------------------------------------------------------

HEADER = """# egresslint and `istioctl analyze`

Generated by `egresslint rules --format istioctl`; do not edit by hand. Rules declare the
analyzer messages they cover in their metadata (`istio_analyzer`, also in SARIF rule
`properties`); the reasons for the others are in `egresslint/report/istioctl_parity.yaml`.

A rule declares a message when it reports the analyzer's condition, at least for egress
configuration; the notes say where it differs. `tests/test_istioctl_parity.py` runs the
declaring rules on Istio's own analyzer test inputs and compares with Istio's expected
messages, listing each deliberate difference with its reason.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rule_links(ids: Iterable[str]) -> str:
    return ", ".join(f"[{i}](rules.md#{i.lower()})" for i in ids)


def _verdict(message: Message, by_code: Mapping[str, tuple[str, ...]]) -> str:
    current = status(message, by_code)
    parts = [f"**{STATUS_TEXT.get(current, current)}**"]
    if current == COVERED:
        parts.append("by " + _rule_links(by_code[message.code]))
    if message.rules and not set(message.rules) <= set(by_code.get(message.code, ())):
        waiting = [r for r in message.rules if r not in by_code.get(message.code, ())]
        parts.append(f"(checked by {_rule_links(waiting)}, declaration pending)")
    text = " ".join(parts) + ": " + message.reason
    if message.related:
        text += f" Related: {_rule_links(message.related)}."
    return _cell(text)


def _code(message: Message) -> str:
    return f"{message.code} (since {message.since})" if message.since else message.code


def _producers(message: Message) -> str:
    """The analyzers reporting it; in the egress table, those about other kinds marked."""
    mark = " (other kinds)" if message.scope == "in" else ""
    names = [f"`{a}`" for a in message.analyzers]
    names += [f"`{a}`{mark}" for a in message.other_analyzers]
    return ", ".join(names) or "none"


def _counts(cat: Catalogue, by_code: Mapping[str, tuple[str, ...]]) -> dict[str, int]:
    counts = {s: 0 for s in (COVERED, *REASONED)}
    for m in cat.messages:
        counts[status(m, by_code)] = counts.get(status(m, by_code), 0) + 1
    return counts


def _summary(cat: Catalogue, by_code: Mapping[str, tuple[str, ...]]) -> str:
    base = [m for m in cat.messages if not m.since]
    later = ", ".join(f"{m.code} (added in {m.since})" for m in cat.messages if m.since)
    inside = [m for m in cat.messages if m.scope == "in"]
    counts = _counts(cat, by_code)
    added = f", plus the later messages rules declare: {later}" if later else ""
    return (
        f"Istio {cat.istio_version}: {len(base)} messages in "
        f"`pkg/config/analysis/msg/messages.yaml`{added}. {len(inside)} concern what "
        "egresslint reads (ServiceEntry, DestinationRule, VirtualService, AuthorizationPolicy, "
        "Gateway API Gateway and HTTPRoute, Namespace labels, workloads' ambient data plane): "
        f"{counts[COVERED]} covered, {counts['pending']} pending, {counts['gap']} not yet "
        f"covered, {counts['not-applicable']} not applicable to static egress linting. "
        f"{counts['out-of-scope']} concern other kinds.\n"
    )


def _by_rule(by_code: Mapping[str, tuple[str, ...]]) -> list[str]:
    rows = ["## By rule\n", "| rule | istioctl analyze |", "|---|---|"]
    codes_of: dict[str, list[str]] = {}
    for code, ids in sorted(by_code.items()):
        for rule_id in ids:
            codes_of.setdefault(rule_id, []).append(code)
    rows += [f"| {_rule_links([r])} | {', '.join(c)} |" for r, c in sorted(codes_of.items())]
    return rows


def _in_scope(cat: Catalogue, by_code: Mapping[str, tuple[str, ...]]) -> list[str]:
    rows = [
        "\n## Messages about what egresslint reads\n",
        "| code | name | level | concerns | reported by | egresslint |",
        "|---|---|---|---|---|---|",
    ]
    for m in cat.messages:
        if m.scope == "in":
            rows.append(
                f"| {_code(m)} | {m.name} | {m.level} | {', '.join(m.kinds)} | "
                f"{_producers(m)} | {_verdict(m, by_code)} |"
            )
    return rows


def _out_of_scope(cat: Catalogue) -> list[str]:
    rows = [
        "\n## Messages about other kinds\n",
        "| code | name | level | concerns | reported by | why not |",
        "|---|---|---|---|---|---|",
    ]
    for m in cat.messages:
        if m.scope == "out":
            kinds = ", ".join(m.kinds) or "-"
            rows.append(
                f"| {_code(m)} | {m.name} | {m.level} | {kinds} | {_producers(m)} | "
                f"{_cell(m.reason)} |"
            )
    return rows


def markdown(rules: Iterable[Rule] | None = None) -> str:
    """docs/istioctl-analyze.md."""
    by_code = declared(rules)
    cat = catalogue()
    parts = [HEADER, _summary(cat, by_code), *_by_rule(by_code)]
    parts += _in_scope(cat, by_code) + _out_of_scope(cat)
    return "\n".join(parts).rstrip() + "\n"
