"""AuthorizationPolicy facts per Istio release: which attributes a waypoint evaluates on TCP,
what a rule becomes there, which policies attach to a waypoint, as whom a Gateway runs, and
where ztunnel enforces a policy (EGL111, EGL208, EGL210, EGL414, EGL415)."""

from __future__ import annotations

import pytest

from egresslint.lint.registry import all_rules
from egresslint.lint.rule import Context
from egresslint.mesh import istio
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, SourceFile
from egresslint.parse import loader

Version = tuple[int, int, int]

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
  name: github
  namespace: egress
  labels: {istio.io/use-waypoint: waypoint}
spec:
  hosts: [api.github.com]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
"""

CLASS_POLICY = """\
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: all-waypoints, namespace: istio-system}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: GatewayClass, name: istio-waypoint}]
  rules:
  - from: [{source: {namespaces: [ops]}}]
"""


def _graph(text: str) -> MeshGraph:
    parsed = loader.parse_text(text, SourceFile("t.yaml"))
    return MeshGraph(parsed.resources, None, parsed.values)


def _findings(text: str, rule_id: str, version: Version = (1, 30, 0)) -> list[Finding]:
    rule = next(r for r in all_rules() if r.id == rule_id)
    assert rule.check is not None
    return list(rule.check(Context(_graph(text), istio_version=version)))


def _policy(rules: str, action: str = "ALLOW", target: str = "ServiceEntry") -> str:
    group = "networking.istio.io" if target == "ServiceEntry" else "gateway.networking.k8s.io"
    name = "github" if target == "ServiceEntry" else "waypoint"
    return f"""\
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: p, namespace: egress}}
spec:
  targetRefs: [{{kind: {target}, group: {group}, name: {name}}}]
  action: {action}
  rules:
{rules}"""


# ---- the attribute tables ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "version", "l4"),
    [
        ("source.serviceAccount", (1, 24, 6), False),
        ("source.serviceAccount", (1, 25, 0), True),
        ("source.trustDomain", (1, 30, 1), False),
        ("source.trustDomain", (1, 30, 2), True),
        ("connection.sni", (1, 24, 0), True),
        ("remote.ip", (1, 24, 0), True),
        ("experimental.envoy.filters.network.rbac[tag]", (1, 24, 0), True),
        ("request.headers[x-a]", (1, 30, 3), False),
        ("request.auth.claims[iss]", (1, 30, 3), False),
    ],
)
def test_tcp_capable_when_keys_follow_the_release(key: str, version: Version, l4: bool) -> None:
    assert istio.is_l4_when_key(key, version) is l4
    assert istio.is_http_when_key(key) is key.startswith("request.")


def test_unknown_keys_are_neither_http_nor_l4() -> None:
    assert not istio.when_key_known("source.serviceAccount", (1, 24, 6))
    assert not istio.when_key_known("source.trustDomain", (1, 30, 0))
    assert istio.when_key_known("request.auth.presenter", (1, 24, 0))
    assert "serviceAccounts" not in istio.l4_source_fields((1, 24, 6))
    assert "serviceAccounts" in istio.l4_source_fields((1, 25, 0))
    assert "trustDomains" in istio.l4_source_fields((1, 30, 2))
    assert istio.l4_when_keys((1, 30, 3)) == istio.L4_WHEN_KEYS


@pytest.mark.parametrize(
    ("rule", "narrowed"),
    [
        ({"to": [{"operation": {"paths": ["/a"]}}]}, False),
        (
            {
                "from": [{"source": {"namespaces": ["ci"]}}],
                "to": [{"operation": {"paths": ["/a"]}}],
            },
            True,
        ),
        ({"to": [{"operation": {"paths": ["/a"]}}, {"operation": {"ports": ["443"]}}]}, False),
        ({"to": [{"operation": {"paths": ["/a"], "ports": ["443"]}}]}, True),
        ({"when": [{"key": "request.headers[x]", "values": ["1"]}]}, False),
        ({"when": [{"key": "connection.sni", "values": ["a.example"]}]}, True),
        (
            {"from": [{"source": {"requestPrincipals": ["*"]}}, {"source": {"principals": ["a"]}}]},
            False,
        ),
    ],
)
def test_what_a_deny_rule_keeps_on_tcp(rule: dict[str, object], narrowed: bool) -> None:
    assert istio.rule_narrowed_on_tcp(rule, (1, 30, 0)) is narrowed


# ---- EGL208 ----------------------------------------------------------------------------------
SA_AND_PATH = """\
  - when:
    - {key: source.serviceAccount, values: [ci/runner]}
    to: [{operation: {paths: ["/repos/*"]}}]
