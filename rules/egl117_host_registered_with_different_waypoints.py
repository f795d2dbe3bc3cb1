"""Several ServiceEntries register the same host with different waypoints (or one with a
waypoint and one without), so which waypoint a client's egress goes through depends on the
client's namespace and on which ServiceEntry is older.

**Why it matters.** ztunnel keeps one service per host name for a client: since Istio 1.29
istiod sends it, per host, the best ServiceEntry of each namespace and marks one of them
canonical, the oldest (a Kubernetes Service of that name always wins); a client uses the one of
its own namespace if there is one, else the canonical one (`pilot/pkg/serviceregistry/kube/
controller/ambient/services.go` `ServicesCollection`, 1.29.0-1.29.x, and `pilot/pkg/
serviceregistry/ambient/services.go`, 1.30.0-1.30.3; `pkg/workloadapi/workload.proto`
`canonical`; release notes 57782 and canonical-wds-service, 1.29). Before 1.29 istiod sends
every one of them, keyed by namespace and host (`serviceResourceName`, pilot/pkg/model/
service.go, 1.24.0-1.28.x), with nothing that says which one a client in a third namespace
gets. Each ServiceEntry carries its own waypoint, so a host registered twice with different
bindings sends some clients through one waypoint and others through another one, or around
the waypoint entirely, and creation order decides: re-applying a manifest can flip it
(istio/istio#60148, #58860, #55163).

**When it fires.** Where the view runs ambient (an ambient namespace or a waypoint), for
ServiceEntries that list the same host name (after short names are expanded) while their
effective `istio.io/use-waypoint` binding (their own label, else their namespace's; unbound
and `none` count as no waypoint) differs. The binding most of them share is taken as the
intended one (a waypoint before none, then the first in the view); each ServiceEntry with
another binding is reported once, at its first shared host. Hosts Istio's validation rejects
(EGL501) are not compared.

**How to fix.** Register each external host in one ServiceEntry, in the egress namespace, and
scope who may use it with an AuthorizationPolicy at the waypoint; or give every ServiceEntry of
the host the same waypoint.

Sources: the istio/istio files and release notes named above.
"""

from collections import Counter
from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import bypass, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.mesh.selectors import fqdn
from egresslint.model import Finding, Resource, as_list

RULE = Rule(
    id="EGL117",
    name="host-registered-with-different-waypoints",
    tag="bypass",
    level="warning",
    summary="The same host is registered by ServiceEntries with different waypoints.",
    kinds=("ServiceEntry", "Namespace"),
    security_severity="5.0",
)

Key = tuple[str, str] | None  # (namespace, name) of the waypoint, None for none


def _key(graph: MeshGraph, se: Resource) -> Key:
    b = graph.binding(se)
    return None if b is None or b.opted_out else (b.namespace, b.name)


def _phrase(key: Key) -> str:
    return "no waypoint" if key is None else f"waypoint {key[0]}/{key[1]}"


def _groups(graph: MeshGraph) -> dict[str, list[tuple[Resource, int]]]:
    """ServiceEntries (with the index of the host) per valid host name they register."""
    groups: dict[str, list[tuple[Resource, int]]] = {}
    for se in graph.of_kind("ServiceEntry"):
        for i, host in enumerate(as_list(se.spec.get("hosts"))):
            if not isinstance(host, str) or reach.host_name_problem(host) is not None:
                continue
            members = groups.setdefault(fqdn(host, se.namespace), [])
            if all(other is not se for other, _ in members):
                members.append((se, i))
    return groups


def _intended(keys: list[Key]) -> Key:
    counts = Counter(keys)
    return max(dict.fromkeys(keys), key=lambda k: (counts[k], k is not None, -keys.index(k)))


def _version_text(version: tuple[int, int, int]) -> str:
    if version >= (1, 29, 0):
        return "else the oldest ServiceEntry of the host"
    return "else one istiod does not choose (before Istio 1.29 none is canonical)"


def _finding(
    ctx: Context, host: str, se: Resource, index: int, key: Key, first: Resource, want: Key
) -> Finding:
    return RULE.at(
        se,
        ("spec", "hosts", index),
        f"{se.ref} registers {host} with {_phrase(key)}, but {first.ref} registers it with "
        f"{_phrase(want)}: a client uses the ServiceEntry of its own namespace, "
        f"{_version_text(ctx.istio_version)}, so whether its traffic to {host} goes through "
        "the egress waypoint depends on its namespace and on creation order. Register the host "
        "in one ServiceEntry, or bind every ServiceEntry of it to the same waypoint.",
        [related(first, ("spec", "hosts"), f"registers {host} with {_phrase(want)}")],
    )


def check(ctx: Context) -> Iterator[Finding]:
    graph = ctx.graph
    if not (graph.waypoints() or bypass.ambient_app_namespaces(graph)):
        return
    reported: set[Resource] = set()
    for host, members in _groups(graph).items():
        if len(members) < 2:
            continue
        keys = [_key(graph, se) for se, _ in members]
        want = _intended(keys)
        first = members[keys.index(want)][0]
        for (se, index), key in zip(members, keys, strict=True):
            if key != want and se not in reported:
                reported.add(se)
                yield _finding(ctx, host, se, index, key, first, want)
