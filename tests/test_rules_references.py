"""References istioctl analyze checks as IST0101 and IST0109: VirtualService destinations
(EGL217), AuthorizationPolicy source namespaces (EGL220), and several VirtualServices of one
host at its waypoint (EGL119). Levels, the version matrix and odd input shapes; the fixtures
hold the cases with their exact lines."""

from __future__ import annotations

import pytest
from egresslint.rules import (
    egl119_waypoint_virtual_services_conflict as egl119,
)
from egresslint.rules import (
    egl217_vs_destination_not_found as egl217,
)
from egresslint.rules import (
    egl220_authz_unknown_namespace as egl220,
)
from fixtures_support import FIXTURES

from egresslint.lint import engine
from egresslint.lint.registry import find
from egresslint.lint.rule import Context
from egresslint.mesh.graph import MeshGraph, Scope
from egresslint.model import Finding, SourceFile
from egresslint.parse import loader

Version = tuple[int, int, int]


def _findings(
    text: str, rule_id: str, version: Version = (1, 30, 0), complete: bool = False
) -> list[Finding]:
    parsed = loader.parse_text(text, SourceFile("t.yaml"))
    graph = MeshGraph(parsed.resources, None, parsed.values, Scope(complete=complete))
    rule = find(rule_id)
    assert rule is not None and rule.check is not None
    return list(rule.check(Context(graph, istio_version=version)))


def _levels(findings: list[Finding]) -> list[str]:
    return [f.level or "warning" for f in findings]


# ---- EGL217: route and mirror destinations ----------------------------------------------------
SE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: egress}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
"""


def _vs(hosts: str, destination: str, namespace: str = "egress") -> str:
    return f"""\
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: routes, namespace: {namespace}}}
spec:
  hosts: {hosts}
  tls:
  - match: [{{sniHosts: [api.example.com]}}]
    route:
    - destination: {destination}
"""


@pytest.mark.parametrize(
    ("vs_hosts", "complete", "level"),
    [
        ("[api.example.com]", False, "warning"),  # the repository registers the VS's host
        ("[other.example.com]", False, "note"),  # it may be registered elsewhere
        ("[other.example.com]", True, "warning"),  # the view says it holds everything
    ],
)
def test_unregistered_external_host_level(vs_hosts: str, complete: bool, level: str) -> None:
    text = SE + _vs(vs_hosts, "{host: api.exmaple.com}")
    found = _findings(text, "EGL217", complete=complete)
    assert _levels(found) == [level]
    assert found[0].path == ("spec", "tls", 0, "route", 0, "destination", "host")
    assert "api.exmaple.com" in found[0].message


def test_in_cluster_host_is_a_note_unless_complete() -> None:
    text = SE + _vs("[api.example.com]", "{host: egress-gateway.istio-system.svc.cluster.local}")
    assert _levels(_findings(text, "EGL217")) == ["note"]
    assert _levels(_findings(text, "EGL217", complete=True)) == ["warning"]


def test_full_wildcard_service_entry_registers_nothing() -> None:
    """Validation rejects the host ``*``: it neither registers a destination nor makes the
    repository look like it manages the VirtualService's host."""
    star = SE.replace("[api.example.com]", '["*"]')
    found = _findings(star + _vs("[api.example.com]", "{host: api.example.com}"), "EGL217")
    assert _levels(found) == ["note"] and "no ServiceEntry" in found[0].message


def test_port_is_checked_against_every_registration() -> None:
    second = SE.replace("name: api,", "name: api-alt,").replace("443, name: tls", "8443, name: t")
    ok = _vs("[api.example.com]", "{host: api.example.com, port: {number: 8443}}")
    assert _findings(SE + "---\n" + second + ok, "EGL217") == []
    bad = _vs("[api.example.com]", "{host: api.example.com, port: {number: 9443}}")
    found = _findings(SE + bad, "EGL217")
    assert _levels(found) == ["warning"] and found[0].path[-2:] == ("port", "number")
    assert "only port(s) 443" in found[0].message


def test_registration_without_ports_is_not_judged() -> None:
    bare = SE.replace("  ports: [{number: 443, name: tls, protocol: TLS}]\n", "")
    text = bare + _vs("[api.example.com]", "{host: api.example.com, port: {number: 9443}}")
    assert _findings(text, "EGL217") == []


