"""VirtualService routes that are never used (EGL219, Istio's IST0130/IST0131) and namespaces
labelled for ambient that the sidecar injector selects (EGL121, IST0123): the parts of Istio's
logic fixtures do not pin down."""

from __future__ import annotations

from typing import Any

import pytest
from egresslint.rules import egl121_ambient_namespace_sidecar_injected as egl121
from egresslint.rules import egl219_virtual_service_route_unreachable as egl219
from hypothesis import given
from hypothesis import strategies as st

from egresslint.lint.registry import all_rules
from egresslint.lint.rule import Context
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, SourceFile
from egresslint.parse import loader


def _findings(text: str, rule_id: str) -> list[Finding]:
    parsed = loader.parse_text(text, SourceFile("t.yaml"))
    graph = MeshGraph(parsed.resources, None, parsed.values)
    rule = next(r for r in all_rules() if r.id == rule_id)
    assert rule.check is not None
    return list(rule.check(Context(graph)))


def _vs(routes: str) -> str:
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: github, namespace: egress}}
spec:
  hosts: [api.github.com]
{routes}"""


# ---- equal matches: Istio's asJSON -------------------------------------------------------

GITHUB = {"uri": {"prefix": "/repos"}, "headers": {"a": {"exact": "1"}, "b": {"prefix": "x"}}}


@pytest.mark.parametrize(
    ("kind", "other", "equal"),
    [
        ("http", {**GITHUB, "name": "another name"}, True),
        ("http", {**GITHUB, "port": 0, "ignoreUriCase": False, "queryParams": {}}, True),
        ("http", {**GITHUB, "gateways": [], "sourceNamespace": "", "statPrefix": None}, True),
        ("http", {"headers": {"b": {"prefix": "x"}, "a": {"exact": "1"}}, **GITHUB}, True),
        ("http", {**GITHUB, "typo": {"prefix": "/"}}, True),  # pruned by the API server
        ("http", {**GITHUB, "method": {}}, False),  # a present string match counts
        ("http", {**GITHUB, "port": 80}, False),
        ("http", {**GITHUB, "statPrefix": "github"}, False),  # Istio compares every field
        ("http", {**GITHUB, "headers": {"a": {"exact": "1"}}}, False),
        ("http", {**GITHUB, "uri": {"exact": "/repos"}}, False),
    ],
)
def test_equal_matches_are_istios(kind: str, other: dict[str, Any], equal: bool) -> None:
    assert (egl219.match_key(kind, GITHUB) == egl219.match_key(kind, other)) is equal


def test_empty_string_match_differs_from_none_and_from_an_empty_value() -> None:
    keys = {
        egl219.match_key("http", m)
        for m in ({}, {"uri": None}, {"uri": {}}, {"uri": {"exact": ""}}, {"uri": {"prefix": ""}})
    }
    assert len(keys) == 4  # absent and null are the same; {}, exact "" and prefix "" are not


def test_list_order_counts_as_in_istio() -> None:
    a = {"port": 443, "sniHosts": ["a.example.com", "b.example.com"]}
    b = {"port": 443, "sniHosts": ["b.example.com", "a.example.com"]}
    assert egl219.match_key("tls", a) != egl219.match_key("tls", b)
    assert egl219.match_key("tls", a) == egl219.match_key("tls", dict(reversed(a.items())))


def test_tcp_and_tls_matches_have_no_name() -> None:
    """Only HTTP matches have a name; a name elsewhere is an unknown field, pruned."""
    assert egl219.match_key("tcp", {"port": 5432, "name": "a"}) == egl219.match_key(
        "tcp", {"port": 5432}
    )


# Each field at its zero value (or null), as the API server would accept it.
_ZERO = {"port": 0, "ignoreUriCase": False, "gateways": [], "queryParams": {}, "statPrefix": ""}


@given(
    prefix=st.text(min_size=1, max_size=6),
    headers=st.dictionaries(st.sampled_from("abc"), st.text(max_size=3), max_size=3),
    zero=st.dictionaries(st.sampled_from(sorted(_ZERO)), st.sampled_from([None, "zero"])).map(
        lambda d: {k: _ZERO[k] if v else None for k, v in d.items()}
    ),
    name=st.text(max_size=5),
)
def test_zero_values_names_and_key_order_never_matter(
    prefix: str, headers: dict[str, str], zero: dict[str, Any], name: str
) -> None:
    match = {"uri": {"prefix": prefix}, "headers": {k: {"exact": v} for k, v in headers.items()}}
    noisy = {"name": name, **zero, **dict(reversed(list(match.items())))}
    assert egl219.match_key("http", noisy) == egl219.match_key("http", match)


# ---- covered prefixes: Istio's coveredValidation, and where egresslint stays silent -------


def _pair(a: dict[str, Any], b: dict[str, Any]) -> tuple[bool, bool]:
    pa, pb = egl219.prefixed(0, 0, a), egl219.prefixed(1, 0, b)
    assert pa is not None and pb is not None
    istio = egl219.istio_covers(pa, pb)
    return istio, istio and egl219.really_covers(a, b, frozenset({"mesh"}))


def _uri(prefix: str, **more: Any) -> dict[str, Any]:
    return {"uri": {"prefix": prefix}, **more}


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # both agree: the earlier match takes every request of the later one
        (_uri("/api"), _uri("/api/v2", method={"exact": "GET"}), (True, True)),
        (
            _uri("/api", method={"exact": "GET"}),
            _uri("/api/v2", method={"exact": "GET"}),
            (True, True),
        ),
        (
            _uri("/api", headers={"t": {"prefix": "d"}}),
            _uri("/api/v2", headers={"t": {"prefix": "d"}}),
            (True, True),
        ),
        # Istio reports, but the later match takes requests the earlier one does not:
        # no method is any method, not GET
        (_uri("/api", method={"exact": "GET"}), _uri("/api/v2"), (True, False)),
        # the earlier match needs an authority the later one does not
        (_uri("/api", authority={"exact": "a.example.com"}), _uri("/api/v2"), (True, False)),
        # Istio compares header values the wrong way round: prefix "data-eng" is narrower
        (
            _uri("/api", headers={"t": {"prefix": "data-eng"}}),
            _uri("/api/v2", headers={"t": {"prefix": "data"}}),
            (True, False),
        ),
        # a regex header value reads as empty, so Istio takes it as covering
        (
            _uri("/api", headers={"t": {"exact": "x"}}),
            _uri("/api/v2", headers={"t": {"regex": ".*"}}),
            (True, False),
        ),
        # fields Istio does not compare
        (_uri("/api", sourceLabels={"app": "ci"}), _uri("/api/v2"), (True, False)),
        (_uri("/api", gateways=["egress/gw"]), _uri("/api/v2"), (True, False)),
        (_uri("/api", scheme={"exact": "https"}), _uri("/api/v2"), (True, False)),
        (_uri("/api", sourceNamespace="ci"), _uri("/api/v2"), (True, False)),
        (_uri("/api"), _uri("/api/v2", ignoreUriCase=True), (True, False)),
        # Istio does not report: egresslint never reports more than Istio
        (_uri("/api"), _uri("/api/v2", port=8080), (False, False)),
        (_uri("/api/v2"), _uri("/api"), (False, False)),
        (_uri("/api", headers={"t": {"exact": "x"}}), _uri("/api/v2"), (False, False)),
    ],
)
def test_covered_prefixes(
    a: dict[str, Any], b: dict[str, Any], expected: tuple[bool, bool]
) -> None:
    assert _pair(a, b) == expected


def test_only_uri_prefixes_take_part() -> None:
    assert egl219.prefixed(0, 0, {"uri": {"exact": "/api"}}) is None
    assert egl219.prefixed(0, 0, {"uri": {"prefix": ""}}) is None
    assert egl219.prefixed(0, 0, {"method": {"exact": "GET"}}) is None
    found = egl219.prefixed(0, 0, _uri("/api", method={"regex": "G.*"}))
    assert found is not None and found.method == "exact:GET"  # as genMatchHTTPRoutes


def test_a_covered_match_is_reported_once() -> None:
    routes = [{"match": [_uri("/a")]}, {"match": [_uri("/a/b")]}, {"match": [_uri("/a/b/c")]}]
    found = egl219.analyze("http", routes, frozenset({"mesh"}))
    assert found == [
        egl219.Ineffective(1, 0, (0, 0), "covers"),
        egl219.Ineffective(2, 0, (0, 0), "covers"),  # Istio reports it twice (by /a and /a/b)
    ]


# ---- routes: the single pass ---------------------------------------------------------------


def test_positions_keep_null_routes_as_istio_does() -> None:
    found = egl219.analyze("http", [None, {"route": []}, {"route": []}])
    assert found == [egl219.Unreachable(2, "again", ((1, None),))]


def test_a_route_after_a_catch_all_is_one_finding() -> None:
    """Istio repeats IST0130 for each match of such a route; one route, one finding."""
    routes = [{"match": []}, {"match": [_uri("/a"), _uri("/b"), _uri("/c")]}]
    assert egl219.analyze("http", routes) == [egl219.Unreachable(1, "after", ((0, None),))]


def test_matches_after_a_catch_all_are_not_compared() -> None:
    routes = [{"match": [{"port": 1}]}, {}, {"match": [{"port": 1}]}]
    assert egl219.analyze("tcp", routes) == [egl219.Unreachable(2, "after", ((1, None),))]


def test_a_repeat_within_one_route_is_ineffective_not_unreachable() -> None:
    routes = [{"match": [{"port": 1}, {"port": 1}]}]
    assert egl219.analyze("tcp", routes) == [egl219.Ineffective(0, 1, (0, 0), "repeats")]


def test_a_route_of_repeats_names_every_earlier_match() -> None:
    routes = [
        {"match": [{"port": 1}]},
        {"match": [{"port": 2}]},
        {"match": [{"port": 2}, {"port": 1}]},
    ]
    assert egl219.analyze("tcp", routes) == [
        egl219.Unreachable(2, "repeated", ((1, 0), (0, 0))),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not a list", []),
        ([{"match": {"uri": {"prefix": "/"}}}, {"route": []}], []),  # match not a list: skipped
        ([{"match": ["/api"]}, {"route": []}], []),  # a match that is not a mapping: skipped
        ([7, "x", {"route": []}, {"match": None}], [egl219.Unreachable(3, "again", ((2, None),))]),
        (
            [{"match": [{"uri": "/api"}]}, {"match": [{"uri": "/api"}]}],  # compared as they are
            [egl219.Unreachable(1, "repeated", ((0, 0),))],
        ),
    ],
)
def test_shapes_the_api_server_refuses_give_no_traceback(value: Any, expected: list[Any]) -> None:
    assert egl219.analyze("http", value) == expected


def test_levels_paths_and_the_codes_messages_name() -> None:
    text = _vs(
        """\
  http:
  - name: first
    match:
    - uri: {prefix: /api}
    - uri: {prefix: /api}
    route: [{destination: {host: api.github.com}}]
  - route: [{destination: {host: api.github.com}}]
  - match:
    - uri: {prefix: /other}
    route: [{destination: {host: api.github.com}}]
