"""Parity with `istioctl analyze`: the table of analyzer messages is complete and agrees with the
rules' metadata, its document is current, SARIF carries the codes, and the rules that declare a
code report what Istio's analyzer reports on Istio's own analyzer test inputs.

The test inputs are the copies under ``../shared/corpus/upstream/istio__istio/pkg/config/
analysis/analyzers/testdata/`` beside the repository (skipped when absent, as in
test_corpus.py). The expected messages below are transcribed from the test table ``testGrid``
of istio/istio ``pkg/config/analysis/analyzers/analyzers_test.go`` at 1.30.3, plus the cases
1.31.0-rc.0 adds (``tag``), for every analyzer that reports a message about what egresslint
reads. A case is compared for the codes a rule declares and that case's analyzer reports;
where egresslint deliberately differs, ``DIFFERENCES`` lists the difference and the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import engine
from egresslint.lint.registry import all_rules
from egresslint.lint.rule import Rule
from egresslint.model import Finding, Resource
from egresslint.report import istioctl, sarif

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "istioctl-analyze.md"
TESTDATA = (
    ROOT.parent
    / "shared"
    / "corpus"
    / "upstream"
    / "istio__istio"
    / "pkg"
    / "config"
    / "analysis"
    / "analyzers"
    / "testdata"
)

# The codes of pkg/config/analysis/msg/messages.yaml at 1.30.3, in the file's order.
_RELEASE = """
IST0001 IST0002 IST0101 IST0102 IST0103 IST0106 IST0107 IST0108 IST0109 IST0110 IST0111
IST0112 IST0116 IST0118 IST0123 IST0125 IST0126 IST0127 IST0128 IST0129 IST0130 IST0131
IST0132 IST0133 IST0134 IST0135 IST0136 IST0137 IST0138 IST0139 IST0140 IST0141 IST0142
IST0143 IST0144 IST0145 IST0146 IST0147 IST0148 IST0149 IST0150 IST0151 IST0152 IST0153
IST0154 IST0155 IST0156 IST0172 IST0157 IST0158 IST0159 IST0160 IST0161 IST0162 IST0163
IST0164 IST0165 IST0166 IST0167 IST0168 IST0169 IST0170 IST0171 IST0173 IST0174 IST0175
IST0176
"""
RELEASE_CODES = _RELEASE.split()


# ---- the table and its document ----------------------------------------------------------


def test_table_lists_every_message_of_the_release() -> None:
    cat = istioctl.catalogue()
    assert cat.istio_version == "1.30.3"
    base = [m.code for m in cat.messages if not m.since]
    assert sorted(base) == sorted(RELEASE_CODES)
    later = [m for m in cat.messages if m.since]
    assert all(_minor(m.since) > _minor(cat.istio_version) for m in later)


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def test_every_message_has_a_rule_or_a_reason() -> None:
    assert istioctl.problems() == []


def test_problems_are_found() -> None:
    """A code no rule declares and without status, an unknown declared code, a contradiction."""
    rule = all_rules()[0]
    fake = Rule(
        id="EGL999",
        name="fake",
        tag=rule.tag,
        level="warning",
        summary="x",
        help="x",
        istio_analyzer=("IST0002", "IST9999"),
    )
    found = "\n".join(istioctl.problems([*all_rules(), fake]))
    assert "IST0002 (Deprecated): declared by EGL999 but not-applicable" in found
    assert "declares IST9999, which is not in the catalogue" in found
    stripped = [r for r in all_rules() if "IST0134" not in r.istio_analyzer]
    assert "IST0134 (ServiceEntryAddressesRequired): no rule declares it" in "\n".join(
        istioctl.problems(stripped)
    )


def test_in_scope_messages_are_reasoned_and_out_of_scope_ones_say_why() -> None:
    by_code = istioctl.declared()
    for m in istioctl.catalogue().messages:
        assert m.reason, m.code
        if m.scope == "out":
            assert m.status == "out-of-scope" and not by_code.get(m.code), m.code
        elif not by_code.get(m.code):
            assert m.status in ("pending", "gap", "not-applicable"), m.code
        assert m.analyzers or m.other_analyzers or "no analyzer" in m.reason.lower(), m.code


def test_document_is_current() -> None:
    current = DOC.read_text(encoding="utf-8")
    assert current == istioctl.markdown(), (
        "run: egresslint rules --format istioctl > docs/istioctl-analyze.md"
    )


def test_cli_prints_the_document() -> None:
    result = CliRunner().invoke(cli, ["rules", "--format", "istioctl"])
    assert result.exit_code == 0
    assert result.output == istioctl.markdown()
    assert "| IST0134 | ServiceEntryAddressesRequired |" in result.output


def test_document_maps_rules_to_codes() -> None:
    rows = {
        line.split(" | ")[0]: line for line in istioctl.markdown().splitlines() if "| IST" in line
    }
    for code, ids in istioctl.declared().items():
        for rule_id in ids:
            assert code in rows[f"| [{rule_id}](rules.md#{rule_id.lower()})"], (rule_id, code)


def test_the_table_ships_with_the_package() -> None:
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    line = next(x for x in config.splitlines() if x.startswith('"egresslint.report" = ['))
    assert f'"{istioctl.DATA.name}"' in line
    assert istioctl.DATA.parent == ROOT / "egresslint" / "report"


# ---- SARIF -------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_sarif_rule_properties_carry_the_codes(rule: Rule) -> None:
    props = sarif.to_json_obj(sarif.descriptor(rule))["properties"]
    if rule.istio_analyzer:
        assert props["istioctl-analyze"] == list(rule.istio_analyzer)
    else:
        assert "istioctl-analyze" not in props


def test_sarif_log_with_codes_is_valid() -> None:
    chosen = [r for r in all_rules() if r.istio_analyzer]
    assert chosen
    log = sarif.build(engine.RunResult(findings=[], rules=chosen))
    schema = json.loads((ROOT / "schemas" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(log)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["properties"]["istioctl-analyze"] for r in rules] == [
        list(r.istio_analyzer) for r in chosen
    ]


# ---- Istio's analyzer test inputs --------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One entry of Istio's analyzer test table."""

    name: str
    analyzer: str
    files: tuple[str, ...]  # relative to testdata/
    expected: tuple[tuple[str, str], ...]  # (message name, "Kind [namespace/]name")
    mesh_config: str | None = None  # the analyzer's mesh config option; egresslint has none
    tag: str = "1.30.3"