"""
TD_AND_PATH = SA_AND_PATH.replace("source.serviceAccount", "source.trustDomain").replace(
    "ci/runner", "cluster.local"
)


def test_egl208_skips_rules_istiod_rejects_as_unknown() -> None:
    assert not _findings(WAYPOINT + _policy(SA_AND_PATH), "EGL208", (1, 24, 6))
    assert len(_findings(WAYPOINT + _policy(SA_AND_PATH), "EGL208", (1, 25, 0))) == 1
    assert not _findings(WAYPOINT + _policy(TD_AND_PATH), "EGL208", (1, 30, 1))
    assert len(_findings(WAYPOINT + _policy(TD_AND_PATH), "EGL208", (1, 30, 2))) == 1


def test_egl208_l4_only_policy_is_clean() -> None:
    rules = """\
  - from: [{source: {serviceAccounts: [ci/runner]}}]
    when:
    - {key: source.serviceAccount, values: [ci/runner]}
    - {key: experimental.envoy.filters.network.rbac[tag], values: [ci]}
"""
    assert not _findings(WAYPOINT + _policy(rules), "EGL208", (1, 25, 0))


PATHS = '  - to: [{operation: {paths: ["/repos/*"]}}]\n'


def test_egl208_allow_consequence_depends_on_other_allow_rules() -> None:
    alone = _findings(WAYPOINT + _policy(PATHS), "EGL208")
    assert len(alone) == 1 and "every call is denied" in alone[0].message
    own = _findings(
        WAYPOINT + _policy(PATHS + "  - from: [{source: {namespaces: [ops]}}]\n"), "EGL208"
    )
    assert len(own) == 1 and "the policy's other rules still apply" in own[0].message
    assert "every call is denied" not in own[0].message


def test_egl208_counts_root_class_policies_from_1_25() -> None:
    text = WAYPOINT + _policy(PATHS) + CLASS_POLICY
    new = _findings(text, "EGL208", (1, 25, 0))
    assert len(new) == 1 and "other ALLOW policies still admit theirs" in new[0].message
    assert any(r.resource.name == "all-waypoints" for r in new[0].related)
    old = _findings(text, "EGL208", (1, 24, 6))
    assert len(old) == 1 and "every call is denied" in old[0].message


def test_egl208_deny_keeps_what_is_left() -> None:
    bare = _findings(WAYPOINT + _policy(PATHS, "DENY"), "EGL208")
    assert len(bare) == 1 and "it denies every connection" in bare[0].message
    rest = PATHS.replace("  - to:", "  - from: [{source: {namespaces: [ci]}}]\n    to:")
    kept = _findings(WAYPOINT + _policy(rest, "DENY"), "EGL208")
    assert len(kept) == 1 and "matches the rest of it" in kept[0].message


def test_egl208_ignores_dry_run() -> None:
    text = WAYPOINT + _policy(PATHS).replace(
        "{name: p, namespace: egress}",
        '{name: p, namespace: egress, annotations: {istio.io/dry-run: "true"}}',
    )
    assert not _findings(text, "EGL208")


# ---- EGL111: which policies attach to a waypoint ------------------------------------------------
@pytest.mark.parametrize(
    ("namespace", "name", "group", "version", "attaches"),
    [
        ("istio-system", "istio-waypoint", "gateway.networking.k8s.io", (1, 25, 0), True),
        ("istio-system", "istio-waypoint", "gateway.networking.k8s.io", (1, 24, 6), False),
        ("egress", "istio-waypoint", "gateway.networking.k8s.io", (1, 30, 0), False),
        ("istio-system", "egress-waypoints", "gateway.networking.k8s.io", (1, 30, 0), False),
        ("istio-system", "istio-waypoint", "", (1, 30, 0), False),
    ],
)
def test_gateway_class_attachment(
    namespace: str, name: str, group: str, version: Version, attaches: bool
) -> None:
    text = CLASS_POLICY.replace("namespace: istio-system", f"namespace: {namespace}")
    text = text.replace("name: istio-waypoint}", f"name: {name}}}")
    text = text.replace("group: gateway.networking.k8s.io, ", f"group: '{group}', ")
    ap = _graph(text).of_kind("AuthorizationPolicy")[0]
    assert istio.attaches_to_every_waypoint(ap, version) is attaches


def test_egl111_class_policy_covers_waypoints_from_1_25() -> None:
    assert not _findings(WAYPOINT + CLASS_POLICY, "EGL111", (1, 25, 0))
    assert len(_findings(WAYPOINT + CLASS_POLICY, "EGL111", (1, 24, 6))) == 1


def test_egl111_audit_is_not_authorization() -> None:
    audit = _policy("  - {}\n", "AUDIT")
    custom = _policy("  - {}\n", "CUSTOM", "Gateway").replace(
        "action: CUSTOM", "action: CUSTOM\n  provider: {name: x}"
    )
    assert len(_findings(WAYPOINT + audit, "EGL111")) == 1
    assert not _findings(WAYPOINT + custom, "EGL111")


AGW = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: agw, namespace: ai}
spec:
  gatewayClassName: CLASS
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: openai
  namespace: ai
  labels: {istio.io/use-waypoint: agw}
spec:
  hosts: [api.openai.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: callers, namespace: ai}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: agw}]
  traffic:
    extAuth: {backendRef: {name: authz, port: 9000}, grpc: {}}
"""