"""
    )
    found = sorted(_findings(text, "EGL219"), key=lambda f: f.span.line)
    assert [(f.level or "warning", f.path, f.span.line) for f in found] == [
        ("note", ("spec", "http", 0, "match", 1), 10),
        ("warning", ("spec", "http", 2), 13),
    ]
    assert "IST0131" in found[0].message and "IST0130" not in found[0].message
    assert "IST0130" in found[1].message and "IST0131" not in found[1].message
    assert "comes after http[1], which has no match" in found[1].message


def test_an_all_repeated_route_names_both_codes_once() -> None:
    text = _vs(
        """\
  tls:
  - match: [{port: 443, sniHosts: [api.github.com]}]
    route: [{destination: {host: api.github.com}}]
  - match: [{sniHosts: [api.github.com], port: 443}]
    route: [{destination: {host: api.github.com}}]
"""
    )
    (found,) = _findings(text, "EGL219")
    assert found.level in ("", "warning") and found.path == ("spec", "tls", 1)
    assert "IST0130" in found.message and "IST0131" in found.message
    assert [r.path for r in found.related] == [("spec", "tls", 0, "match", 0)]


# ---- EGL121: which namespaces the sidecar injector selects --------------------------------


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"istio-injection": "enabled"}, "istio-injection"),
        ({"istio.io/rev": "canary"}, "istio.io/rev"),
        ({"istio-injection": "enabled", "istio.io/rev": "canary"}, "istio-injection"),
        ({"istio-injection": "disabled", "istio.io/rev": "canary"}, None),
        ({"istio-injection": "true"}, None),
        ({}, None),
    ],
)
def test_injector_label(labels: dict[str, str], expected: str | None) -> None:
    assert egl121.injector_label(labels) == expected


def _namespace(labels: str, workloads: str = "") -> str:
    return f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: payments
  labels: {{istio.io/dataplane-mode: ambient, {labels}}}
---
{workloads}"""


