"""A quick yes/no JSON Schema check, compiled once per schema into nested closures.

Full ``jsonschema`` validation costs about as much as parsing the YAML. Almost every document
is valid, so :func:`compile_schema` turns a schema into a predicate that answers "certainly
valid" fast; only documents it rejects go through ``jsonschema``'s ``iter_errors`` for the
messages. It covers the keywords of the schemas in ``schemas/kinds`` with the same meaning
as JSON Schema 2020-12; a schema using any other keyword compiles to "not sure" (False), so
the full validator decides and the result can never differ.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]
Builder = Callable[[Any, dict[str, Any]], tuple[Check, bool]]

_IGNORED = frozenset(
    {"$comment", "$schema", "$id", "title", "description", "default", "examples", "format"}
)
_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


def _never(_: Any) -> bool:
    return False


def _always(_: Any) -> bool:
    return True


def compile_schema(schema: Any) -> Check:
    """A predicate that is True only for instances the schema certainly accepts."""
    return _compile(schema)[0]


def _compile(schema: Any) -> tuple[Check, bool]:
    """(predicate, exact): when not exact, False only means "not sure"."""
    if schema is True or schema == {}:
        return _always, True
    if not isinstance(schema, dict) or not set(schema) <= _KNOWN:
        return _never, False
    built = [build(schema[key], schema) for key, build in _BUILDERS.items() if key in schema]
    exact = all(e for _, e in built)
    checks = [c for c, _ in built if c is not _always]
    if not checks:
        return _always, exact
    if len(checks) == 1:
        return checks[0], exact
    return _every(checks), exact


def _every(checks: list[Check]) -> Check:
    """True when every check is (plain calls: a generator per document cost more than the
    checks themselves)."""
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)

    def check(v: Any) -> bool:
        for c in checks:  # noqa: SIM110 - all() over a generator is the cost removed here
            if not c(v):
                return False
        return True

    return check


def _type(value: Any, _: dict[str, Any]) -> tuple[Check, bool]:
    names = [value] if isinstance(value, str) else list(value)
    if not all(n in _TYPES for n in names):
        return _never, False
    preds = [_TYPES[n] for n in names]
    return (preds[0] if len(preds) == 1 else (lambda v: any(p(v) for p in preds))), True


def _properties(value: Any, schema: dict[str, Any]) -> tuple[Check, bool]:
    compiled = {k: _compile(s) for k, s in value.items()}
    props = {k: c for k, (c, _) in compiled.items()}
    extra = schema.get("additionalProperties", True)
    rest, exact = _compile(extra) if extra is not False else (None, True)
    exact = exact and all(e for _, e in compiled.values())

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for key, item in v.items():
            pred = props.get(key)
            if pred is None:
                if rest is None or not rest(item):
                    return False
            elif not pred(item):
                return False
        return True

    return check, exact


def _additional(value: Any, schema: dict[str, Any]) -> tuple[Check, bool]:
    if "properties" in schema:
        return _always, True  # handled together with properties
    if value is False:
        return (lambda v: not isinstance(v, dict) or not v), True
    rest, exact = _compile(value)
    return (lambda v: not isinstance(v, dict) or all(rest(i) for i in v.values())), exact


def _required(value: Any, _: dict[str, Any]) -> tuple[Check, bool]:
    names = list(value)

    def check(v: Any) -> bool:
        if isinstance(v, dict):
            for n in names:  # noqa: SIM110 - all() over a generator costs more than the test
                if n not in v:
                    return False
        return True

    return check, True


def _items(value: Any, _: dict[str, Any]) -> tuple[Check, bool]:
    pred, exact = _compile(value)

    def check(v: Any) -> bool:
        if isinstance(v, list):
            for i in v:
                if not pred(i):
                    return False
        return True

    return check, exact


def _enum(value: Any, _: dict[str, Any]) -> tuple[Check, bool]:
    allowed = [(type(a) is bool, a) for a in value]

    def check(v: Any) -> bool:
        is_v_bool = type(v) is bool
        for is_bool, a in allowed:  # noqa: SIM110 - any() over a generator costs more here
            if is_bool == is_v_bool and a == v:
                return True
        return False

    return check, True


def _pattern(value: Any, _: dict[str, Any]) -> tuple[Check, bool]:
    try:
        regex = re.compile(value)
    except re.error:
        return _never, False
    return (lambda v: not isinstance(v, str) or regex.search(v) is not None), True


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _bound(kind: str) -> Builder:
    def build(limit: Any, _: dict[str, Any]) -> tuple[Check, bool]:
        if kind == "minimum":
            return (lambda v: not _is_num(v) or v >= limit), True
        if kind == "maximum":
            return (lambda v: not _is_num(v) or v <= limit), True
        sized = {"Length": str, "Items": list, "Properties": dict}[kind[3:]]
        if kind.startswith("min"):
            return (lambda v: not isinstance(v, sized) or len(v) >= limit), True
        return (lambda v: not isinstance(v, sized) or len(v) <= limit), True

    return build


def _any_of(value: Any, _: dict[str, Any]) -> tuple[Check, bool]:
    built = [_compile(s) for s in value]
    preds = [c for c, _ in built]
    return (lambda v: any(p(v) for p in preds)), all(e for _, e in built)


def _all_of(value: Any, _: dict[str, Any]) -> tuple[Check, bool]:
    built = [_compile(s) for s in value]
    preds = [c for c, _ in built]
    return (lambda v: all(p(v) for p in preds)), all(e for _, e in built)


def _one_of(value: Any, _: dict[str, Any]) -> tuple[Check, bool]:
    # "exactly one" needs certainty that the others fail: only exact branches give it
    built = [_compile(s) for s in value]
    if not all(e for _, e in built):
        return _never, False
    preds = [c for c, _ in built]
    return (lambda v: sum(1 for p in preds if p(v)) == 1), True


def _not(value: Any, _: dict[str, Any]) -> tuple[Check, bool]:
    pred, exact = _compile(value)
    if not exact:
        return _never, False
    return (lambda v: not pred(v)), True


_BUILDERS: dict[str, Builder] = {
    "type": _type,
    "required": _required,
    "properties": _properties,
    "additionalProperties": _additional,
    "items": _items,
    "enum": _enum,
    "pattern": _pattern,
    "anyOf": _any_of,
    "allOf": _all_of,
    "oneOf": _one_of,
    "not": _not,
    **{
        k: _bound(k)
        for k in (
            "minimum",
            "maximum",
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
        )
    },
}
_KNOWN = frozenset(_BUILDERS) | _IGNORED
