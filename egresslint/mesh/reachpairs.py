"""Assembling the reachability model: every client with every destination, the six steps of
each path, and the verdict the steps add up to.

The verdict, from the steps' outcomes: a step that ``break``s makes the pair ``unreachable``;
otherwise a path that goes around the egress proxy (a ``bypass`` step) is ``bypass``, or
``denied`` when a later step refuses it (a NetworkPolicy on the direct path, REGISTRY_ONLY at
a sidecar); otherwise a refusal at the authorization step makes it ``denied``, and the rest is
``controlled``. Steps that only depend on the client's namespace (registration, proxy, TLS)
are computed once per namespace and destination.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from . import bypass
from .graph import MeshGraph
from .reachauthz import authorization, authorization_key
from .reachclients import (
    ANY_NAMESPACE,
    ClientInfo,
    DestinationInfo,
    clients,
    destinations,
    entry_for,
)
from .reachnet import network, network_key
from .reachsteps import Hop, capture, dns_capture_off, proxy, registration, tls
from .reachtypes import BYPASS, CONTROLLED, DENIED, UNREACHABLE, Pair, Reachability, Step, Verdict

Version = tuple[int, int, int]
T = TypeVar("T")
_MISSING = object()


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def verdict(steps: tuple[Step, ...], hop: Hop) -> tuple[Verdict, str]:
    """The verdict the steps add up to, and the reason in one sentence."""
    broken = [s for s in steps if s.outcome == "break"]
    if broken:
        return UNREACHABLE, _sentence("; ".join(s.summary for s in broken))
    around = [s for s in steps if s.outcome == "bypass"]
    denied = [s for s in steps if s.outcome == "deny"]
    if around:
        first = around[0]  # the earliest: what sends the traffic around the proxy
        if denied:
            return DENIED, _sentence(f"{first.summary}; {denied[0].summary}")
        return BYPASS, _sentence(first.summary)
    if denied:
        return DENIED, _sentence(denied[0].summary)
    by_kind = {s.kind: s.summary for s in steps}
    return CONTROLLED, _sentence(
        f"through {hop.ref}; TLS: {by_kind['tls']}; {by_kind['authorization']}"
    )


class _Builder:
    def __init__(self, graph: MeshGraph, version: Version) -> None:
        self.graph = graph
        self.version = version
        self.evidence = bypass.egress_evidence(graph)
        self._memo: dict[object, object] = {}

    def _once(self, key: object, make: Callable[[], T]) -> T:
        found = self._memo.get(key, _MISSING)
        if found is _MISSING:
            found = self._memo[key] = make()
        return cast(T, found)

    def pair(self, info: ClientInfo, dest: DestinationInfo) -> Pair:
        """The pair's steps, each computed once for everything it depends on."""
        graph, client, version = self.graph, info.client, self.version
        who = id(info)  # the builder's ClientInfo objects live as long as it
        entry = entry_for(dest, client.namespace)
        spot = (id(entry[0]), entry[1]) if entry is not None else None
        host = dest.destination.host
        cap = client.capture
        # what depends on the namespace: a sidecar's routes and REGISTRY_ONLY Sidecar resources
        local = client.namespace if cap == "sidecar" else None
        hop = self._once(
            ("hop", cap, spot, host, local),
            lambda: proxy(graph, info, dest, entry, bool(self.evidence)),
        )
        own = self._once(("dns", who), lambda: bool(dns_capture_off(graph, info, version)))
        steps = (
            self._once(("capture", who), lambda: capture(info)),
            self._once(
                ("registration", cap, spot, host, local, who if own else None),
                lambda: registration(graph, info, dest, entry, version),
            ),
            hop.step,
            self._once(
                ("tls", cap, spot, host, hop.kind, hop.ref, local),
                lambda: tls(graph, info, dest, entry, hop),
            ),
            self._once(
                ("authorization", authorization_key(graph, info, hop, entry, version, host)),
                lambda: authorization(graph, info, hop, entry, version, host),
            ),
            self._once(
                (
                    "network",
                    who,
                    hop.kind,
                    hop.ref,
                    self._once(("spot", spot, hop.kind), lambda: network_key(hop, entry)),
                ),
                lambda: network(graph, info, hop, entry),
            ),
        )
        # memoized steps: equal ones are the same objects; the capture step only counts for
        # the verdict through its outcome (pairs of many clients share the rest)
        head = steps[0] if steps[0].outcome != "pass" else "pass"
        key = ("verdict", hop.ref, id(head), *map(id, steps[1:]))
        found, reason = self._once(key, lambda: verdict(steps, hop))
        return Pair(client, dest.destination, found, reason, steps, hop.proxy, hop.ref)


def _asked(info: ClientInfo, dest: DestinationInfo) -> bool:
    """Every pair but the mesh-wide client's to unregistered addresses: whether those leave
    depends on client namespaces' NetworkPolicies, which such a view does not hold."""
    return dest.destination.registered or info.client.namespace != ANY_NAMESPACE


def build(graph: MeshGraph, version: Version) -> Reachability:
    builder = _Builder(graph, version)
    who = clients(graph)
    where = destinations(graph)

    def make(c: int, d: int) -> Pair | None:
        info, dest = who[c], where[d]
        return builder.pair(info, dest) if _asked(info, dest) else None

    return Reachability(
        tuple(c.client for c in who),
        tuple(d.destination for d in where),
        builder.evidence.reasons,
        make,
    )
