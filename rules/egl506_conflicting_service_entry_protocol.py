"""Several ServiceEntries declare the same host and port with different protocols; Istio keeps
only one of them, so the other declaration silently does nothing.

**Why it matters.** A proxy holds one service per host name. When several ServiceEntries
register the same host, istiod keeps the oldest one and merges in only the ports it lacks: a
port number both declare keeps the oldest ServiceEntry's protocol (`appendSidecarServices`
in `pilot/pkg/model/sidecar.go`, services sorted by creation time in `initServiceRegistry`,
`pilot/pkg/model/push_context.go`, Istio 1.24.0 to 1.30.3). Which ServiceEntry is older is not
written in any manifest, so whether the port is treated as HTTP (L7 policy, TLS origination
on an HTTP port) or as opaque TCP/TLS depends on the order the objects were created. An
`HTTP` declaration that loses makes an HTTP AuthorizationPolicy fail closed on TCP; a `TLS`
declaration that loses turns SNI routing into plain HTTP sniffing.

**When it fires.** For every ServiceEntry port whose protocol (unset counts as its own value,
protocol sniffing) differs from the one declared for the same host and port number by the
first ServiceEntry in the view, when the two are visible together as `istioctl analyze`
reads `exportTo` (both exported to all namespaces, to the same namespace, or one of them to
all). One finding per port, at its `protocol`, with the first declaration as related.
Level warning, as IST0177 (`ConflictingServiceEntryProtocol`), which `istioctl analyze`
reports from Istio 1.31 (`pkg/config/analysis/analyzers/serviceentry/
conflictingserviceentries.go`, 1.31.0-rc.0; release note 60447).

**How to fix.** Declare the same protocol for the port in every ServiceEntry of the host, or
register the host in one ServiceEntry only.

Sources: the istio/istio files named above; istioctl analyze IST0177
(`pkg/config/analysis/msg/messages.yaml`, 1.31.0-rc.0).
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.mesh import istio
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Path, Resource, as_list

RULE = Rule(
    id="EGL506",
    name="conflicting-service-entry-protocol",
    tag="invalid",
    level="warning",
    summary="ServiceEntries declare the same host and port with different protocols.",
    kinds=("ServiceEntry",),
    istio_analyzer=("IST0177",),
)

_ALL = "*"


@dataclass(frozen=True)
class _Port:
    order: int  # the ServiceEntry's position in the view
    se: Resource
    index: int
    port: Mapping[str, Any]

    @property
    def protocol(self) -> str:
        return istio.protocol(self.port)

    @property
    def shown(self) -> str:
        return self.protocol or "unset"


def _scopes(se: Resource) -> set[str]:
    """The namespaces a ServiceEntry is exported to, as istioctl analyze reads ``exportTo``."""
    export = [e for e in as_list(se.spec.get("exportTo")) if isinstance(e, str)]
    if not export or _ALL in export:
        return {_ALL}
    return {se.namespace if e == "." else e for e in export}


def _index(graph: MeshGraph) -> dict[tuple[str, str, int], list[_Port]]:
    index: dict[tuple[str, str, int], list[_Port]] = {}
    for order, se in enumerate(graph.of_kind("ServiceEntry")):
        for i, port in graph.ports(se):
            number = istio.port_number(port)
            if number is None:
                continue
            for scope in _scopes(se):
                for host in dict.fromkeys(graph.se_hosts(se)):
                    index.setdefault((scope, host, number), []).append(_Port(order, se, i, port))
    return index


def _conflicts(graph: MeshGraph) -> Iterator[tuple[str, int, list[_Port]]]:
    index = _index(graph)
    for (scope, host, number), entries in index.items():
        if scope != _ALL:
            entries = entries + index.get((_ALL, host, number), [])
        if len({e.protocol for e in entries}) > 1:
            yield host, number, sorted(entries, key=lambda e: (e.order, e.index))


def _finding(host: str, number: int, first: _Port, other: _Port) -> Finding:
    path: Path = ("spec", "ports", other.index)
    if "protocol" in other.port:
        path = (*path, "protocol")
    return RULE.at(
        other.se,
        path,
        f"{other.se.ref} declares port {number} of {host} as {other.shown}, but {first.se.ref} "
        f"declares it as {first.shown}: Istio keeps one service per host, and the port keeps "
        "the protocol of the oldest ServiceEntry, so which one applies depends on creation "
        "order. Declare the same protocol in both, or register the host once.",
        [related(first.se, ("spec", "ports", first.index), f"declares port {number} first")],
    )


def check(ctx: Context) -> Iterator[Finding]:
    reported: set[tuple[int, int]] = set()
    for host, number, entries in _conflicts(ctx.graph):
        first = entries[0]
        for other in entries[1:]:
            key = (other.order, other.index)
            if other.protocol == first.protocol or other.se is first.se or key in reported:
                continue
            reported.add(key)
            yield _finding(host, number, first, other)
