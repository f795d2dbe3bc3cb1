"""A DestinationRule `tls` block combines fields that Istio's validation rejects.

**Why it matters.** istiod's webhook (`ValidateTLS`) refuses these DestinationRules, so the TLS
origination you reviewed is never configured and the waypoint sends plain text (or nothing).

**What is checked**, in every `tls` block (top level, port level, subsets):
- `insecureSkipVerify: true` with `caCertificates`, `subjectAltNames` or (SIMPLE)
  `credentialName`: verification is off and on at once;
- `credentialName` together with file-based `clientCertificate`, `privateKey`,
  `caCertificates` or `caCrl`;
- `mode: MUTUAL` without `credentialName` and without both `clientCertificate` and
  `privateKey`.

Missing `caCertificates` is **not** reported: since Istio 1.21 the client verifies against the
OS trust store by default.

**How to fix.** Keep one source of certificates (`credentialName` *or* files), remove
`insecureSkipVerify` when you verify, and give MUTUAL a client certificate.

Sources: `istio/istio` `pkg/config/validation/agent/validation.go` (`ValidateTLS`);
`destination_rule.proto` (`ClientTLSSettings`).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import istio, modes
from egresslint.model import Finding

RULE = Rule(
    id="EGL502",
    name="destination-rule-tls-conflicts",
    tag="invalid",
    level="error",
    summary="DestinationRule tls block with conflicting fields that Istio's validation rejects.",
    kinds=("DestinationRule",),
    precision="very-high",
    istio_analyzer=("IST0106",),
)

_FILES = ("clientCertificate", "privateKey", "caCertificates", "caCrl")


def _problems(tls: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    mode = istio.tls_mode(tls)
    if tls.get("insecureSkipVerify") is True:
        verify = ["caCertificates", "subjectAltNames"]
        if mode == "SIMPLE":
            verify.append("credentialName")
        for key in verify:
            if tls.get(key):
                yield key, f"insecureSkipVerify: true cannot be combined with {key}"
    if tls.get("credentialName"):
        for key in _FILES:
            if tls.get(key):
                yield key, f"credentialName cannot be combined with {key}; use one source"
    elif mode == "MUTUAL" and not (tls.get("clientCertificate") and tls.get("privateKey")):
        yield "mode", "MUTUAL needs credentialName, or clientCertificate and privateKey"


def check(ctx: Context) -> Iterator[Finding]:
    for dr in ctx.graph.of_kind("DestinationRule"):
        for tls, path in modes.tls_blocks(dr):
            for key, message in _problems(tls):
                yield RULE.at(
                    dr, (*path, key), f"{dr.ref}: {message} (at {'.'.join(map(str, path))})."
                )