CASES = (
    Case(
        "misannoted",
        "annotations.K8sAnalyzer",
        ("misannotated.yaml",),
        (
            ("UnknownAnnotation", "Service httpbin"),
            ("InvalidAnnotation", "Pod invalid-annotations"),
            ("MisplacedAnnotation", "Pod grafana-test"),
            ("MisplacedAnnotation", "Deployment fortio-deploy"),
            ("MisplacedAnnotation", "Namespace staging"),
            ("DeprecatedAnnotation", "Deployment fortio-deploy"),
        ),
    ),
    Case(
        "deprecation",
        "deprecation.FieldAnalyzer",
        ("deprecation.yaml",),
        (
            ("Deprecated", "VirtualService foo/productpage"),
            ("Deprecated", "Sidecar default/no-selector"),
        ),
    ),
    Case(
        "istioInjection",
        "injection.Analyzer",
        ("injection.yaml",),
        (
            ("NamespaceNotInjected", "Namespace bar"),
            ("PodMissingProxy", "Pod default/noninjectedpod"),
            ("NamespaceMultipleInjectionLabels", "Namespace busted"),
            ("NamespaceMultipleInjectionLabels", "Namespace multi-ns-1"),
            ("NamespaceMultipleInjectionLabels", "Namespace multi-ns-2"),
            ("NamespaceMultipleInjectionLabels", "Namespace multi-ns-3"),
        ),
    ),
    Case(
        "istioInjectionEnableNamespacesByDefault",
        "injection.Analyzer",
        (
            "injection.yaml",
            "common/sidecar-injector-enabled-nsbydefault.yaml",
        ),
        (
            ("NamespaceInjectionEnabledByDefault", "Namespace bar"),
            ("PodMissingProxy", "Pod default/noninjectedpod"),
            ("NamespaceMultipleInjectionLabels", "Namespace busted"),
            ("NamespaceMultipleInjectionLabels", "Namespace multi-ns-1"),
            ("NamespaceMultipleInjectionLabels", "Namespace multi-ns-2"),
            ("NamespaceMultipleInjectionLabels", "Namespace multi-ns-3"),
        ),
    ),
    Case(
        "sidecarDefaultSelector",
        "sidecar.SelectorAnalyzer",
        ("sidecar-default-selector.yaml",),
        (
            ("MultipleSidecarsWithoutWorkloadSelectors", "Sidecar ns2/has-conflict-2"),
            ("MultipleSidecarsWithoutWorkloadSelectors", "Sidecar ns2/has-conflict-1"),
            ("IneffectivePolicy", "Sidecar ns-ambient/namespace-scoped"),
            ("IneffectivePolicy", "Sidecar ns-ambient/pod-scoped"),
        ),
    ),
    Case(
        "sidecarSelector",
        "sidecar.SelectorAnalyzer",
        ("sidecar-selector.yaml",),
        (
            ("ReferencedResourceNotFound", "Sidecar default/maps-to-nonexistent"),
            ("ReferencedResourceNotFound", "Sidecar other/maps-to-different-ns"),
            ("ConflictingSidecarWorkloadSelectors", "Sidecar default/dupe-1"),
            ("ConflictingSidecarWorkloadSelectors", "Sidecar default/dupe-2"),
            ("ConflictingSidecarWorkloadSelectors", "Sidecar default/overlap-1"),
            ("ConflictingSidecarWorkloadSelectors", "Sidecar default/overlap-2"),
        ),
    ),
    Case(
        "virtualServiceConflictingMeshGatewayHosts",
        "virtualservice.ConflictingMeshGatewayHostsAnalyzer",
        ("virtualservice_conflictingmeshgatewayhosts.yaml",),
        (
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService team3/ratings"),
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService team4/ratings"),
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService foo/ratings"),
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService bar/ratings"),
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService foo/productpage"),
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService foo/bogus-productpage"),
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService team2/ratings"),
        ),
    ),
    Case(
        "virtualServiceConflictingMeshGatewayHostsWithExportTo",
        "virtualservice.ConflictingMeshGatewayHostsAnalyzer",
        ("virtualservice_conflictingmeshgatewayhosts_with_exportto.yaml",),
        (
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService foo/productpage"),
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService bar/productpage"),
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService foo/productpage-c"),
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService bar/productpage-c"),
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService foo/productpage-d"),
            ("ConflictingMeshGatewayVirtualServiceHosts", "VirtualService bar/productpage-d"),
        ),
    ),
    Case(
        "virtualServiceDestinationHosts",
        "virtualservice.DestinationHostAnalyzer",
        ("virtualservice_destinationhosts.yaml",),
        (
            ("ReferencedResourceNotFound", "VirtualService default/reviews-bogushost"),
            ("ReferencedResourceNotFound", "VirtualService default/reviews-bogushost"),
            ("ReferencedResourceNotFound", "VirtualService default/reviews-bookinfo-other"),
            ("ReferencedResourceNotFound", "VirtualService default/reviews-mirror-bogushost"),
            ("ReferencedResourceNotFound", "VirtualService default/reviews-bogusport"),
            (
                "VirtualServiceDestinationPortSelectorRequired",
                "VirtualService default/reviews-2port-missing",
            ),
            ("ReferencedResourceNotFound", "VirtualService istio-system/cross-namespace-details"),
            ("ReferencedResourceNotFound", "VirtualService hello/hello-export-to-bogus"),
        ),
    ),
    Case(
        "virtualServiceDestinationRules",
        "virtualservice.DestinationRuleAnalyzer",
        ("virtualservice_destinationrules.yaml",),
        (
            ("ReferencedResourceNotFound", "VirtualService default/reviews-bogussubset"),
            ("ReferencedResourceNotFound", "VirtualService default/reviews-mirror-bogussubset"),
        ),
    ),
    Case(
        "virtualServiceGateways",
        "virtualservice.GatewayAnalyzer",
        ("virtualservice_gateways.yaml",),
        (
            ("ReferencedResourceNotFound", "VirtualService httpbin-bogus"),
            ("VirtualServiceHostNotFoundInGateway", "VirtualService default/cross-test"),
            ("VirtualServiceHostNotFoundInGateway", "VirtualService httpbin-bogus"),
            ("VirtualServiceHostNotFoundInGateway", "VirtualService httpbin"),
        ),
    ),
    Case(
        "virtualServiceJWTClaimRoute",
        "virtualservice.JWTClaimRouteAnalyzer",
        ("virtualservice_jwtclaimroute.yaml",),
        (("JwtClaimBasedRoutingWithoutRequestAuthN", "VirtualService foo"),),
    ),
    Case(
        "virtualServiceInternalGatewayRef",
        "virtualservice.GatewayAnalyzer",
        ("virtualservice_internal_gateway_ref.yaml",),
        (("ReferencedInternalGateway", "VirtualService httpbin"),),
    ),
    Case(
        "authorizationpolicies",
        "authz.AuthorizationPoliciesAnalyzer",
        ("authorizationpolicies.yaml",),
        (
            ("NoMatchingWorkloadsFound", "AuthorizationPolicy istio-system/meshwide-httpbin-v1"),
            (
                "NoMatchingWorkloadsFound",
                "AuthorizationPolicy httpbin-empty/httpbin-empty-namespace-wide",
            ),
            ("NoMatchingWorkloadsFound", "AuthorizationPolicy httpbin/httpbin-nopods"),
            ("ReferencedResourceNotFound", "AuthorizationPolicy httpbin/httpbin-bogus-ns"),
            ("ReferencedResourceNotFound", "AuthorizationPolicy httpbin/httpbin-bogus-ns"),
            ("ReferencedResourceNotFound", "AuthorizationPolicy httpbin/httpbin-bogus-not-ns"),
            ("ReferencedResourceNotFound", "AuthorizationPolicy httpbin/httpbin-bogus-not-ns"),
            ("NoMatchingWorkloadsFound", "AuthorizationPolicy test-ambient/no-workload"),
        ),
    ),
    Case(
        "destinationrule with no cacert, simple at destinationlevel",
        "destinationrule.CaCertificateAnalyzer",
        ("destinationrule-simple-destination.yaml",),
        (("NoServerCertificateVerificationDestinationLevel", "DestinationRule db-tls"),),
    ),
    Case(
        "destinationrule with no cacert, mutual at destinationlevel",
        "destinationrule.CaCertificateAnalyzer",
        ("destinationrule-mutual-destination.yaml",),
        (("NoServerCertificateVerificationDestinationLevel", "DestinationRule db-mtls"),),
    ),
    Case(
        "destinationrule with no cacert, simple at portlevel",
        "destinationrule.CaCertificateAnalyzer",
        ("destinationrule-simple-port.yaml",),
        (("NoServerCertificateVerificationPortLevel", "DestinationRule db-tls"),),
    ),
    Case(
        "destinationrule with credentialname, simple at destinationlevel, no workloadSelector",
        "destinationrule.CaCertificateAnalyzer",
        ("destinationrule-simple-destination-credentialname.yaml",),
        (("NoServerCertificateVerificationDestinationLevel", "DestinationRule db-tls"),),
    ),
    Case(
        "destinationrule with credentialname, simple at destinationlevel, workloadSelector",
        "destinationrule.CaCertificateAnalyzer",
        ("destinationrule-simple-destination-credentialname-selector.yaml",),
        (),
    ),
    Case(
        "destinationrule with credentialname, simple at portlevel, no workloadSelector",
        "destinationrule.CaCertificateAnalyzer",
        ("destinationrule-simple-port-credentialname.yaml",),
        (("NoServerCertificateVerificationPortLevel", "DestinationRule db-tls"),),
    ),
    Case(
        "destinationrule with credentialname, simple at portlevel, workloadSelector",
        "destinationrule.CaCertificateAnalyzer",
        ("destinationrule-simple-port-credentialname-selector.yaml",),
        (),
    ),
    Case(
        "destinationrule with no cacert, mutual at portlevel",
        "destinationrule.CaCertificateAnalyzer",
        ("destinationrule-mutual-port.yaml",),
        (("NoServerCertificateVerificationPortLevel", "DestinationRule db-mtls"),),
    ),
    Case(
        "destinationrule with no cacert, mutual at destinationlevel and simple at port level",
        "destinationrule.CaCertificateAnalyzer",
        ("destinationrule-compound-simple-mutual.yaml",),
        (
            ("NoServerCertificateVerificationDestinationLevel", "DestinationRule db-mtls"),
            ("NoServerCertificateVerificationPortLevel", "DestinationRule db-mtls"),
        ),
    ),
    Case(
        "destinationrule with no cacert, simple at destinationlevel and mutual at port level",
        "destinationrule.CaCertificateAnalyzer",
        ("destinationrule-compound-mutual-simple.yaml",),
        (
            ("NoServerCertificateVerificationPortLevel", "DestinationRule db-mtls"),
            ("NoServerCertificateVerificationDestinationLevel", "DestinationRule db-mtls"),
        ),
    ),
    Case(
        "destinationrule with both cacerts",
        "destinationrule.CaCertificateAnalyzer",
        ("destinationrule-with-ca.yaml",),
        (),
    ),
    Case(
        "dupmatches",
        "schema.ValidationAnalyzer",
        (
            "virtualservice_dupmatches.yaml",
            "virtualservice_overlappingmatches.yaml",
        ),
        (
            ("VirtualServiceUnreachableRule", "VirtualService duplicate-match"),
            ("VirtualServiceUnreachableRule", "VirtualService foo/sample-foo-cluster01"),
            ("VirtualServiceIneffectiveMatch", "VirtualService almost-duplicate-match"),
            ("VirtualServiceIneffectiveMatch", "VirtualService duplicate-match"),
            ("VirtualServiceUnreachableRule", "VirtualService duplicate-tcp-match"),
            ("VirtualServiceUnreachableRule", "VirtualService duplicate-empty-tcp"),
            ("VirtualServiceIneffectiveMatch", "VirtualService almost-duplicate-tcp-match"),
            ("VirtualServiceIneffectiveMatch", "VirtualService duplicate-tcp-match"),
            ("VirtualServiceUnreachableRule", "VirtualService none/tls-routing"),
            ("VirtualServiceIneffectiveMatch", "VirtualService none/tls-routing-almostmatch"),
            ("VirtualServiceIneffectiveMatch", "VirtualService none/tls-routing"),
            ("VirtualServiceIneffectiveMatch", "VirtualService non-method-get"),
            ("VirtualServiceIneffectiveMatch", "VirtualService overlapping-in-single-match"),
            ("VirtualServiceIneffectiveMatch", "VirtualService overlapping-in-two-matches"),
            (
                "VirtualServiceIneffectiveMatch",
                "VirtualService overlapping-mathes-with-different-methods",
            ),
        ),
    ),
    Case(
        "host defined in virtualservice not found in the gateway",
        "virtualservice.GatewayAnalyzer",
        ("virtualservice_host_not_found_gateway.yaml",),
        (
            (
                "VirtualServiceHostNotFoundInGateway",
                "VirtualService default/testing-service-02-test-01",
            ),
            (
                "VirtualServiceHostNotFoundInGateway",
                "VirtualService default/testing-service-02-test-02",
            ),
            (
                "VirtualServiceHostNotFoundInGateway",
                "VirtualService default/testing-service-02-test-03",
            ),
            (
                "VirtualServiceHostNotFoundInGateway",
                "VirtualService default/testing-service-03-test-04",
            ),
        ),
    ),
    Case(
        "host defined in virtualservice not found in the gateway(beta version)",
        "virtualservice.GatewayAnalyzer",
        ("virtualservice_host_not_found_gateway_beta.yaml",),
        (
            (
                "VirtualServiceHostNotFoundInGateway",
                "VirtualService default/testing-service-02-test-01",
            ),
            (
                "VirtualServiceHostNotFoundInGateway",
                "VirtualService default/testing-service-02-test-02",
            ),
            (
                "VirtualServiceHostNotFoundInGateway",
                "VirtualService default/testing-service-02-test-03",
            ),
            (
                "VirtualServiceHostNotFoundInGateway",
                "VirtualService default/testing-service-03-test-04",
            ),
        ),
    ),
    Case(
        "host defined in virtualservice not found in the gateway with ns",
        "virtualservice.GatewayAnalyzer",
        ("virtualservice_host_not_found_gateway_with_ns_prefix.yaml",),
        (
            (
                "VirtualServiceHostNotFoundInGateway",
                "VirtualService default/testing-service-01-test-01",
            ),
        ),
    ),
    Case(
        "host defined in virtualservice not found in the gateway with ns(beta version)",
        "virtualservice.GatewayAnalyzer",
        ("virtualservice_host_not_found_gateway_with_ns_prefix_beta.yaml",),
        (
            (
                "VirtualServiceHostNotFoundInGateway",
                "VirtualService default/testing-service-01-test-01",
            ),
        ),
    ),
    Case(
        "missing Addresses and Protocol in Service Entry",
        "serviceentry.ProtocolAddressesAnalyzer",
        ("serviceentry-missing-addresses-protocol.yaml",),
        (
            ("ServiceEntryAddressesRequired", "ServiceEntry default/service-entry-test-03"),
            ("ServiceEntryAddressesRequired", "ServiceEntry default/service-entry-test-04"),
            ("ServiceEntryAddressesRequired", "ServiceEntry default/service-entry-test-07"),
        ),
    ),
    Case(
        "missing Addresses and Protocol in Service Entry with ISTIO_META_DNS_AUTO_ALLOCATE enabled",
        "serviceentry.ProtocolAddressesAnalyzer",
        ("serviceentry-missing-addresses-protocol.yaml",),
        (),
        mesh_config="serviceentry-missing-addresses-protocol-mesh-cfg.yaml",
    ),
    Case(
        "Route Rule no effect on Ingress",
        "virtualservice.DestinationHostAnalyzer",
        ("virtualservice_route_rule_no_effects_ingress.yaml",),
        (("IngressRouteRulesNotAffected", "VirtualService default/testing-service-01-test-01"),),
    ),
    Case(
        "Application Pod SecurityContext with UID 1337",
        "deployment.ApplicationUIDAnalyzer",
        ("pod-sec-uid.yaml",),
        (("InvalidApplicationUID", "Pod pod-sec-uid"),),
    ),
    Case(
        "Application Container SecurityContext with UID 1337",
        "deployment.ApplicationUIDAnalyzer",
        ("pod-con-sec-uid.yaml",),
        (("InvalidApplicationUID", "Pod con-sec-uid"),),
    ),
    Case(
        "Deployment Pod SecurityContext with UID 1337",
        "deployment.ApplicationUIDAnalyzer",
        ("deployment-pod-sec-uid.yaml",),
        (("InvalidApplicationUID", "Deployment deploy-pod-sec-uid"),),
    ),
    Case(
        "Deployment Container SecurityContext with UID 1337",
        "deployment.ApplicationUIDAnalyzer",
        ("deployment-con-sec-uid.yaml",),
        (("InvalidApplicationUID", "Deployment deploy-con-sec-uid"),),
    ),
    Case(
        "KubernetesGatewaySelector",
        "k8sgateway.SelectorAnalyzer",
        ("k8sgateway-selector.yaml",),
        (
            ("IneffectiveSelector", "RequestAuthentication default/ra-ineffective"),
            ("IneffectiveSelector", "AuthorizationPolicy default/ap-ineffective"),
            ("IneffectiveSelector", "WasmPlugin default/wasmplugin-ineffective"),
            ("IneffectiveSelector", "Telemetry default/telemetry-ineffective"),
        ),
    ),
    Case(
        "ServiceEntry Addresses Required Lowercase Protocol",
        "serviceentry.ProtocolAddressesAnalyzer",
        ("serviceentry-address-required-lowercase.yaml",),
        (("ServiceEntryAddressesRequired", "ServiceEntry address-missing-lowercase"),),
    ),
    Case(
        "ServiceEntry Addresses Required Uppercase Protocol",
        "serviceentry.ProtocolAddressesAnalyzer",
        ("serviceentry-address-required-uppercase.yaml",),
        (("ServiceEntryAddressesRequired", "ServiceEntry address-missing-uppercase"),),
    ),
    Case(
        "Condition Analyzer",
        "conditions.ConditionAnalyzer",
        ("condition-analyzer.yaml",),
        (
            ("NegativeConditionStatus", "Service default/negative-condition-svc"),
            ("NegativeConditionStatus", "ServiceEntry default/negative-condition-svcEntry"),
            ("NegativeConditionStatus", "AuthorizationPolicy default/negative-condition-authz"),
            ("NegativeConditionStatus", "Gateway default/negative-condition-gateway"),
            ("NegativeConditionStatus", "HTTPRoute default/negative-condition-httproute"),
            ("NegativeConditionStatus", "GRPCRoute default/negative-condition-grpcroute"),
            (
                "NegativeConditionStatus",
                "AuthorizationPolicy default/negative-condition-authz-partially-invalid",
            ),
        ),
    ),
    Case(
        "DestinationRuleWithFakeHost",
        "destinationrule.PodNotSelectedAnalyzer",
        ("destinationrule-with-fake-host.yaml",),
        (("UnknownDestinationRuleHost", "DestinationRule default/fake-host"),),
    ),
    Case(
        "DestinationRuleSubsetsNotSelectPods",
        "destinationrule.PodNotSelectedAnalyzer",
        ("destinationrule-subsets-not-select-pods.yaml",),
        (
            (
                "DestinationRuleSubsetNotSelectPods",
                "DestinationRule default/subsets-not-select-pods",
            ),
        ),
    ),
    Case(
        "DestinationRuleSubsetsWithTopologyLabels",
        "destinationrule.PodNotSelectedAnalyzer",
        ("destinationrule-subsets-with-topology-labels.yaml",),
        (),
    ),
    Case(
        "DestinationRuleEmptyTopologyLabels",
        "destinationrule.PodNotSelectedAnalyzer",
        ("destinationrule-empty-topology-labels.yaml",),
        (("DestinationRuleSubsetNotSelectPods", "DestinationRule default/empty-topology-labels"),),
    ),
    Case(
        "ServiceEntry Addresses Allocated",
        "serviceentry.ProtocolAddressesAnalyzer",
        ("serviceentry-address-allocated.yaml",),
        (),
        mesh_config="serviceentry-address-allocated-mesh-cfg.yaml",
    ),
    Case(
        "ServiceEntry conflicting protocols on same host and port",
        "serviceentry.ConflictingServiceEntryProtocolAnalyzer",
        ("serviceentry-conflicting-protocol.yaml",),
        (
            ("ConflictingServiceEntryProtocol", "ServiceEntry default/se-http"),
            ("ConflictingServiceEntryProtocol", "ServiceEntry default/se-https"),
        ),
        tag="1.31.0-rc.0",
    ),
    Case(
        "ServiceEntry no conflict same protocol",
        "serviceentry.ConflictingServiceEntryProtocolAnalyzer",
        ("serviceentry-no-conflict-protocol.yaml",),
        (),
        tag="1.31.0-rc.0",
    ),
    Case(
        "ServiceEntry no conflict non-overlapping exportTo scopes",
        "serviceentry.ConflictingServiceEntryProtocolAnalyzer",
        ("serviceentry-conflicting-exportto.yaml",),
        (),
        tag="1.31.0-rc.0",
    ),
)

