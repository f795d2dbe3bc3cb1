"""ServiceEntry registration and validation checks (EGL117, EGL118, EGL203, EGL216, EGL218,
EGL411, EGL501, EGL506) and the oldest --istio-version egresslint accepts: what fixtures cannot
mark (levels by version and by what the view holds, metadata, usage errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import config, engine
from egresslint.lint.registry import find
from egresslint.lint.rule import Context
from egresslint.mesh import reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, SourceFile
from egresslint.parse import loader


def _findings(rule_id: str, text: str, version: tuple[int, int, int] = (1, 30, 0)) -> list[Finding]:
    parsed = loader.parse_text(text, SourceFile("t.yaml"))
    graph = MeshGraph(parsed.resources, values=parsed.values)
    rule = find(rule_id)
    assert rule is not None and rule.check is not None
    found = list(rule.check(Context(graph, version)))
    for f in found:
        f.level = f.level or rule.level  # the engine's default: the rule's level
    return found


# ---- metadata -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule_id", "tag", "level", "analyzer"),
    [
        ("EGL117", "bypass", "warning", ()),
        ("EGL118", "waypoint-restricted", "note", ()),
        ("EGL203", "unreachable", "warning", ("IST0174",)),
        ("EGL216", "unreachable", "warning", ()),
        ("EGL218", "unreachable", "warning", ()),
        ("EGL506", "invalid", "warning", ("IST0177",)),
    ],
)
def test_metadata(rule_id: str, tag: str, level: str, analyzer: tuple[str, ...]) -> None:
    rule = find(rule_id)
    assert rule is not None and rule.check is not None
    assert (rule.tag, rule.level, rule.istio_analyzer) == (tag, level, analyzer)
    assert "Source" in rule.help


# ---- host names as Istio's validation reads them ------------------------------------------
@pytest.mark.parametrize(
    "host",
    ["api.example.com", "*.example.com", "*foo.example.com", "istio.io.", "API.Example.COM", "x"],
)
def test_valid_host_names(host: str) -> None:
    assert reach.host_name_problem(host) is None


@pytest.mark.parametrize(
    "host",
    ["<PG1_IP>.nip.io", "10.0.0.1", "a_b.example.com", "foo.*.com", "", "a." * 128 + "com"],
)
def test_invalid_host_names(host: str) -> None:
    assert reach.host_name_problem(host) is not None


def test_port_names() -> None:
    assert reach.is_dns_label("https-443") and reach.is_dns_label("HTTPS")
    assert not any(reach.is_dns_label(n) for n in ("", "tls_", "-tls", "a" * 64, "tls\n"))


# ---- EGL117: the message follows the release that picks the canonical ServiceEntry --------
TWO_BINDINGS = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: egress}
spec: {gatewayClassName: istio-waypoint}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a, namespace: egress, labels: {istio.io/use-waypoint: waypoint}}
spec: {hosts: [api.example.com], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b, namespace: team}
spec: {hosts: [api.example.com], resolution: DNS}
"""


def test_egl117_names_the_oldest_rule_from_1_29() -> None:
    (new,) = _findings("EGL117", TWO_BINDINGS, (1, 29, 0))
    (old,) = _findings("EGL117", TWO_BINDINGS, (1, 28, 2))
    assert new.resource is not None and new.resource.name == "b"
    assert "oldest ServiceEntry" in new.message and "oldest" not in old.message


def test_egl117_needs_ambient() -> None:
    text = TWO_BINDINGS.split("---\n", 1)[1].replace("istio.io/use-waypoint: waypoint", "x: y")
    assert _findings("EGL117", text.replace("resolution: DNS", "resolution: STATIC")) == []


# ---- EGL218: where the flag is read, and how sure the finding is --------------------------
WILDCARD_TLS = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: egress}
spec: {gatewayClassName: istio-waypoint}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild, namespace: egress, labels: {istio.io/use-waypoint: waypoint}}
spec:
  hosts: ["*.example.com"]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DYNAMIC_DNS
"""

OPERATOR = """\
---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: cp, namespace: istio-system}
spec:
  components:
    pilot:
      k8s:
        env:
        - {name: ENABLE_WILDCARD_HOST_SERVICE_ENTRIES_FOR_TLS, value: "%s"}
"""

ISTIOD = """\
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istiod, namespace: istio-system}
spec:
  template:
    spec:
      containers:
      - name: discovery
        env: [{name: ENABLE_WILDCARD_HOST_SERVICE_ENTRIES_FOR_TLS, value: "%s"}]
