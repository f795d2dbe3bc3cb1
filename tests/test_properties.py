"""Property-based tests: random YAML and random mutations of real resources never make the
linter raise, every finding points inside its file, and the SARIF report stays schema-valid."""

from __future__ import annotations

import copy
import json
import random
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egresslint.lint import engine
from egresslint.report.formats import render

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT.parent / "shared" / "corpus" / "upstream"
SARIF_SCHEMA = ROOT / "schemas" / "sarif-schema-2.1.0.json"
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MODES = (None, "solo-ztunnel-egress", "istio-waypoint", "enterprise-agentgateway-waypoint")


@lru_cache(maxsize=1)
def _sarif_validator() -> Any:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)


def _lint(folder: Path, mode: str | None = None) -> engine.RunResult:
    result = engine.run(engine.Options(paths=[str(folder)], mode=mode, cache=False))
    assert not result.internal_errors, result.internal_errors
    return result


def _assert_sound(folder: Path, result: engine.RunResult) -> None:
    texts: dict[str, list[str]] = {}
    for f in result.findings:
        path = folder / f.file.path if not Path(f.file.path).is_absolute() else Path(f.file.path)
        lines = texts.setdefault(f.file.path, _lines(path, f.file.text))
        assert 1 <= f.span.line <= max(1, len(lines)), (f.rule_id, f.span, len(lines), f.message)
        assert f.span.col >= 1, (f.rule_id, f.span)
        assert f.message.strip()
    sarif = json.loads(render("sarif", result))
    errors = sorted(_sarif_validator().iter_errors(sarif), key=str)
    assert not errors, errors[0].message


def _lines(path: Path, text: str) -> list[str]:
    return text.splitlines() if text else path.read_text(errors="replace").splitlines()


# ---- random YAML ---------------------------------------------------------------------------
KEYS = st.sampled_from(
    [
        "apiVersion",
        "kind",
        "metadata",
        "name",
        "namespace",
        "labels",
        "spec",
        "hosts",
        "ports",
        "number",
        "targetRefs",
        "host",
        "istio.io/use-waypoint",
        "gatewayClassName",
        "<<",
        "x",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["ServiceEntry", "v1", "networking.istio.io/v1", "Gateway", "*", "*.a.com"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)
STYLES = st.sampled_from([None, False, True])


@given(docs=st.lists(VALUES, min_size=1, max_size=4), flow=STYLES, mode=st.sampled_from(MODES))
@SETTINGS
def test_random_yaml_documents(
    tmp_path_factory: pytest.TempPathFactory, docs: list[Any], flow: bool | None, mode: str | None
) -> None:
    folder = tmp_path_factory.mktemp("random")
    text = yaml.safe_dump_all(docs, default_flow_style=flow, allow_unicode=True)
    (folder / "random.yaml").write_text(text, encoding="utf-8")
    _assert_sound(folder, _lint(folder, mode))


@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#?,.\n\t 0%@`")), max_size=200))
@SETTINGS
def test_random_yaml_like_text(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    folder = tmp_path_factory.mktemp("text")
    (folder / "text.yaml").write_text(text, encoding="utf-8")
    _assert_sound(folder, _lint(folder))


# ---- mutations of real resources -----------------------------------------------------------
def _real_documents(folder: Path, limit: int) -> list[Any]:
    docs: list[Any] = []
    for path in sorted(folder.rglob("*.yaml")):
        if "templated" in path.parts:
            continue
        try:
            docs += [
                d
                for d in yaml.safe_load_all(path.read_text(encoding="utf-8"))
                if isinstance(d, dict)
            ]
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if len(docs) >= limit:
            break
    return docs[:limit]


@lru_cache(maxsize=2)
def _pool(upstream: bool) -> tuple[Any, ...]:
    if upstream:
        return tuple(_real_documents(UPSTREAM, 400))
    return tuple(_real_documents(ROOT / "fixtures", 400))


REPLACEMENTS = [None, 0, -1, 10**40, 1.5, True, "", "x", [], {}, [None], [1, "a"], {"a": None}]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, rnd: random.Random, count: int) -> Any:
    doc = json.loads(json.dumps(doc, default=str))
    for _ in range(count):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = rnd.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = rnd.random()
        if action < 0.6:
            parent[path[-1]] = copy.deepcopy(rnd.choice(REPLACEMENTS))
        elif action < 0.8 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = [parent[path[-1]]] if rnd.random() < 0.5 else {"x": parent[path[-1]]}
    return doc


def _mutation_case(
    tmp_path_factory: pytest.TempPathFactory,
    pool: tuple[Any, ...],
    seed: int,
    count: int,
    mode: str | None,
) -> None:
    rnd = random.Random(seed)
    chosen = rnd.sample(pool, min(len(pool), 8))
    docs = [_mutate(d, rnd, count) for d in chosen]
    folder = tmp_path_factory.mktemp("mutated")
    (folder / "mutated.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    (folder / "intact.yaml").write_text(yaml.safe_dump_all(chosen), encoding="utf-8")
    _assert_sound(folder, _lint(folder, mode))


@given(seed=st.integers(0, 2**32), count=st.integers(1, 6), mode=st.sampled_from(MODES))
@SETTINGS
def test_mutated_fixture_resources(
    tmp_path_factory: pytest.TempPathFactory, seed: int, count: int, mode: str | None
) -> None:
    _mutation_case(tmp_path_factory, _pool(False), seed, count, mode)


@pytest.mark.skipif(
    not UPSTREAM.is_dir(), reason="upstream corpus (../shared beside the repo) not present"
)
@given(seed=st.integers(0, 2**32), count=st.integers(1, 6), mode=st.sampled_from(MODES))
@SETTINGS
def test_mutated_upstream_resources(
    tmp_path_factory: pytest.TempPathFactory, seed: int, count: int, mode: str | None
) -> None:
    _mutation_case(tmp_path_factory, _pool(True), seed, count, mode)