# Further egresslint runs per analyzer, with --istio-version (the default run is the first).
VERSIONS = {"serviceentry.ProtocolAddressesAnalyzer": ("1.30", "1.24")}


@dataclass(frozen=True)
class Difference:
    missing: frozenset[str] = frozenset()  # Istio reports it, egresslint does not
    extra: frozenset[str] = frozenset()  # egresslint reports it, Istio does not
    why: str = ""


def _diff(why: str, missing: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> Difference:
    return Difference(frozenset(missing), frozenset(extra), why)


# (case name, --istio-version, code) -> where egresslint deliberately differs, and why.
_ALLOCATED = (
    "The input's status.addresses says an address was allocated, but its resolution is NONE "
    "(unset), for which istiod never allocates one (shouldV2AutoAllocateIPFromPieces in "
    "pilot/pkg/networking/serviceentry/ip_autoallocation.go, 1.30.3); egresslint reads no "
    "status, which the cluster writes, and reports the port as a note, as Istio's validation "
    "warns (IST0133)."
)
_INJECTION_LABELS = (
    "EGL121 reports only namespaces labelled istio.io/dataplane-mode: ambient that the sidecar "
    "injector also selects (istio-injection: enabled, or istio.io/rev without istio-injection), "
    "whose pods escape ztunnel and the egress waypoint. The analyzer also reports "
    "istio-injection: enabled together with istio.io/rev, which only decides which sidecar "
    "revision injects (the webhook of istio.io/rev requires istio-injection to be absent: "
    "istio-discovery chart mutatingwebhook.yaml, 1.30.3), no egress matter."
)
_SIDECAR_ONLY = ("Namespace busted", "Namespace multi-ns-1")
_NO_SERVICES = (
    "The input holds no Service or ServiceEntry for these route destinations, so EGL217 notes "
    "them (a Service may be deployed from elsewhere); istioctl analyze runs every analyzer, and "
    "its DestinationHostAnalyzer, which this test case does not run, reports them as "
    "IST0101 too (virtualservice/destinationhosts.go, 1.30.3)."
)
_WAYPOINT_ONLY = (
    "EGL119 judges only the VirtualServices an egress waypoint applies to a ServiceEntry host "
    "bound to it, and reports those whose routes the waypoint does not use; the input has no "
    "ServiceEntry and no waypoint. The analyzer reports every mesh VirtualService whose host "
    "another one names, as sidecars see them."
)
DIFFERENCES: dict[tuple[str, str, str], Difference] = {
    ("virtualServiceDestinationHosts", "1.30", "IST0101"): _diff(
        "These VirtualServices route to subset v1 of reviews or reviews-2port, which no "
        "DestinationRule of the input defines: EGL217 notes them, as istioctl analyze's "
        "DestinationRuleAnalyzer (virtualservice/destinationrules.go, 1.30.3), which this test "
        "case does not run, reports them as IST0101.",
        extra=(
            "VirtualService default/reviews",
            "VirtualService default/reviews-2port-missing",
            "VirtualService default/reviews-2port-present",
            "VirtualService default/reviews-fqdn",
            "VirtualService default/reviews-mirror",
        ),
    ),
    ("virtualServiceGateways", "1.30", "IST0101"): _diff(
        "The GatewayAnalyzer's IST0101 is a VirtualService `gateways` entry that names no "
        "networking.istio.io Gateway; ambient egress does not route through such Gateways, and "
        "no rule checks the reference.",
        missing=("VirtualService httpbin-bogus",),
    ),
    ("virtualServiceInternalGatewayRef", "1.30", "IST0101"): _diff(
        _NO_SERVICES, extra=("VirtualService default/httpbin",)
    ),
    ("host defined in virtualservice not found in the gateway", "1.30", "IST0101"): _diff(
        _NO_SERVICES,
        extra=(
            *(f"VirtualService default/testing-service-01-test-0{i}" for i in range(1, 5)),
            *(f"VirtualService default/testing-service-02-test-0{i}" for i in range(1, 5)),
            "VirtualService default/testing-service-03-test-04",
        ),
    ),
    (
        "host defined in virtualservice not found in the gateway(beta version)",
        "1.30",
        "IST0101",
    ): _diff(
        _NO_SERVICES,
        extra=(
            *(f"VirtualService default/testing-service-01-test-0{i}" for i in range(1, 5)),
            *(f"VirtualService default/testing-service-02-test-0{i}" for i in range(1, 5)),
            "VirtualService default/testing-service-03-test-04",
        ),
    ),
    ("host defined in virtualservice not found in the gateway with ns", "1.30", "IST0101"): _diff(
        _NO_SERVICES,
        extra=tuple(
            f"VirtualService {ns}/testing-service-01-test-0{i}"
            for ns in ("default", "istio-system")
            for i in range(1, 5)
        ),
    ),
    (
        "host defined in virtualservice not found in the gateway with ns(beta version)",
        "1.30",
        "IST0101",
    ): _diff(
        _NO_SERVICES,
        extra=tuple(
            f"VirtualService {ns}/testing-service-01-test-0{i}"
            for ns in ("default", "istio-system")
            for i in range(1, 5)
        ),
    ),
    ("sidecarSelector", "1.30", "IST0101"): _diff(
        "The SelectorAnalyzer's IST0101 is a Sidecar whose workload selector matches no pod; "
        "Sidecars do not apply to ambient pods, and no rule checks their selectors.",
        missing=("Sidecar default/maps-to-nonexistent", "Sidecar other/maps-to-different-ns"),
    ),
    ("virtualServiceConflictingMeshGatewayHosts", "1.30", "IST0109"): _diff(
        _WAYPOINT_ONLY,
        missing=(
            "VirtualService bar/ratings",
            "VirtualService foo/bogus-productpage",
            "VirtualService foo/productpage",
            "VirtualService foo/ratings",
            "VirtualService team2/ratings",
            "VirtualService team3/ratings",
            "VirtualService team4/ratings",
        ),
    ),
    ("virtualServiceConflictingMeshGatewayHostsWithExportTo", "1.30", "IST0109"): _diff(
        _WAYPOINT_ONLY,
        missing=(
            "VirtualService bar/productpage",
            "VirtualService bar/productpage-c",
            "VirtualService bar/productpage-d",
            "VirtualService foo/productpage",
            "VirtualService foo/productpage-c",
            "VirtualService foo/productpage-d",
        ),
    ),
    ("missing Addresses and Protocol in Service Entry", "1.30", "IST0134"): _diff(
        "From Istio 1.25 istiod allocates an address to a ServiceEntry without addresses "
        "(PILOT_ENABLE_IP_AUTOALLOCATE, on by default: pilot/pkg/features/pilot.go, "
        "1.25.0-1.30.3), so these DNS entries get one and EGL207 is silent, as istioctl analyze "
        "is on a live cluster, where the address is in status; the analyzer reads files without "
        "status. At --istio-version 1.24 EGL207 reports exactly these.",
        missing=(
            "ServiceEntry default/service-entry-test-03",
            "ServiceEntry default/service-entry-test-04",
            "ServiceEntry default/service-entry-test-07",
        ),
    ),
    (
        "missing Addresses and Protocol in Service Entry with ISTIO_META_DNS_AUTO_ALLOCATE enabled",
        "1.24",
        "IST0134",
    ): _diff(
        "The case gives the analyzer a mesh config whose defaultConfig.proxyMetadata turns on "
        "address allocation for Envoy-based proxies (node metadata DNSAutoAllocate, "
        "pilot/pkg/model/service.go, 1.30.3); ambient clients get an address only from "
        "istiod's PILOT_ENABLE_IP_AUTOALLOCATE, off by default at 1.24, which EGL207 follows "
        "(at the default version the case matches).",
        extra=(
            "ServiceEntry default/service-entry-test-03",
            "ServiceEntry default/service-entry-test-04",
            "ServiceEntry default/service-entry-test-07",
        ),
    ),
    ("ServiceEntry Addresses Allocated", "1.30", "IST0134"): _diff(
        _ALLOCATED, extra=("ServiceEntry default/address-allocated",)
    ),
    ("ServiceEntry Addresses Allocated", "1.24", "IST0134"): _diff(
        _ALLOCATED, extra=("ServiceEntry default/address-allocated",)
    ),
    ("ServiceEntry conflicting protocols on same host and port", "1.30", "IST0177"): _diff(
        "EGL506 reports each conflicting port once, at the declaration that differs from the "
        "first ServiceEntry in the view declaring it, with that one as a related location; the "
        "analyzer reports every ServiceEntry involved.",
        missing=("ServiceEntry default/se-https",),
    ),
    ("istioInjection", "1.30", "IST0123"): _diff(_INJECTION_LABELS, missing=_SIDECAR_ONLY),
    ("istioInjectionEnableNamespacesByDefault", "1.30", "IST0123"): _diff(
        _INJECTION_LABELS, missing=_SIDECAR_ONLY
    ),
}


def _versions(case: Case) -> tuple[str, ...]:
    return VERSIONS.get(case.analyzer, (engine.DEFAULT_ISTIO_VERSION,))


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    """Message name -> code."""
    return {m.name: m.code for m in istioctl.catalogue().messages}


def _compared(case: Case) -> list[str]:
    """The declared codes this case's analyzer reports."""
    cat = istioctl.catalogue()
    out = []
    for code in sorted(istioctl.declared()):
        message = cat.get(code)
        if message is not None and case.analyzer in message.producers:
            out.append(code)
    return out


def _runs() -> list[tuple[Case, str, str]]:
    return [(c, v, code) for c in CASES for code in _compared(c) for v in _versions(c)]


def _matches(origin: str, res: Resource) -> bool:
    """Istio's origin ``Kind name`` (no namespace in the input) or ``Kind namespace/name``."""
    kind, _, rest = origin.partition(" ")
    ns, _, name = rest.rpartition("/")
    return kind == res.kind and name == res.name and (not ns or ns == res.namespace)


@cache
def _run(files: tuple[str, ...], version: str) -> engine.RunResult:
    paths = [str(TESTDATA / f) for f in files]
    return engine.run(engine.Options(paths=paths, cache=False, istio_version=version))


def _observed(case: Case, version: str, code: str) -> list[Resource]:
    rules = set(istioctl.declared()[code])
    found = _run(case.files, version).findings
    return [
        f.resource
        for f in found
        if f.rule_id in rules and f.resource is not None and _counts_for(f, code)
    ]


@cache
def _codes_of(rule_id: str) -> tuple[str, ...]:
    return next(r.istio_analyzer for r in all_rules() if r.id == rule_id)


def _counts_for(finding: Finding, code: str) -> bool:
    """A finding of a rule that declares several codes counts for the codes its message names
    (EGL219: IST0130 for an unreachable route, IST0131 for an ineffective match), or for all
    of them when it names none."""
    named = [c for c in _codes_of(finding.rule_id) if c in finding.message]
    return not named or code in named


def _compare(case: Case, version: str, code: str) -> Difference:
    expected = {o for name, o in case.expected if _names().get(name) == code}
    observed = _observed(case, version, code)
    missing = {o for o in expected if not any(_matches(o, r) for r in observed)}
    extra = {r.ref for r in observed if not any(_matches(o, r) for o in expected)}
    return Difference(frozenset(missing), frozenset(extra))


@pytest.mark.skipif(
    not TESTDATA.is_dir(),
    reason=f"Istio's analyzer test inputs not found at {TESTDATA} (../shared beside the repo)",
)
@pytest.mark.parametrize(
    ("case", "version", "code"),
    _runs(),
    ids=[f"{c.name}-{v}-{code}" for c, v, code in _runs()],
)
def test_declared_rules_report_what_istio_expects(case: Case, version: str, code: str) -> None:
    missing = [f for f in case.files if not (TESTDATA / f).is_file()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not in the corpus copy")
    got = _compare(case, version, code)
    listed = DIFFERENCES.get((case.name, version, code), Difference())
    assert (got.missing, got.extra) == (listed.missing, listed.extra), (
        f"{case.name} ({code}, --istio-version {version}): Istio reports but egresslint does "
        f"not: {sorted(got.missing)}; egresslint reports but Istio does not: "
        f"{sorted(got.extra)}. Fix the rule, or list the difference with its reason."
    )


def test_listed_differences_name_compared_cases() -> None:
    runs = {(c.name, v, code) for c, v, code in _runs()}
    declared = istioctl.declared()
    for key, difference in DIFFERENCES.items():
        assert difference.why and (difference.missing or difference.extra), key
        if key[2] in declared:
            assert key in runs, f"{key} is no compared case"


def test_cases_are_unique_and_name_known_messages() -> None:
    keys = [(c.name, c.files) for c in CASES]
    assert len(keys) == len(set(keys))
    for case in CASES:
        for name, _ in case.expected:
            assert name in _names(), (case.name, name)