"""


def test_egl218_levels_and_settings() -> None:
    (unknown,) = _findings("EGL218", WILDCARD_TLS)
    assert unknown.level == "note"
    (off,) = _findings("EGL218", WILDCARD_TLS + OPERATOR % "false")
    assert off.level == "warning" and "IstioOperator istio-system/cp" in off.message
    (zero,) = _findings("EGL218", WILDCARD_TLS + ISTIOD % "0")
    assert zero.level == "warning" and "Deployment istio-system/istiod" in zero.message
    assert _findings("EGL218", WILDCARD_TLS + OPERATOR % "true") == []
    assert _findings("EGL218", WILDCARD_TLS + ISTIOD % "1") == []
    values = "---\npilot:\n  env:\n    ENABLE_WILDCARD_HOST_SERVICE_ENTRIES_FOR_TLS: true\n"
    assert _findings("EGL218", WILDCARD_TLS + values) == []
    assert _findings("EGL218", WILDCARD_TLS, (1, 28, 0)) == []  # EGL501's: TLS is rejected


# ---- EGL216: a note where a sidecar could read the rule -----------------------------------
CLIENT_RULE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: egress}
spec: {gatewayClassName: istio-waypoint}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bank, namespace: egress, labels: {istio.io/use-waypoint: waypoint}}
spec:
  hosts: [api.bank.example]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bank, namespace: payments}
spec:
  host: api.bank.example
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 5}}}
---
apiVersion: v1
kind: Namespace
metadata: {name: payments, labels: {istio.io/dataplane-mode: ambient}}
"""


def test_egl216_levels() -> None:
    (sure,) = _findings("EGL216", CLIENT_RULE)
    assert sure.level == "warning" and "Move the rule into namespace egress" in sure.message
    sidecars = CLIENT_RULE + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n"
    sidecars += "  name: legacy\n  labels: {istio-injection: enabled}\n"
    (hint,) = _findings("EGL216", sidecars)
    assert hint.level == "note"
    unknown = CLIENT_RULE.rsplit("---\n", 1)[0]  # the rule's namespace is not in the view
    assert [f.level for f in _findings("EGL216", unknown)] == ["note"]


# ---- EGL506: exportTo as istioctl analyze reads it ----------------------------------------
def _two(export_a: str, export_b: str) -> str:
    out = []
    for name, export, proto in (("a", export_a, "TCP"), ("b", export_b, "MONGO")):
        out.append(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
            f"metadata: {{name: {name}, namespace: ns-{name}}}\n"
            f"spec: {{hosts: [db.example.com], exportTo: {export},"
            f" ports: [{{number: 27017, name: db, protocol: {proto}}}]}}\n"
        )
    return "---\n".join(out)


@pytest.mark.parametrize(
    ("export_a", "export_b", "count"),
    [("['*']", "['.']", 1), ("[]", "[ns-a]", 1), ("['.']", "['.']", 0), ("[x]", "[x]", 1)],
)
def test_egl506_visibility(export_a: str, export_b: str, count: int) -> None:
    assert len(_findings("EGL506", _two(export_a, export_b))) == count


# ---- the oldest --istio-version: ambient's first release ----------------------------------
@pytest.mark.parametrize("text", ["1.3", "1.17", "1.17.8", "0.8"])
def test_versions_before_ambient_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="predates ambient"):
        engine.parse_version(text)


@pytest.mark.parametrize(("text", "version"), [("1.18", (1, 18, 0)), ("v1.24.3", (1, 24, 3))])
def test_ambient_versions_parse(text: str, version: tuple[int, int, int]) -> None:
    assert engine.parse_version(text) == version


def test_old_version_is_a_usage_error_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "se.yaml").write_text(TWO_BINDINGS)
    result = CliRunner().invoke(cli, ["check", "--istio-version", "1.3", str(tmp_path)])
    assert result.exit_code == 2
    assert "predates ambient" in result.stderr and "EGL" not in result.stdout


def test_old_version_is_a_usage_error_in_the_configuration_file(tmp_path: Path) -> None:
    (tmp_path / ".egresslint.yaml").write_text("istio-version: 1.3\n")
    (tmp_path / "se.yaml").write_text(TWO_BINDINGS)
    with pytest.raises(config.ConfigError, match="istio-version.*predates ambient"):
        config.resolve({}, cwd=str(tmp_path))
    result = CliRunner().invoke(cli, ["check", "--config", str(tmp_path / ".egresslint.yaml")])
    assert result.exit_code == 2 and "predates ambient" in result.stderr


# ---- EGL411: a gate inside the target's own minor line is a note --------------------------
TRUST_DOMAINS = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: partner, namespace: egress}
spec:
  rules:
  - from: [{source: {trustDomains: [partner.example]}}]
"""


@pytest.mark.parametrize(
    ("version", "levels"),
    [((1, 29, 6), ["warning"]), ((1, 30, 0), ["note"]), ((1, 30, 2), [])],
)
def test_egl411_trust_domains(version: tuple[int, int, int], levels: list[str]) -> None:
    assert [f.level for f in _findings("EGL411", TRUST_DOMAINS, version)] == levels
