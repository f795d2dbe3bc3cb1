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
        return f"{where}: expected {expected}, found {_describe_type(err.instance)}"
    if err.validator == "required":
        missing = (
            _UNEXPECTED.sub("", err.message).split("'")[1] if "'" in err.message else err.message
        )
        return f"{where}: required field '{missing}' is missing"
    return f"{where}: {err.message}"


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
            if err.validator == "type" and err.instance is None:
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
