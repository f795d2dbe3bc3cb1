"""Validation of resources against the JSON Schemas in ``schemas/kinds``.

Each error becomes (field path, message): the path points at the offending field (for an
unknown field, at that field's key) and the message names the field, what was expected, and
the nearest valid name or value when one is close (``did you mean 'hosts'?``).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from ..model import Path, Resource
from ..packaged import package_dir
from . import fastschema

if TYPE_CHECKING:  # jsonschema is imported only for documents the compiled check rejects
    from jsonschema.exceptions import ValidationError

_UNEXPECTED = re.compile(r"'([^']+)' (?:was|were) unexpected")


@lru_cache(maxsize=1)
def _index() -> dict[str, str]:
    folder = package_dir("schemas") / "kinds"
    index: dict[str, str] = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    return index


def schema_key(api_version: str, kind: str) -> str:
    if "/" in api_version:
        return f"{api_version}/{kind}"
    return f"core/{api_version}/{kind}"


def known(api_version: str, kind: str) -> bool:
    return schema_key(api_version, kind) in _index()


@cache
def _schema(file_name: str) -> Any:
    path = package_dir("schemas") / "kinds" / file_name
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _validator(file_name: str) -> Any:
    import jsonschema

    schema = _schema(file_name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@cache
def _quick(file_name: str) -> fastschema.Check:
    return fastschema.compile_schema(_schema(file_name))


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _hint(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


_IPV6_HEAD = re.compile(r"^[0-9a-fA-F:]*:[0-9a-fA-F]*:?$")


def _ipv6_hint(value: Any) -> str:
    """YAML reads an unquoted IPv6 address ending in '::' as a mapping: say so."""
    if isinstance(value, Mapping) and len(value) == 1:
        key, item = next(iter(value.items()))
        if item is None and isinstance(key, str) and _IPV6_HEAD.match(key):
            return f" (YAML read the unquoted IPv6 address '{key}:' as a mapping: quote it)"
    return ""


def _describe_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), "a list" if isinstance(value, list) else "a mapping"
    )


def _message(err: ValidationError, path: Path) -> str:
    where = _dotted(path)
    if err.validator == "enum":
        choices: Any = err.validator_value
        allowed = [str(v) for v in choices]
        return f"{where}: {err.instance!r} is not one of {', '.join(allowed)}{_hint(str(err.instance), allowed)}"
    if err.validator == "type":
        value: Any = err.validator_value
        expected = value if isinstance(value, str) else " or ".join(value)
        found = f"{where}: expected {expected}, found {_describe_type(err.instance)}"
        return found + _ipv6_hint(err.instance)
    if err.validator == "required":
        missing = (
            _UNEXPECTED.sub("", err.message).split("'")[1] if "'" in err.message else err.message
        )
        return f"{where}: required field '{missing}' is missing"
    plain = _plain_message(err)
    return f"{where}: {plain}" if plain else f"{where}: {_bounded(err.message)}"


def _required_names(schemas: Any) -> list[str]:
    names: list[str] = []
    for sub in schemas if isinstance(schemas, list) else []:
        if isinstance(sub, Mapping):
            names += [str(n) for n in sub.get("required", []) if isinstance(n, str)]
    return names


def _plain_message(err: ValidationError) -> str:
    """What the schema expects, in words, for the validators whose own text is jargon."""
    v, limit = err.validator, err.validator_value
    if v in ("oneOf", "anyOf"):
        names = _required_names(limit)
        if names and "valid under each of" in err.message:
            return f"set only one of {', '.join(names)}"
        if names:
            return f"set one of {', '.join(names)}"
        return "does not have any of the shapes the API accepts"
    if v == "not":
        names = _required_names(as_any_of(limit))
        return f"must not set {' or '.join(names)} here" if names else "is not allowed here"
    simple = {
        "minimum": f"{err.instance!r} is below the minimum {limit}",
        "maximum": f"{err.instance!r} is above the maximum {limit}",
        "minItems": f"needs at least {limit} entr{'y' if limit == 1 else 'ies'}",
        "maxItems": f"takes at most {limit} entr{'y' if limit == 1 else 'ies'}",
        "minLength": "must not be empty" if limit == 1 else f"needs at least {limit} characters",
        "maxLength": f"is longer than {limit} characters",
        "pattern": f"{_short(err.instance)} is not in the form the API accepts",
        "format": f"{_short(err.instance)} is not a valid {limit}",
    }
    return simple.get(str(v), "")


def as_any_of(schema: Any) -> Any:
    """The alternatives of a ``not`` schema (``not: {anyOf: [...]}``), or the schema itself."""
    if isinstance(schema, Mapping) and isinstance(schema.get("anyOf"), list):
        return schema["anyOf"]
    return [schema]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bounded(text: str) -> str:
    return text if len(text) <= 200 else text[:197] + "..."


def _unknown_fields(err: ValidationError) -> Iterator[tuple[Path, str]]:
    match = _UNEXPECTED.search(err.message)
    names = re.findall(r"'([^']+)'", err.message.split("(")[-1]) if match else []
    props = (
        list((err.schema.get("properties") or {}).keys()) if isinstance(err.schema, Mapping) else []
    )
    for name in names:
        path = (*err.absolute_path, name)
        yield path, f"{_dotted(path)}: unknown field '{name}'{_hint(name, props)}"


def errors(resource: Resource) -> list[tuple[Path, str]]:
    """Schema problems of a resource of a known kind: (path relative to it, message)."""
    file_name = _index().get(schema_key(resource.api_version, resource.kind))
    if file_name is None or _quick(file_name)(resource.body):
        return []  # the compiled check accepts almost every document; full validation explains
    out: list[tuple[Path, str]] = []
    try:
        for err in _validator(file_name).iter_errors(resource.body):
            if err.instance is None:
                continue  # the API server prunes null fields before validating
            out.extend(_explain(err))
    except RecursionError:
        out.append(((), "document too deeply nested to validate"))
    return sorted(set(out), key=lambda pm: (len(pm[0]), pm[1]))


def _explain(err: ValidationError) -> list[tuple[Path, str]]:
    if err.validator in ("anyOf", "oneOf") and err.context:
        from jsonschema.exceptions import best_match

        best = best_match(err.context)
        return _explain(best) if best is not None else [(tuple(err.absolute_path), err.message)]
    if err.validator == "additionalProperties":
        return list(_unknown_fields(err))
    path = tuple(err.absolute_path)
    return [(path, _message(err, path))]
