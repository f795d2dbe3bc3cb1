"""What findings say, not only where they are: advice that can be followed without creating a
new problem, wording that fits the egress mode, and one finding per policy rule."""

from __future__ import annotations

from fixtures_support import FIXTURES, read_case, run_case

from egresslint.model import Finding


def _findings(case: str, rule_id: str) -> list[Finding]:
    result = run_case(read_case(FIXTURES / case))
    assert not result.internal_errors
    return [f for f in result.findings if f.rule_id == rule_id]


def _message(case: str, rule_id: str) -> str:
    found = _findings(case, rule_id)
    assert len(found) == 1, [f.message for f in found]
    return found[0].message


def test_egl101_suggests_only_waypoints_that_admit_the_namespace() -> None:
    msg = _message("EGL101/bad-unbound-waypoint-refuses-namespace", "EGL101")
    assert "No waypoint admits namespace 'search'" in msg
    assert "move the ServiceEntry into namespace 'agw-egress'" in msg
    assert "allowedRoutes.namespaces.from: All" in msg
    assert not msg.rstrip(".").endswith("to the ServiceEntry or its namespace")


def test_egl101_names_the_admitting_waypoint() -> None:
    msg = _message("EGL101/bad-unbound-shared-waypoint", "EGL101")
    assert "istio.io/use-waypoint: shared and istio.io/use-waypoint-namespace: egress" in msg
    assert "local-only" not in msg


def test_egl101_fix_it_proposes_is_clean() -> None:
    result = run_case(read_case(FIXTURES / "EGL101/good-moved-into-waypoint-namespace"))
    assert not [f for f in result.findings if f.rule_id in ("EGL101", "EGL103")]


def test_egl111_recommends_agentgateway_policy_on_agentgateway_waypoints() -> None:
    found = _findings("EGL111/bad-agentgateway-istio-policy.yaml", "EGL111")
    assert len(found) == 2
    for f in found:
        assert "AgentgatewayPolicy" in f.message and "targetRefs to Gateway" in f.message
        assert "Add an ALLOW policy" not in f.message
    enterprise = next(f for f in found if "anthropic" in f.message)
    assert "EnterpriseAgentgatewayPolicy" in enterprise.message
    assert any(r.resource.kind == "AuthorizationPolicy" for r in enterprise.related)


def test_egl207_advice_fits_resolution_none() -> None:
    found = _findings("EGL207/bad-none-tcp.yaml", "EGL207")
    assert found
    for f in found:
        assert "use resolution: DNS so Istio allocates a VIP" in f.message
        assert "let Istio allocate" not in f.message and "real protocol" not in f.message
        assert "past the waypoint" not in f.message


def test_egl207_leaves_bound_entries_to_egl110() -> None:
    result = run_case(read_case(FIXTURES / "EGL207/good-bound-reported-by-egl110.yaml"))
    assert {f.rule_id for f in result.findings if f.rule_id in ("EGL110", "EGL207")} == {"EGL110"}


def test_egl402_states_the_consequence_of_missing_origination() -> None:
    failing = _findings("EGL402/bad-l7-features.yaml", "EGL402")
    tls = [f for f in failing if "originates TLS" in f.message]
    assert tls and all("targetPort 443" in f.message and "calls fail" in f.message for f in tls)
    msg = _message("EGL402/bad-tls-origination-without-target-port.yaml", "EGL402")
    assert "leaves the cluster unencrypted" in msg and "calls fail" not in msg


def test_egl106_egl107_name_the_ztunnel_egress_gateway() -> None:
    lockdown = _message("EGL106/bad-ztunnel-egress", "EGL106")
    assert "only through the ztunnel egress gateway" in lockdown and "waypoint" not in lockdown
    opened = _message("EGL107/bad-ztunnel-egress", "EGL107")
    assert "bypassing the ztunnel egress gateway" in opened and "waypoint" not in opened
    waypoint = _findings("EGL107/bad-open-cidrs", "EGL107")
    assert waypoint and all("select only the waypoint pods" in f.message for f in waypoint)


def test_egl208_is_conditional_when_the_binding_is_refused() -> None:
    found = _findings("EGL208/bad-binding-refused", "EGL208")
    assert len(found) == 2  # one per policy rule
    first = min(found, key=lambda f: f.span.line)
    assert "'methods', 'paths'" in first.message and "spec.rules[0]" in first.message
    assert "not applied at all" in first.message and "AncestorNotBound" in first.message
    assert "once the binding works" in first.message
    assert {r.resource.kind for r in first.related} >= {"ServiceEntry", "Gateway"}
    plain = _findings("EGL208/bad-allow-paths-on-https", "EGL208")
    assert len(plain) == 1 and "not applied at all" not in plain[0].message


def test_egl401_one_finding_per_rule() -> None:
    found = _findings("EGL401/bad-http-rules.yaml", "EGL401")
    assert sorted(f.message.split(" matches ")[0].split()[-1] for f in found) == [
        "spec.rules[0]",
        "spec.rules[1]",
        "spec.rules[2]",
    ]
    second = next(f for f in found if "spec.rules[1]" in f.message)
    assert "'hosts', 'request.headers[x-ci]'" in second.message
    third = next(f for f in found if "spec.rules[2]" in f.message)
    assert "'connection.sni'" in third.message  # a waypoint-only key, not L4


def test_egl114_names_the_reason_and_the_binding() -> None:
    found = {f.span.line: f for f in _findings("EGL114/bad-not-bound", "EGL114")}
    texts = [f.message for f in found.values()]
    assert any("AttachmentDenied" in t for t in texts)
    assert any("UnsupportedTrafficType" in t for t in texts)
    # a waypoint that does not exist is reported once, by EGL102 at the label to fix
    assert not any("WaypointIsNotReady" in t for t in texts)
    missing = _findings("EGL114/bad-not-bound", "EGL102")
    assert [f.message.split(" uses ")[0] for f in missing] == ["ServiceEntry ml/wandb"]
    assert any("TargetNotFound" in t and "exists in namespace 'egress'" in t for t in texts)
    assert all(f.level == "warning" for f in found.values())
    refused = next(f for f in found.values() if "AttachmentDenied" in f.message)
    assert {r.resource.kind for r in refused.related} == {"ServiceEntry", "Gateway"}
