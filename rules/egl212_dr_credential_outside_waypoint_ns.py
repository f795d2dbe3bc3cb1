"""A DestinationRule's `credentialName` for a waypoint-bound host refers to a Secret that lives
outside the waypoint's namespace, so the waypoint cannot load it and TLS origination fails.

**Why it matters.** A `credentialName` is turned into the SDS resource `kubernetes://<name>`,
and istiod resolves a name without a namespace in the namespace of the proxy that asks for it
(`ParseResourceName` with `proxy.VerifiedIdentity.Namespace`, pilot/pkg/xds/sds.go
`parseResources` and pilot/pkg/model/credentials/resource.go). For egress through a waypoint
that proxy is the waypoint, so the Secret must be in the waypoint's namespace; a reference
that names another namespace (`kubernetes://<namespace>/<name>`) is refused ("Unverified cross
namespace. Never allowed", `filterAuthorizedResources` in pilot/pkg/xds/sds.go). Without the
client certificate (MUTUAL) or CA bundle (SIMPLE) the upstream handshake fails.

Which Secrets the waypoint asks for (pilot/pkg/security/model/authentication.go
`ApplyCustomSDSToClientCommonTLSContext`): for SIMPLE only the CA, as `<name>-cacert`, which
istiod reads from the Secret `<name>-cacert`, else from `<name>`
(`GetCaCert`, pilot/pkg/credentials/kube/secrets.go); with `insecureSkipVerify` nothing. For
MUTUAL also the client certificate and key from the Secret `<name>`. The CA is public: since
Istio 1.25.0 istiod hands a `-cacert` resource to any proxy of the same namespace, while the
client key (and, in 1.24, the CA too) goes only to a proxy whose service account may `list`
Secrets in its namespace (`isAuthorized` in `filterAuthorizedResources`, a SubjectAccessReview
in `Authorize`, pilot/pkg/credentials/kube/secrets.go; istio/istio#55329 shows the waypoint
failing with "is not authorized to read secrets"). A managed waypoint gets a ServiceAccount
(named after the Gateway, or its `gateway.istio.io/service-account` annotation) but no Role
(manifests/charts/istio-control/istio-discovery/files/waypoint.yaml). Checked at Istio 1.24.0
to 1.30.3.

**When it fires.** For a DestinationRule with `tls.mode` SIMPLE or MUTUAL and a
`credentialName` (top level or port level) that an Envoy waypoint in the repository applies to
a ServiceEntry bound to it. Only the rules the waypoint really uses count: those of its own
namespace, else of the ServiceEntry's namespace, else of `istio-system`, exported to it and
without a `workloadSelector` (pilot/pkg/model/push_context.go `destinationRule`); a rule in a
client's namespace is never read by the waypoint, whatever its Secret.

- warning, when the reference names another namespace than the waypoint's;
- warning, when a Secret (or SealedSecret / ExternalSecret producing it) the waypoint would
  read exists in the repository, but none in the waypoint's namespace (for SIMPLE
  `<name>-cacert` or `<name>`, for MUTUAL `<name>`);
- note, when the repository has no such Secret at all and the DestinationRule sits in another
  namespace than the waypoint (a hint that the Secret was created next to the rule).

**How to fix.** Create the Secret in the waypoint's namespace and refer to it by name only. For
MUTUAL, also let the waypoint's service account `list` Secrets in that namespace (a Role and
RoleBinding).

Sources: the istio/istio files named above; destination_rule.proto
(`ClientTLSSettings.credentialName`); istio/istio#55329.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Path, Resource, as_map, enumerate_maps, listed

RULE = Rule(
    id="EGL212",
    name="dr-credential-outside-waypoint-ns",
    tag="unreachable",
    level="warning",
    summary="DestinationRule credentialName Secret is not in the waypoint's namespace.",
    kinds=("DestinationRule", "Secret", "ServiceEntry", "Gateway"),
)

_SECRET_KINDS = ("Secret", "SealedSecret", "ExternalSecret")
_K8S = "kubernetes://"
_CA_SUFFIX = "-cacert"
_SA_ANNOTATION = "gateway.istio.io/service-account"


@dataclass(frozen=True)
class _Credential:
    path: Path
    name: str  # the Secret name
    namespace: str  # the namespace the reference names, "" for none
    mode: str  # SIMPLE or MUTUAL
    text: str  # as written

    def wanted(self) -> tuple[str, ...]:
        """The Secret names the waypoint reads, in istiod's order."""
        if self.mode == "MUTUAL":
            return (self.name,)
        return (self.name + _CA_SUFFIX, self.name)


def _credential(path: Path, tls: Mapping[str, Any]) -> _Credential | None:
    mode = istio.tls_mode(tls)
    text = tls.get("credentialName")
    if mode not in istio.ORIGINATING_TLS or not isinstance(text, str) or not text:
        return None
    if mode == "SIMPLE" and tls.get("insecureSkipVerify") is True:
        return None  # nothing is read (EGL502 reports the combination)
    ref, namespace = text, ""
    if text.startswith(_K8S):
        ns, _, name = text[len(_K8S) :].rpartition("/")
        ref, namespace = name, ns
    elif "://" in text:
        return None  # configmap://, builtin://...: not a Secret of the proxy's namespace
    return _Credential((*path, "credentialName"), ref, namespace, mode, text) if ref else None