def test_the_graph_follows_the_webhook_for_a_disabled_namespace_with_a_revision() -> None:
    parsed = loader.parse_text(
        _namespace("istio-injection: disabled, istio.io/rev: canary"), SourceFile("t.yaml")
    )
    graph = MeshGraph(parsed.resources)
    assert not graph.is_sidecar_namespace("payments")
    assert graph.is_ambient_namespace("payments")


def _deployment(name: str, labels: str = "", annotations: str = "", spec: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: payments}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, {labels}}}, annotations: {{{annotations}}}}}
    spec: {{containers: [{{name: app, image: x}}], {spec}}}
---
"""


def test_related_workloads_are_those_that_get_sidecars() -> None:
    workloads = (
        _deployment("injected")
        + _deployment("label-off", labels="sidecar.istio.io/inject: 'false'")
        + _deployment("annotation-off", annotations="sidecar.istio.io/inject: 'false'")
        + _deployment("host", spec="hostNetwork: true")
        + _deployment(
            "label-wins", "sidecar.istio.io/inject: 'true'", "sidecar.istio.io/inject: 'false'"
        )
    )
    (found,) = _findings(_namespace("istio-injection: enabled", workloads), "EGL121")
    assert found.path == ("metadata", "labels", "istio.io/dataplane-mode")
    assert [(r.resource.name, r.path) for r in found.related] == [
        ("payments", ("metadata", "labels", "istio-injection")),
        ("injected", ("spec", "template", "metadata")),
        ("label-wins", ("spec", "template", "metadata")),
    ]
    assert "Deployment payments/injected" in found.message
    assert "label-off" not in found.message and "host" not in found.message


def test_no_finding_where_istio_injection_turns_the_revision_off() -> None:
    text = _namespace("istio-injection: disabled, istio.io/rev: canary")
    assert _findings(text, "EGL121") == []