def test_hidden_registration_is_a_note_naming_the_namespace() -> None:
    private = SE.replace("  hosts:", '  exportTo: ["."]\n  hosts:')
    found = _findings(private + _vs("[x.example.com]", "{host: api.example.com}", "shop"), "EGL217")
    assert _levels(found) == ["note"]
    assert "not for namespace shop" in found[0].message
    assert found[0].related[0].path == ("spec", "exportTo")
    # exported to the VirtualService's exportTo namespace: istioctl looks it up there
    shop = private.replace('["."]', "[shop]")
    vs = _vs("[x.example.com]", "{host: api.example.com}", "payments").replace(
        "spec:\n", "spec:\n  exportTo: [shop]\n"
    )
    assert _findings(shop + vs, "EGL217") == []


DR = """\
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: elsewhere}
spec:
  host: api.example.com
  subsets: [{name: v1, labels: {version: v1}}]
"""


def test_subset_levels() -> None:
    v2 = _vs("[api.example.com]", "{host: api.example.com, subset: v2}")
    with_rule = _findings(SE + DR + v2, "EGL217")
    assert _levels(with_rule) == ["warning"] and "only subset(s) 'v1'" in with_rule[0].message
    assert with_rule[0].related[0].resource.name == "api"
    assert _levels(_findings(SE + v2, "EGL217")) == ["note"]
    assert _levels(_findings(SE + v2, "EGL217", complete=True)) == ["warning"]
    v1 = _vs("[api.example.com]", "{host: api.example.com, subset: v1}")
    assert _findings(SE + DR + v1, "EGL217") == []  # a rule in another namespace defines it


def test_unregistered_host_named_by_a_destination_rule_is_left_to_egl203() -> None:
    """The host note would repeat EGL203's; the subset is still judged against the rule."""
    text = DR + _vs("[api.example.com]", "{host: api.example.com, subset: v3}")
    found = _findings(text, "EGL217")
    assert [f.path[-1] for f in found] == ["subset"]


def test_mirrors_are_destinations_too() -> None:
    text = (
        SE
        + """\
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: m, namespace: egress}
spec:
  hosts: [api.example.com]
  http:
  - route: [{destination: {host: api.example.com}}]
    mirror: {host: audit.example.com}
    mirrors:
    - destination: {host: copy.example.com}
"""
    )
    found = _findings(text, "EGL217")
    assert [f.path for f in found] == [
        ("spec", "http", 0, "mirror", "host"),
        ("spec", "http", 0, "mirrors", 0, "destination", "host"),
    ]
    assert all("nothing is mirrored" in f.message for f in found)


def test_destinations_follow_istioctl_order_and_skip_missing_hosts() -> None:
    parsed = loader.parse_text(
        """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: ns}
spec:
  http:
  - route: [{destination: {host: h}}, {}, {destination: {port: {number: 1}}}]
    mirror: {host: m, subset: s}
  tcp:
  - route: [{destination: {host: t.example.com, port: {number: 5432}}}]
  tls:
  - route: [{destination: {host: s.example.com}}]
""",
        SourceFile("v.yaml"),
    )
    found = list(egl217.destinations(parsed.resources[0]))
    assert [(d.verb, d.host, d.port, d.subset) for d in found] == [
        ("routes", "t.example.com", 5432, ""),
        ("routes", "s.example.com", None, ""),
        ("routes", "h.ns.svc.cluster.local", None, ""),
        ("mirrors", "m.ns.svc.cluster.local", None, "s"),
    ]


# ---- EGL220: source namespaces ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "namespace", "expected"),
    [
        ("*", "anything", True),
        ("prod-*", "prod-shop", True),
        ("prod-*", "shop-prod", False),
        ("*-test", "shop-test", True),
        ("team-*-prod", "team-a-prod", True),  # the proxy's matcher: every * is .*
        ("team-*-prod", "team-a-staging", False),
        ("Payments", "payments", True),  # istioctl compares names ignoring case
        ("Pay*", "payments", False),  # patterns do not
        ("pay.ments", "payXments", False),  # a dot is no regex
    ],
)
def test_namespace_matching(pattern: str, namespace: str, expected: bool) -> None:
    assert egl220.matches(pattern, namespace) is expected