def test_egl111_agentgateway_policy_counts_only_where_read() -> None:
    enterprise = AGW.replace("CLASS", "enterprise-agentgateway-waypoint")
    assert not _findings(enterprise, "EGL111")
    istiod = _findings(AGW.replace("CLASS", "istio-agentgateway-waypoint"), "EGL111")
    assert (
        len(istiod) == 1
        and "neither AuthorizationPolicy nor AgentgatewayPolicy" in istiod[0].message
    )
    assert "ExternalAuth" in istiod[0].message


def test_egl111_agentgateway_policy_by_label_selector() -> None:
    enterprise = AGW.replace("CLASS", "enterprise-agentgateway-waypoint")
    selected = enterprise.replace(
        "targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: agw}]",
        "targetSelectors: [{kind: Gateway, group: gateway.networking.k8s.io, "
        "matchLabels: {egress: ai}}]",
    )
    assert len(_findings(selected, "EGL111")) == 1  # the Gateway lacks the label
    labelled = selected.replace(
        "metadata: {name: agw, namespace: ai}",
        "metadata: {name: agw, namespace: ai, labels: {egress: ai}}",
    )
    assert not _findings(labelled, "EGL111")


# ---- EGL210: as whom a Gateway runs ------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "annotation", "accounts"),
    [
        ("istio-waypoint", "", {"gw"}),
        ("istio-waypoint", "egress-sa", {"egress-sa"}),
        ("istio", "", {"gw-istio"}),
        ("istio-east-west", "", {"gw"}),
        ("enterprise-agentgateway-waypoint", "agw-sa", {"gw", "agw-sa"}),
    ],
)
def test_gateway_service_accounts(cls: str, annotation: str, accounts: set[str]) -> None:
    from egresslint.rules import egl210_authz_unknown_principal as egl210

    meta = "{name: gw, namespace: ns}"
    if annotation:
        meta = f"{{name: gw, namespace: ns, annotations: {{gateway.istio.io/service-account: {annotation}}}}}"
    text = f"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {meta}\nspec: {{gatewayClassName: {cls}}}\n"
    graph = _graph(text)
    assert egl210.gateway_accounts(graph, graph.of_kind("Gateway")[0]) == accounts


# ---- EGL414 / EGL415: where ztunnel enforces a policy -------------------------------------------
AMBIENT_NS = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
"""
ROOT_POLICY = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh, namespace: istio-system}
spec:
  SCOPE
  rules: [{to: [{operation: {methods: [GET]}}]}]
"""


@pytest.mark.parametrize(
    ("prefix", "scope", "expected"),
    [
        (AMBIENT_NS, "action: ALLOW", "whole mesh"),
        ("", "action: ALLOW", None),
        (WAYPOINT + "---\n", "action: ALLOW", "whole mesh"),
        (
            AMBIENT_NS,
            "targetRef: {group: gateway.networking.k8s.io, kind: GatewayClass, name: istio-waypoint}",
            None,
        ),
        (AMBIENT_NS, "selector: {matchLabels: {app: nothing-here}}", None),
    ],
)
def test_root_namespace_ztunnel_scope(prefix: str, scope: str, expected: str | None) -> None:
    graph = _graph(prefix + ROOT_POLICY.replace("SCOPE", scope))
    ap = next(p for p in graph.of_kind("AuthorizationPolicy") if p.name == "mesh")
    found = istio.ztunnel_scope(graph, ap)
    assert (found is None) if expected is None else (found is not None and expected in found)


def test_egl414_egl415_see_root_namespace_policies() -> None:
    l7 = _findings(AMBIENT_NS + ROOT_POLICY.replace("SCOPE", "action: ALLOW"), "EGL414")
    assert len(l7) == 1 and "whole mesh" in l7[0].message
    custom = ROOT_POLICY.replace("SCOPE", "action: CUSTOM\n  provider: {name: opa}")
    assert len(_findings(AMBIENT_NS + custom, "EGL415")) == 1
    assert not _findings(custom, "EGL415")  # no ambient workload in view


@pytest.mark.parametrize(
    ("value", "dry"),
    [("true", True), ("True", True), ("1", True), ("false", False), ("yes", False)],
)
def test_dry_run_annotation_is_parsed_like_go(value: str, dry: bool) -> None:
    text = _policy(PATHS).replace(
        "{name: p, namespace: egress}",
        f'{{name: p, namespace: egress, annotations: {{istio.io/dry-run: "{value}"}}}}',
    )
    assert istio.dry_run(_graph(text).of_kind("AuthorizationPolicy")[0]) is dry
