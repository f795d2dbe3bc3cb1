"""Unit tests for the matching logic behind the unreachable and waypoint-restricted rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from egresslint.mesh import netpol, reach
from egresslint.model import PosDict, Resource, SourceFile


def _netpol(spec: dict[str, Any]) -> Resource:
    body = PosDict()
    body.update({"spec": spec})
    return Resource("networking.k8s.io/v1", "NetworkPolicy", "np", "ns", body, SourceFile("x"), 0)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*", "anything", True),
        ("ci*", "ci-staging", True),
        ("ci*", "release", False),
        ("*/sa/runner", "cluster.local/ns/ci/sa/runner", True),
        ("*/sa/runner", "cluster.local/ns/ci/sa/runner2", False),
        ("ci", "ci", True),
        ("ci", "ci2", False),
    ],
)
def test_string_match(pattern: str, value: str, expected: bool) -> None:
    assert reach.string_match(pattern, value) is expected


@pytest.mark.parametrize(
    ("broad", "narrow", "expected"),
    [
        ("*", "team-*", True),
        ("team-*", "team-a*", True),
        ("team-a*", "team-*", False),  # narrower exclusion leaves team-b
        ("team-sandbox", "team-*", False),
        ("*-prod", "*-eu-prod", True),
        ("*-prod", "team-*", False),
        ("80", "80", True),
    ],
)
def test_pattern_covers(broad: str, narrow: str, expected: bool) -> None:
    assert reach.pattern_covers(broad, narrow) is expected


def test_all_excluded_needs_both_lists() -> None:
    assert not reach.all_excluded([], ["a"])
    assert not reach.all_excluded(["a"], [])
    assert reach.all_excluded(["a", "ab"], ["a*"])
    assert not reach.all_excluded(["a", "b"], ["a"])


@given(st.text(min_size=1, max_size=8), st.text(max_size=8))
def test_covering_implies_matching(pattern: str, value: str) -> None:
    """If ``broad`` covers the exact value, it matches it (coverage never over-claims)."""
    if "*" in value:
        return
    if reach.pattern_covers(pattern, value):
        assert reach.string_match(pattern, value)


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ({"podSelector": {}, "policyTypes": ["Egress"]}, True),  # not isolated for ingress
        ({"podSelector": {}}, False),  # no policyTypes: ingress implied, no rules
        ({"podSelector": {}, "ingress": [{}]}, True),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": 15021}]}]}, False),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": 15000, "endPort": 15010}]}]}, True),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": 15008, "protocol": "UDP"}]}]}, False),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": "hbone"}]}]}, True),
        ({"podSelector": {}, "ingress": ["junk", None]}, False),
    ],
)
def test_ingress_allows_port(spec: dict[str, Any], allowed: bool) -> None:
    assert netpol.ingress_allows_port([_netpol(spec)], 15008) is allowed


def test_ingress_union_of_policies() -> None:
    deny = _netpol({"podSelector": {}, "policyTypes": ["Ingress"]})
    allow = _netpol({"podSelector": {}, "ingress": [{"ports": [{"port": 15008}]}]})
    assert not netpol.ingress_allows_port([deny], 15008)
    assert netpol.ingress_allows_port([deny, allow], 15008)