def _policy(source: str, action: str = "ALLOW") -> str:
    return f"""\
apiVersion: v1
kind: Namespace
metadata: {{name: payments}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: p, namespace: egress}}
spec:
  action: {action}
  rules:
  - from:
    - source: {source}
"""


@pytest.mark.parametrize(
    ("source", "action", "effect"),
    [
        ("{namespaces: [paymnets]}", "ALLOW", "admits no caller"),
        ("{namespaces: [paymnets]}", "DENY", "refuses no caller"),
        ("{namespaces: [paymnets]}", "AUDIT", "matches no caller"),
        ("{notNamespaces: [paymnets]}", "ALLOW", "does not narrow this source"),
    ],
)
def test_namespace_message_says_the_effect(source: str, action: str, effect: str) -> None:
    found = _findings(_policy(source, action), "EGL220")
    assert len(found) == 1 and effect in found[0].message
    assert "Did you mean 'payments'?" in found[0].message


def test_namespace_levels_follow_completeness() -> None:
    text = _policy("{namespaces: [billing, payments, kube-system, istio-system, default]}")
    assert _levels(_findings(text, "EGL220")) == ["note"]
    complete = _findings(text, "EGL220", complete=True)
    assert _levels(complete) == ["warning"]
    assert complete[0].path == ("spec", "rules", 0, "from", 0, "source", "namespaces", 0)
    assert "Did you mean" not in complete[0].message


def test_namespace_of_any_resource_counts() -> None:
    text = _policy("{namespaces: [billing, 'bill*']}") + (
        "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa, namespace: billing}\n"
    )
    assert _findings(text, "EGL220") == []


# ---- EGL119: several VirtualServices of one host at its waypoint ------------------------------
def _egl119_lines(name: str, version: str) -> list[int]:
    text = (FIXTURES / "EGL119" / name).read_text(encoding="utf-8")
    found = _findings(text, "EGL119", version=engine.parse_version(version))
    return sorted(f.span.line for f in found)


# fixture -> the lines reported per --istio-version (a MAYBE order before 1.30 still reports)
MATRIX: dict[str, dict[str, list[int]]] = {
    "bad-catch-all-first.yaml": dict.fromkeys(
        ("1.24", "1.25", "1.26", "1.28.5", "1.28.6", "1.29", "1.29.2", "1.30"), [37]
    ),
    "bad-first-at-all-1-25.yaml": {"1.24": [40], "1.25": [40], "1.26": [], "1.30": []},
    "bad-first-only-1-29.yaml": {
        "1.25": [42],
        "1.28.5": [42],
        "1.28.6": [],  # merged, and neither has a catch-all
        "1.29.1": [42],
        "1.29.2": [],
        "1.30": [],
    },
    "bad-tcp-catch-all.yaml": {"1.25": [], "1.26": [36], "1.30": [36]},
    # before 1.30 the order in a group is not fixed: 1.29.1 uses one of the two (the finding
    # is on the later by name), 1.29.2 may put b-default's catch-all first
    "good-specific-first.yaml": {"1.29.1": [44], "1.29.2": [29], "1.30": []},
    "good-created-in-order.yaml": {"1.29.2": [40], "1.30": []},  # creation time counts from 1.30
    "good-ztunnel-egress.yaml": {"1.26": [], "1.30": []},
}


@pytest.mark.parametrize(
    ("name", "version", "lines"),
    [(n, v, lines) for n, by in MATRIX.items() for v, lines in by.items()],
)
def test_egl119_follows_the_istio_version(name: str, version: str, lines: list[int]) -> None:
    assert _egl119_lines(name, version) == lines


@pytest.mark.parametrize(
    ("version", "merges"),
    [
        ((1, 24, 0), False),
        ((1, 28, 5), False),
        ((1, 28, 6), True),
        ((1, 29, 0), False),
        ((1, 29, 1), False),
        ((1, 29, 2), True),
        ((1, 30, 0), True),
        ((1, 31, 0), True),
    ],
)
def test_merge_backports(version: Version, merges: bool) -> None:
    assert egl119.merges_http(version) is merges


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [  # the examples of host.Name.Matches (pkg/config/host/name.go)
        ("*.com", "foo.com", True),
        ("bar.com", "*.com", True),
        ("*.foo.com", "foo.com", False),
        ("*", "foo.com", True),
        ("*", "*.com", True),
        ("*.a.com", "*.com", True),
        ("a.com", "b.com", False),
    ],
)
def test_host_overlap(a: str, b: str, expected: bool) -> None:
    assert egl119.host_overlap(a, b) is expected


