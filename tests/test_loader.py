"""Loader, parse cache and parallel parsing: same results on every path, robust cache."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from egresslint import runtime
from egresslint.mesh import fastschema, schema
from egresslint.model import PosDict, PosList, SourceFile, Span
from egresslint.parse import cache, loader, parallel, yamlbuild
from egresslint.sources.discover import Input

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "examples"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder


def _inputs(folder: Path) -> list[Input]:
    return [Input(str(p), p.name) for p in sorted(folder.rglob("*.yaml"))]


def _summary(parsed: list[loader.ParsedFile]) -> list[object]:
    out: list[object] = []
    for p in parsed:
        out.append((p.source.path, p.documents, len(p.source.text)))
        out += [(r.key, r.body, r.body.pos, r.body.span) for r in p.resources]
        out += [(f.rule_id, f.span, f.message) for f in p.findings]
    return out


def _corpus(tmp_path: Path, files: int = 40) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(files):
        docs = [
            f"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
            f"  name: se-{i}-{j}\n  namespace: ns{i % 3}\n  labels: &l {{app: a{j}}}\n"
            f"spec:\n  hosts: [h{j}.example.com]\n  ports: [{{number: 443, name: tls, protocol: TLS}}]\n"
            for j in range(30)
        ]
        (folder / f"f{i:03}.yaml").write_text("---\n".join(docs))
    (folder / "bad.yaml").write_text("a: [1, 2\n")
    return folder


def test_parallel_cached_and_serial_parse_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _corpus(tmp_path)
    items = _inputs(folder)
    serial = parallel.parse_inputs(items, "default", use_cache=False, workers=1)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    forked = parallel.parse_inputs(items, "default", use_cache=False, workers=2)
    cold = parallel.parse_inputs(items, "default", use_cache=True, workers=2)
    runtime.wait_writers()
    warm = parallel.parse_inputs(items, "default", use_cache=True, workers=2)
    assert _summary(serial) == _summary(forked) == _summary(cold) == _summary(warm)
    assert [p.source.path for p in warm] == [i.shown for i in items]
    assert isinstance(warm[1].resources[0].body, PosDict)
    assert warm[1].resources[0].file is warm[1].source


def test_cache_is_keyed_by_content_and_namespace(tmp_path: Path) -> None:
    assert cache.key(b"a", "default") == cache.key(b"a", "default")
    assert cache.key(b"a", "default") != cache.key(b"b", "default")
    assert cache.key(b"a", "default") != cache.key(b"a", "other")


def test_corrupted_and_truncated_cache_entries_are_reparsed(
    tmp_path: Path, _private_cache: Path
) -> None:
    folder = _corpus(tmp_path, files=3)
    items = _inputs(folder)
    first = parallel.parse_inputs(items, "default", use_cache=True, workers=1)
    runtime.wait_writers()  # entries are written beside the rest of the run
    packs = [p for p in _private_cache.rglob("*.pack")]
    assert len(packs) == 1  # one pack per writer, not one file per input
    data = packs[0].read_bytes()
    damaged = [b"", b"garbage", data[: len(data) // 2], data[:-1], b"\0" * 64 + data[64:]]
    damaged.append(data[:-16] + pickle.dumps(42)[:8] + data[-8:])  # index length past the start
    for blob in damaged:
        for pack in _private_cache.rglob("*.pack"):
            pack.unlink()
        packs[0].write_bytes(blob)
        again = parallel.parse_inputs(items, "default", use_cache=True, workers=1)
        runtime.wait_writers()
        assert _summary(first) == _summary(again)


def test_unwritable_cache_folder_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    parsed = parallel.parse_inputs(_inputs(EXAMPLES), "default", use_cache=True)
    assert sum(len(p.resources) for p in parsed) > 0


def test_concurrent_writers_leave_whole_entries(tmp_path: Path) -> None:
    store = cache.ParseCache.open()
    assert store is not None
    for blob in (b"first" * 1000, b"second" * 1000):
        store.put("ab" + "0" * 38, blob)
    assert store.get("ab" + "0" * 38) == b"second" * 1000
    leftovers = [p for p in store.root.rglob(".tmp-*")]
    assert not leftovers


def test_positions_survive_pickling() -> None:
    src = SourceFile("x.yaml")
    parsed = loader.parse_text("a:\n  b: [1, {c: d}]\n", src)
    assert not parsed.findings
    doc = pickle.loads(pickle.dumps(parsed))
    assert doc.source.path == "x.yaml"
    text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n  labels: {a: b}\n"
    res = loader.parse_text(text, SourceFile("n.yaml")).resources[0]
    back = pickle.loads(pickle.dumps(res.body))
    assert back == res.body and back.pos == res.body.pos and back.span == res.body.span
    assert isinstance(back.span, Span) and back.span.line == res.body.span.line
    labels = back["metadata"]["labels"]
    assert (
        isinstance(labels, PosDict) and labels.pos["a"] == res.body["metadata"]["labels"].pos["a"]
    )


def test_builder_matches_pyyaml_values() -> None:
    text = (
        "a: 1\nb: 0x1F\nc: 1_000\nd: 1:30\ne: yes\nf: ~\ng: 1.5\nh: .inf\ni: 2024-01-01\n"
        "j: !!str 8080\nk: [a, {x: y}]\nbase: &b {p: 1, q: 2}\nm:\n  <<: *b\n  q: 3\n"
        "n: !!binary aGVsbG8=\no: '007'\np: -12\nq: +5\nr: 0o17\n"
    )
    mine = loader.parse_text(text, SourceFile("v.yaml"))
    assert not mine.findings
    theirs = yaml.safe_load(text)
    doc = mine.values[0].body
    for key in "abcdefgjkopqr":
        assert doc[key] == theirs[key], key
    assert doc["i"] == "2024-01-01"  # timestamps stay text
    assert doc["m"] == {"p": 1, "q": 3}
    assert isinstance(doc["k"], PosList) and doc["k"].pos[1].line == 11


_SCALARS = [
    "",
    "~",
    "null",
    "Null",
    "NULL",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "true",
    "False",
    "0",
    "-0",
    "+12",
    "0x1F",
    "0o17",
    "017",
    "1_000",
    "1:30",
    "190:20:30",
    "1.5",
    "-.5",
    ".inf",
    "-.Inf",
    ".nan",
    "1e3",
    "6.8523015e+5",
    "2024-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "<<",
    "=",
    "!",
    "&",
    "*",
    "8080",
    "443",
    "api.example.org",
    "TLS",
    "ISTIO_MUTUAL",
    "1.2.3",
]


def _resolved(cls: type, kind: type, value: str | None, implicit: tuple[bool, bool]) -> str:
    return str(cls.resolve(cls(""), kind, value, implicit))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.sampled_from(_SCALARS), st.text(max_size=12)),
    st.tuples(st.booleans(), st.booleans()),
)
def test_fast_resolver_agrees_with_pyyaml(value: str, implicit: tuple[bool, bool]) -> None:
    assert _resolved(yamlbuild.Loader, ScalarNode, value, implicit) == _resolved(
        yaml.CSafeLoader, ScalarNode, value, implicit
    )


def test_fast_resolver_collections_and_documents() -> None:
    for kind in (MappingNode, SequenceNode):
        fast = _resolved(yamlbuild.Loader, kind, None, (True, False))
        assert fast == _resolved(yaml.CSafeLoader, kind, None, (True, False))
    text = "a: [1, '2', 0x10, yes, 'no', ~, 1.5, 2024-01-01, x]\nb: {c: !!str 3}\n"
    assert yaml.load(text, Loader=yamlbuild.Loader) == yaml.safe_load(text)


def _tree(node: Any) -> Any:
    marks = (node.start_mark.index, node.end_mark.index)
    if isinstance(node, ScalarNode):
        return (node.tag, node.value, marks, node.style)
    if isinstance(node, SequenceNode):
        return (node.tag, marks, [_tree(n) for n in node.value])
    return (node.tag, marks, [(_tree(k), _tree(v)) for k, v in node.value])


def test_fast_loader_composes_the_same_nodes_as_pyyaml() -> None:
    texts = [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.rglob("*.yaml"))]
    texts.append("a: &x [1, '2', {b: ~}]\nc: *x\nd: !!str 3\ne: !custom {f: yes}\n")
    for text in texts:
        mine = [_tree(n) for n in yaml.compose_all(text, Loader=yamlbuild.Loader)]
        theirs = [_tree(n) for n in yaml.compose_all(text, Loader=yaml.CSafeLoader)]
        assert mine == theirs


def test_alias_sharing_is_bounded_not_copied() -> None:
    text = "a: &a [x, y]\nb: [*a, *a, *a]\n"
    doc = loader.parse_text(text, SourceFile("s.yaml")).values[0].body
    assert doc["b"][0] is doc["a"]


def test_merge_of_a_scalar_is_a_finding() -> None:
    parsed = loader.parse_text("a: 1\nb:\n  <<: 5\n", SourceFile("m.yaml"))
    assert [f.rule_id for f in parsed.findings] == ["EGL001"]
    assert "merge key" in parsed.findings[0].message


def test_recursive_alias_is_a_finding() -> None:
    parsed = loader.parse_text("a: &a [*a]\n", SourceFile("r.yaml"))
    assert [f.rule_id for f in parsed.findings] == ["EGL001"]


@pytest.mark.parametrize(
    "schema_doc,good,bad",
    [
        ({"type": "integer"}, [1, 2.0], [True, "1", 1.5]),
        ({"enum": [1, "a"]}, [1, "a"], [True, "b"]),
        (
            {"oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
            [{"a": 1}, {"b": 1}],
            [{}, {"a": 1, "b": 1}],
        ),
        ({"not": {"required": ["a"]}}, [{}], [{"a": 1}]),
        (
            {"properties": {"a": {"type": "string"}}, "additionalProperties": False},
            [{"a": "x"}],
            [{"b": 1}, {"a": 1}],
        ),
        ({"type": "string", "pattern": "^x", "maxLength": 2}, ["x", "xy"], ["y", "xyz"]),
        ({"if": {}}, [], [1, "a"]),  # unknown keyword: never "certainly valid"
    ],
)
def test_fast_schema_agrees_with_jsonschema(
    schema_doc: dict[str, object], good: list[object], bad: list[object]
) -> None:
    import jsonschema

    check = fastschema.compile_schema(schema_doc)
    validator = jsonschema.Draft202012Validator(schema_doc)
    for value in good:
        assert check(value) and validator.is_valid(value), value
    for value in bad:
        assert not check(value), value


def test_fast_schema_never_hides_an_error() -> None:
    """On every example resource, the quick check says valid only when jsonschema agrees."""
    parsed = parallel.parse_inputs(_inputs(EXAMPLES), "default", use_cache=False)
    for res in (r for p in parsed for r in p.resources):
        name = schema._index().get(schema.schema_key(res.api_version, res.kind))
        if name is not None and schema._quick(name)(res.body):
            assert schema._validator(name).is_valid(res.body), res.ref


@pytest.mark.parametrize("first", [1.0, 1.2, 0.8])
def test_shares_split_bytes_in_the_asked_proportion(first: float) -> None:
    jobs = [parallel._Job(i, Input(f"f{i}", f"f{i}"), b"x" * (1000 + i % 7)) for i in range(400)]
    shares = parallel._shares(jobs, 2, first)
    sizes = [sum(len(j.data or b"") for j in share) for share in shares]
    assert sorted(j.index for share in shares for j in share) == list(range(400))
    assert sizes[0] / sizes[1] == pytest.approx(first, rel=0.01)