def _credentials(dr: Resource) -> Iterator[_Credential]:
    policy = as_map(dr.spec.get("trafficPolicy"))
    blocks: list[tuple[Path, Any]] = [(("spec", "trafficPolicy", "tls"), policy.get("tls"))]
    for i, setting in enumerate_maps(policy.get("portLevelSettings")):
        blocks.append(
            (("spec", "trafficPolicy", "portLevelSettings", i, "tls"), setting.get("tls"))
        )
    for path, tls in blocks:
        if isinstance(tls, Mapping):
            cred = _credential(path, tls)
            if cred is not None:
                yield cred


def _secret_name(res: Resource) -> str:
    if res.kind == "ExternalSecret":
        target = as_map(res.spec.get("target")).get("name")
        if isinstance(target, str) and target:
            return target
    return res.name


def _secrets_named(graph: MeshGraph, names: tuple[str, ...]) -> list[Resource]:
    return [s for s in graph.of_kind(*_SECRET_KINDS) if _secret_name(s) in names]


def _applied(graph: MeshGraph) -> dict[Resource, list[tuple[Resource, Resource]]]:
    """Each DestinationRule an Envoy waypoint of the repository applies to a ServiceEntry bound
    to it, with one such (ServiceEntry, waypoint) per waypoint."""
    out: dict[Resource, dict[Resource, Resource]] = {}
    for se in graph.of_kind("ServiceEntry"):
        gw = graph.waypoint_of(se)
        if gw is None or not reach.is_envoy_waypoint(graph, gw):
            continue
        for host in graph.se_hosts(se):
            for dr in graph.waypoint_destination_rules(se, host, gw.namespace):
                out.setdefault(dr, {}).setdefault(gw, se)
    return {dr: [(se, gw) for gw, se in by_gw.items()] for dr, by_gw in out.items()}


def _service_account(gw: Resource) -> str:
    return gw.annotations.get(_SA_ANNOTATION) or gw.name


def _rbac(cred: _Credential, gw: Resource, version: tuple[int, int, int]) -> str:
    if cred.mode != "MUTUAL" and version >= (1, 25, 0):
        return ""
    what = "client key" if cred.mode == "MUTUAL" else "CA (before Istio 1.25)"
    return (
        f" The waypoint's service account '{_service_account(gw)}' must also be allowed to list "
        f"Secrets in {gw.namespace}: istiod hands the {what} only to such a proxy, and a managed "
        "waypoint gets no Role for it (add a Role and RoleBinding)."
    )


def _create(cred: _Credential) -> str:
    if cred.mode == "MUTUAL":
        return f"'{cred.name}'"
    return f"'{cred.name}{_CA_SUFFIX}' (or '{cred.name}') with the CA"


def _problem(graph: MeshGraph, dr: Resource, cred: _Credential, gw: Resource) -> tuple[str, bool]:
    """What is wrong (empty: nothing) and whether it is sure (warning) or a hint (note)."""
    reads = f"but the waypoint reads it from its own namespace {gw.namespace}"
    if cred.namespace and cred.namespace != gw.namespace:
        return (
            f"it names namespace {cred.namespace}, but istiod gives a waypoint only Secrets of "
            f"its own namespace {gw.namespace}",
            True,
        )
    secrets = _secrets_named(graph, cred.wanted())
    if any(s.namespace == gw.namespace for s in secrets):
        return "", False
    if secrets:
        names = "' or '".join(sorted({_secret_name(s) for s in secrets}))
        where = listed(sorted({s.namespace for s in secrets}))
        return f"the Secret '{names}' exists only in namespace {where}, {reads}", True
    if dr.namespace != gw.namespace:
        wanted = "' or '".join(cred.wanted())
        return (
            f"no Secret '{wanted}' is in the repository and the rule sits in "
            f"{dr.namespace}, {reads}"
        ), False
    return "", False


def _finding(
    ctx: Context, dr: Resource, cred: _Credential, se: Resource, gw: Resource
) -> Finding | None:
    msg, sure = _problem(ctx.graph, dr, cred, gw)
    if not msg:
        return None
    rel = [related(gw, ("metadata",), "the waypoint that originates TLS")]
    rel.append(related(se, ("metadata", "labels"), "bound to that waypoint"))
    rel += [
        related(s, ("metadata",), "the Secret, in another namespace")
        for s in _secrets_named(ctx.graph, cred.wanted())
        if s.namespace != gw.namespace
    ]
    rename = f" and set credentialName: {cred.name}" if cred.namespace else ""
    finding = RULE.at(
        dr,
        cred.path,
        f"{dr.ref} originates TLS ({cred.mode}) with credentialName '{cred.text}' for {se.ref}, "
        f"which egresses through waypoint {gw.ref}: {msg}. Create the Secret {_create(cred)} in "
        f"namespace {gw.namespace}{rename}.{_rbac(cred, gw, ctx.istio_version)}",
        rel,
    )
    if not sure:
        finding.level = "note"
    return finding


def check(ctx: Context) -> Iterator[Finding]:
    for dr, users in _applied(ctx.graph).items():
        for cred in _credentials(dr):
            # one finding per field: the first waypoint that cannot load the Secret
            hit = next(
                (f for se, gw in users if (f := _finding(ctx, dr, cred, se, gw)) is not None),
                None,
            )
            if hit is not None:
                yield hit
