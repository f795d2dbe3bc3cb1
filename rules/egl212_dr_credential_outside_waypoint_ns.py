"""A DestinationRule's `credentialName` for a waypoint-bound host refers to a Secret that lives
outside the waypoint's namespace, so the waypoint cannot load it and TLS origination fails.

**Why it matters.** `credentialName` secrets are read by the proxy that originates TLS, from
its own namespace ("the secret must exist in the namespace of the proxy using the
certificates"). For egress through a waypoint that proxy is the waypoint, so the Secret must be
in the waypoint's namespace; istio/istio#55329 shows the waypoint failing with "is not
authorized to read secrets" otherwise. Without the client certificate (MUTUAL) or CA bundle
(SIMPLE) the upstream handshake fails.

**When it fires.** For a DestinationRule with `tls.mode` SIMPLE or MUTUAL and a
`credentialName` (top level or port level) whose host is a ServiceEntry bound to an Envoy
waypoint in the repository:

- warning, when a Secret (or SealedSecret / ExternalSecret producing it) of that name exists
  in the repository, but none in the waypoint's namespace;
- note, when the repository has no such Secret at all and the DestinationRule sits in another
  namespace than the waypoint (a hint that the Secret was created next to the rule).

**How to fix.** Create the Secret in the waypoint's namespace (and keep the waypoint's
service account allowed to read it).

Sources: destination_rule.proto (`ClientTLSSettings.credentialName`); istio/istio#55329.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Path, Resource, as_map, enumerate_maps

RULE = Rule(
    id="EGL212",
    name="dr-credential-outside-waypoint-ns",
    tag="unreachable",
    level="warning",
    summary="DestinationRule credentialName Secret is not in the waypoint's namespace.",
    kinds=("DestinationRule", "Secret", "ServiceEntry", "Gateway"),
)

_SECRET_KINDS = ("Secret", "SealedSecret", "ExternalSecret")


def _credentials(dr: Resource) -> Iterator[tuple[Path, str]]:
    policy = as_map(dr.spec.get("trafficPolicy"))
    blocks: list[tuple[Path, Any]] = [(("spec", "trafficPolicy", "tls"), policy.get("tls"))]
    for i, setting in enumerate_maps(policy.get("portLevelSettings")):
        blocks.append(
            (("spec", "trafficPolicy", "portLevelSettings", i, "tls"), setting.get("tls"))
        )
    for path, tls in blocks:
        if not isinstance(tls, Mapping) or istio.tls_mode(tls) not in istio.ORIGINATING_TLS:
            continue
        name = tls.get("credentialName")
        if isinstance(name, str) and name and "://" not in name:
            yield (*path, "credentialName"), name


def _secret_name(res: Resource) -> str:
    if res.kind == "ExternalSecret":
        target = as_map(res.spec.get("target")).get("name")
        if isinstance(target, str) and target:
            return target
    return res.name


def _secrets_named(graph: MeshGraph, name: str) -> list[Resource]:
    return [s for s in graph.of_kind(*_SECRET_KINDS) if _secret_name(s) == name]


def _waypoints(graph: MeshGraph, dr: Resource) -> list[tuple[Resource, Resource]]:
    out = []
    for se in graph.service_entries_for(dr):
        gw = graph.waypoint_of(se)
        if gw is not None and reach.is_envoy_waypoint(graph, gw):
            out.append((se, gw))
    return out


def _finding(
    dr: Resource, path: Path, name: str, se: Resource, gw: Resource, secrets: list[Resource]
) -> Finding | None:
    if any(s.namespace == gw.namespace for s in secrets):
        return None
    rel = [related(gw, ("metadata",), "the waypoint that originates TLS")]
    rel.append(related(se, ("metadata", "labels"), "bound to that waypoint"))
    if secrets:
        where = ", ".join(sorted({s.namespace for s in secrets}))
        rel += [related(s, ("metadata",), "the Secret, in another namespace") for s in secrets]
        msg = f"the Secret '{name}' exists only in namespace {where}"
    elif dr.namespace != gw.namespace:
        msg = f"no Secret '{name}' is in the repository and the rule sits in {dr.namespace}"
    else:
        return None
    finding = RULE.at(
        dr,
        path,
        f"{dr.ref} originates TLS with credentialName '{name}' for {se.ref}, which egresses "
        f"through waypoint {gw.ref}: {msg}, but the waypoint reads it from its own namespace "
        f"{gw.namespace}. Create the Secret in namespace {gw.namespace}.",
        rel,
    )
    if not secrets:
        finding.level = "note"
    return finding


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    for dr in graph.of_kind("DestinationRule"):
        creds = list(_credentials(dr))
        if not creds:
            continue
        for se, gw in _waypoints(graph, dr):
            for path, name in creds:
                hit = _finding(dr, path, name, se, gw, _secrets_named(graph, name))
                if hit is not None:
                    yield hit
            break
