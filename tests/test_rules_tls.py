"""TLS rules (EGL201, EGL202, EGL212, EGL412): which DestinationRule a waypoint applies, one
finding per cause, and messages that say what Istio really does."""

from __future__ import annotations

from fixtures_support import FIXTURES, read_case, run_case

from egresslint.lint.registry import all_rules
from egresslint.lint.rule import Context
from egresslint.mesh import istio
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, SourceFile
from egresslint.parse import loader

WAYPOINT = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: istio-egress}
spec:
  gatewayClassName: {cls}
  listeners:
  - {name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: All}}}
---
"""


def _se(name: str, ns: str, host: str, port: str, bound: bool = True) -> str:
    labels = (
        "labels: {istio.io/use-waypoint: waypoint, istio.io/use-waypoint-namespace: istio-egress}"
        if bound
        else "labels: {}"
    )
    return f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: {name}
  namespace: {ns}
  {labels}
spec:
  hosts: [{host}]
  ports: [{port}]
  resolution: DNS
---
"""


def _dr(name: str, ns: str, host: str, policy: str) -> str:
    return f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {ns}}}
spec:
  host: "{host}"
  trafficPolicy: {policy}
---
"""


HTTP_TO_443 = "{number: 80, name: http, protocol: HTTP, targetPort: 443}"
HTTP_80 = "{number: 80, name: http, protocol: HTTP}"
HTTPS = "{number: 443, name: https, protocol: HTTPS}"


def _findings(
    text: str, rule_id: str, version: tuple[int, int, int] = (1, 30, 0), mode: str | None = None
) -> list[Finding]:
    parsed = loader.parse_text(text, SourceFile("t.yaml"))
    graph = MeshGraph(parsed.resources, mode, parsed.values)
    rule = next(r for r in all_rules() if r.id == rule_id)
    assert rule.check is not None
    return list(rule.check(Context(graph, version)))


def _case(case: str, rule_id: str) -> list[Finding]:
    result = run_case(read_case(FIXTURES / case))
    assert not result.internal_errors
    return [f for f in result.findings if f.rule_id == rule_id]


# ---- the helper: port-level settings do not inherit -------------------------------------


def test_port_level_entry_without_tls_replaces_the_top_level_tls() -> None:
    text = _dr(
        "d",
        "ns",
        "a.example",
        "{tls: {mode: SIMPLE}, portLevelSettings: [{port: {number: 443}, "
        "connectionPool: {tcp: {maxConnections: 1}}}]}",
    )
    dr = loader.parse_text(text, SourceFile("t.yaml")).resources[0]
    assert istio.tls_for_port(dr, 443) is None
    found = istio.tls_for_port(dr, 80)
    assert found is not None and found[1] == ("spec", "trafficPolicy", "tls")


# ---- EGL202 ---------------------------------------------------------------------------


def test_egl202_one_finding_per_rule_field() -> None:
    found = _case("EGL202/bad-one-rule-two-entries.yaml", "EGL202")
    assert len(found) == 1
    related = {(r.resource.name, r.path[-2]) for r in found[0].related}
    assert related == {("storage", 0), ("queue", 0), ("queue", 1)}


def test_egl202_only_for_traffic_through_a_waypoint() -> None:
    body = _dr("d", "apps", "api.vendor.example", "{tls: {mode: SIMPLE}}")
    unbound = _se("s", "apps", "api.vendor.example", HTTPS, bound=False) + body
    assert _findings(unbound, "EGL202") == []
    bound = WAYPOINT.replace("{cls}", "istio-waypoint") + _se(
        "s", "apps", "api.vendor.example", HTTPS
    )
    assert len(_findings(bound + body, "EGL202")) == 1
    # the waypoint's own namespace shadows the ServiceEntry's namespace
    shadow = _dr("w", "istio-egress", "api.vendor.example", "{tls: {mode: DISABLE}}")
    assert _findings(bound + body + shadow, "EGL202") == []
    # ztunnel-native egress applies no DestinationRule at all
    ztunnel = WAYPOINT.replace("{cls}", "solo-ztunnel-egress") + _se(
        "s", "apps", "api.vendor.example", HTTPS
    )
    assert _findings(ztunnel + body, "EGL202") == []


def test_egl202_sidecar_virtual_service_origination_is_silent() -> None:
    assert _case("EGL202/good-sidecar-virtualservice-origination.yaml", "EGL202") == []


# ---- EGL201 ---------------------------------------------------------------------------


def test_egl201_client_namespace_rule_neither_silences_nor_originates() -> None:
    found = _case("EGL201/bad-waypoint-ignores-client-rule.yaml", "EGL201")
    assert len(found) == 1
    msg = found[0].message
    assert "the waypoint in namespace istio-egress applies" in msg
    assert "DestinationRule payments/partner would, but the waypoint does not use it" in msg
    assert "in namespace istio-egress with portLevelSettings port 80" in msg
    assert {r.resource.ref for r in found[0].related} == {"DestinationRule payments/partner"}
    # a client-namespace rule that would send TLS to port 80 is no finding either
    assert _case("EGL201/good-waypoint-reads-the-rule.yaml", "EGL201") == []


def test_egl201_advice_names_the_rule_the_waypoint_applies() -> None:
    found = _case("EGL201/bad-waypoint-namespace-rule-wins.yaml", "EGL201")
    assert len(found) == 1
    assert "Set tls.mode: SIMPLE for port 80 (portLevelSettings) in DestinationRule " in (
        found[0].message
    )
    assert "istio-egress/openai-pool" in found[0].message


def test_egl201_never_says_plain_http_for_istio_mutual() -> None:
    assert _case("EGL201/good-istio-mutual.yaml", "EGL201") == []
    repo = run_case(read_case(FIXTURES / "repos/broken-m-waypoint-old-istio"))
    on_salesforce = {
        f.rule_id for f in repo.findings if f.file.path.endswith("egress/salesforce.yaml")
    }
    assert "EGL412" in on_salesforce and "EGL201" not in on_salesforce


def test_egl201_one_finding_per_rule_field() -> None:
    two = _se("a", "shop", "aliyun.com", HTTP_80, bound=False) + _se(
        "b", "shop", "aliyun.com", HTTP_80, bound=False
    )
    rule = _dr(
        "d",
        "shop",
        "aliyun.com",
        "{portLevelSettings: [{port: {number: 80}, tls: {mode: SIMPLE}}]}",
    )
    found = _findings(two + rule, "EGL201")
    assert len(found) == 1 and found[0].resource is not None
    assert found[0].resource.kind == "DestinationRule"


def test_egl201_tls_to_plain_port_not_for_proxies_without_destination_rules() -> None:
    body = _se("s", "apps", "aliyun.com", HTTP_80) + _dr(
        "d", "apps", "aliyun.com", "{tls: {mode: SIMPLE}}"
    )
    assert len(_findings(WAYPOINT.replace("{cls}", "istio-waypoint") + body, "EGL201")) == 1
    assert _findings(WAYPOINT.replace("{cls}", "solo-ztunnel-egress") + body, "EGL201") == []


# ---- EGL212 ---------------------------------------------------------------------------


def _credential_case(tls: str, secret: str = "") -> str:
    return (
        WAYPOINT.replace("{cls}", "istio-waypoint")
        + _se("p", "payments", "api.partner.example", HTTP_TO_443)
        + _dr("p", "payments", "api.partner.example", f"{{tls: {tls}}}")
        + secret
    )


SECRET_IN_PAYMENTS = """\
apiVersion: v1
kind: Secret
metadata: {name: partner, namespace: payments}
---
"""


def test_egl212_rbac_advice_for_mutual_and_for_simple_before_1_25() -> None:
    mutual = _findings(
        _credential_case("{mode: MUTUAL, credentialName: partner}", SECRET_IN_PAYMENTS), "EGL212"
    )
    assert len(mutual) == 1 and mutual[0].level != "note"
    assert "service account 'waypoint' must also be allowed to list Secrets" in mutual[0].message
    simple = _credential_case("{mode: SIMPLE, credentialName: partner}", SECRET_IN_PAYMENTS)
    (new,) = _findings(simple, "EGL212", (1, 25, 0))
    assert "list Secrets" not in new.message
    assert "'partner-cacert' (or 'partner') with the CA" in new.message
    (old,) = _findings(simple, "EGL212", (1, 24, 6))
    assert "CA (before Istio 1.25)" in old.message


def test_egl212_service_account_annotation() -> None:
    text = _credential_case("{mode: MUTUAL, credentialName: partner}", SECRET_IN_PAYMENTS).replace(
        "metadata: {name: waypoint, namespace: istio-egress}",
        "metadata:\n  name: waypoint\n  namespace: istio-egress\n"
        "  annotations: {gateway.istio.io/service-account: egress-sa}",
    )
    (found,) = _findings(text, "EGL212")
    assert "service account 'egress-sa'" in found.message


def test_egl212_cacert_secret_serves_simple_only() -> None:
    cacert = SECRET_IN_PAYMENTS.replace(
        "{name: partner, namespace: payments}", "{name: partner-cacert, namespace: istio-egress}"
    )
    simple = _credential_case(
        "{mode: SIMPLE, credentialName: partner}", SECRET_IN_PAYMENTS + cacert
    )
    assert _findings(simple, "EGL212") == []
    mutual = _credential_case(
        "{mode: MUTUAL, credentialName: partner}", SECRET_IN_PAYMENTS + cacert
    )
    assert len(_findings(mutual, "EGL212")) == 1


def test_egl212_rule_in_client_namespace_is_not_read() -> None:
    text = (
        WAYPOINT.replace("{cls}", "istio-waypoint")
        + _se("p", "istio-egress", "api.partner.example", HTTP_TO_443)
        + _dr("p", "payments", "api.partner.example", "{tls: {mode: MUTUAL, credentialName: c}}")
    )
    assert _findings(text, "EGL212") == []
    assert (
        len(_findings(text.replace("namespace: payments}", "namespace: istio-system}"), "EGL212"))
        == 1
    )


# ---- EGL412 ---------------------------------------------------------------------------


def test_egl412_says_plain_text_not_mesh_identity() -> None:
    (found,) = _case("EGL412/bad-istio-mutual.yaml", "EGL412")
    assert "ignores it and sends the traffic upstream in plain text" in found.message
    assert "DISABLE if plain text is meant" in found.message
    assert "presents its own mesh certificate" not in found.message


def test_egl412_one_finding_for_a_rule_on_several_hosts() -> None:
    assert len(_case("EGL412/bad-service-entry-namespace-rule", "EGL412")) == 1


def test_egl412_uses_the_waypoint_lookup() -> None:
    text = (
        WAYPOINT.replace("{cls}", "istio-waypoint")
        + _se("p", "istio-egress", "api.partner.example", HTTP_TO_443)
        + _dr("p", "payments", "api.partner.example", "{tls: {mode: ISTIO_MUTUAL}}")
    )
    assert _findings(text, "EGL412") == []
    assert (
        len(_findings(text.replace("namespace: payments}", "namespace: istio-egress}"), "EGL412"))
        == 1
    )