WAYPOINT = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: egress}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: api
  namespace: egress
  labels: {istio.io/use-waypoint: waypoint}
spec:
  hosts: [api.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
"""


def _http_vs(name: str, extra: str = "", rule: str = "- route: [{destination: {host: h}}]") -> str:
    return f"""\
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: egress}}
spec:
  hosts: [api.example.com]
{extra}  http:
  {rule}
"""


def test_two_catch_alls_without_order_are_reported_once() -> None:
    """Before 1.30 two catch-all VirtualServices of one group hide each other in turn: one
    finding, on the later by name, saying that the order is not fixed."""
    text = WAYPOINT + _http_vs("a") + _http_vs("b")
    found = _findings(text, "EGL119", version=(1, 29, 2))
    assert [f.resource.name for f in found if f.resource] == ["b"]
    assert "no fixed order" in found[0].message
    assert found[0].related[0].path == ("spec", "http", 0)
    at_130 = _findings(text, "EGL119")
    assert [f.resource.name for f in at_130 if f.resource] == ["b"]
    assert "created together, by name" in at_130[0].message


@pytest.mark.parametrize(
    ("match", "catch_all"),
    [
        ("[{uri: {prefix: /}}]", True),
        ("[{uri: {regex: '.*'}, name: all}]", True),
        ("[{}]", True),
        ("[{uri: {prefix: /api}}]", False),
        ("[{uri: {prefix: /}, method: {exact: GET}}]", False),
        ("[{port: 80}]", False),  # a port match is left alone
        ("[{sourceLabels: {app: a}}]", False),  # dropped at a waypoint, not a catch-all
    ],
)
def test_catch_all_matches(match: str, catch_all: bool) -> None:
    first = _http_vs("a", rule=f"- match: {match}\n    route: [{{destination: {{host: h}}}}]")
    found = _findings(
        WAYPOINT + first + _http_vs("b", rule="- match: [{uri: {prefix: /x}}]"), "EGL119"
    )
    assert bool(found) is catch_all


@pytest.mark.parametrize(
    ("export", "visible"),
    [("[egress]", True), (".", True), ("'~'", False), ("[other]", False), ("'*'", True)],
)
def test_export_to_decides_what_the_waypoint_reads(export: str, visible: bool) -> None:
    hidden = _http_vs(
        "b", extra=f"  exportTo: {export if export.startswith('[') else f'[{export}]'}\n"
    )
    found = _findings(WAYPOINT + _http_vs("a") + hidden, "EGL119")
    names = [f.resource.name for f in found if f.resource]
    if not visible:
        assert names == []
    else:
        assert len(names) == 1


def test_odd_shapes_never_raise() -> None:
    text = (
        WAYPOINT
        + """\
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: odd, namespace: egress}
spec:
  hosts: [api.example.com, 5, null]
  exportTo: 3
  gateways: "mesh"
  http: [1, {match: 5, route: "x", mirror: [1], mirrors: {a: 1}}, {route: [{destination: [1]}]}]
  tcp: {a: 1}
  tls: [{route: [{destination: {host: 7, port: {number: "80"}, subset: 3}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: odd2, namespace: egress}
spec:
  hosts: [api.example.com]
  http: [{route: [{destination: {host: api.example.com, port: {number: true}}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: odd, namespace: egress}
spec: {host: 5, subsets: [1, {name: 2}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: odd, namespace: egress}
spec:
  rules: [1, {from: [1, {source: 5}, {source: {namespaces: "x", notNamespaces: [1, "", null]}}]}]
"""
    )
    for rule_id in ("EGL119", "EGL217", "EGL220"):
        for version in ((1, 24, 0), (1, 29, 2), (1, 30, 0)):
            _findings(text, rule_id, version=version)
