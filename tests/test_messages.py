"""Messages a person reads: what the API expects in words, hints for YAML's traps."""

from __future__ import annotations

from egresslint.mesh import schema
from egresslint.model import SourceFile
from egresslint.parse.loader import parse_text

SE = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: data}
spec:
  hosts: [db.example.org]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: STATIC
"""


def _errors(text: str) -> list[tuple[object, str]]:
    parsed = parse_text(text, SourceFile("x.yaml"))
    assert not parsed.findings, [f.message for f in parsed.findings]
    return schema.errors(parsed.resources[0])


def test_an_unquoted_ipv6_address_read_as_a_mapping_is_named() -> None:
    errors = _errors(SE + "  addresses:\n  - 2001:db8::\n")
    assert [m for _, m in errors] == [
        "spec.addresses[0]: expected string, found a mapping (YAML read the unquoted IPv6 "
        "address '2001:db8::' as a mapping: quote it)"
    ]


def test_a_yaml_error_on_an_ipv6_address_says_to_quote_it() -> None:
    parsed = parse_text(SE + "  endpoints:\n  - address: fe80::\n", SourceFile("x.yaml"))
    (finding,) = parsed.findings
    assert finding.rule_id == "EGL001" and "('fe80::'): quote it" in finding.message
    quoted = parse_text(SE + '  endpoints:\n  - address: "fe80::"\n', SourceFile("y.yaml"))
    assert quoted.findings == []


def test_null_fields_are_not_reported_the_api_server_prunes_them() -> None:
    envoy_filter = (
        "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\n"
        "metadata: {name: f, namespace: x}\nspec:\n  configPatches:\n"
        "  - applyTo: HTTP_FILTER\n    match:\n    patch: {operation: REMOVE}\n"
    )
    assert not any("valid under" in m for _, m in _errors(envoy_filter))


def test_no_message_carries_jsonschema_jargon() -> None:
    from jsonschema.exceptions import ValidationError

    err = ValidationError(
        "{'a': 1, 'b': 2} is valid under each of {'required': ['a']}, {'required': ['b']}",
        validator="oneOf",
        validator_value=[{"required": ["a"]}, {"required": ["b"]}],
        instance={"a": 1, "b": 2},
    )
    assert schema._message(err, ("spec", "tls")) == "spec.tls: set only one of a, b"
    small = ValidationError(
        "0 is less than the minimum of 1", validator="minimum", validator_value=1, instance=0
    )
    assert schema._message(small, ("spec", "ports", 0, "number")) == (
        "spec.ports[0].number: 0 is below the minimum 1"
    )
