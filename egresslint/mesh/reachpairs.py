"""Assembling the reachability model: every client with every destination, the six steps of
each path, and the verdict the steps add up to.

The verdict, from the steps' outcomes: a step that ``break``s makes the pair ``unreachable``;
otherwise a path that goes around the egress proxy (a ``bypass`` step) is ``bypass``, or
``denied`` when a later step refuses it (a NetworkPolicy on the direct path, REGISTRY_ONLY at
a sidecar); otherwise a refusal at the authorization step makes it ``denied``, and the rest is
``controlled``. Steps that only depend on the client's namespace and capture (registration,
proxy, TLS) are computed once per namespace and destination, the others once per group of
clients they cannot tell apart (``_Builder``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from . import bypass
from .graph import MeshGraph
from .reachauthz import IdentityTest, authorization, authorization_base, identity
from .reachclients import (
    ANY_NAMESPACE,
    ClientInfo,
    DestinationInfo,
    clients,
    destinations,
    entry_for,
)
from .reachnet import network, network_class, network_key
from .reachsteps import (
    Entry,
    Hop,
    capture,
    dns_capture_off,
    proxy,
    registration,
    sidecar_namespaces,
    sidecar_scope,
    tls,
)
from .reachtypes import (
    BYPASS,
    CONTROLLED,
    DENIED,
    UNREACHABLE,
    Client,
    Pair,
    Reachability,
    Step,
    Verdict,
)

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


@dataclass(frozen=True)
class _Client:
    """What the steps read of a client, worked out once: its capture step, whether its pods
    turn DNS capture off (then its registration step is its own), what the network step reads
    (``network_class``)."""

    capture: Step
    own_dns: bool
    network: object
    # the capture step only counts for the verdict when it does not pass (its text is then
    # the reason): the verdict's key for it
    head: int | None = None


@dataclass(frozen=True)
class _Front:
    """The part of a path that does not depend on who the client is within its namespace and
    capture: the ServiceEntry used, the proxy, the registration and TLS steps, and what the
    authorization and network steps depend on besides the client."""

    entry: Entry | None
    hop: Hop
    registration: Step
    tls: Step
    authorization: object
    tests: tuple[IdentityTest, ...]
    network: object
    # what the row's clients make of it: the authorization step by identity (``identity``),
    # the network step by ``network_class``, the verdict by the steps that decide it
    allowed: dict[object, Step] = field(default_factory=dict)
    nets: dict[object, Step] = field(default_factory=dict)
    verdicts: dict[tuple[int, int | None, int | None], tuple[Verdict, str]] = field(
        default_factory=dict
    )


class _Builder:
    """Pairs, each step computed once for everything it depends on: the part of a path that
    only depends on the destination, the client's namespace and capture once per destination
    and such a group (``_Front``), the authorization step once per policies and client
    identity as those policies tell clients apart, the network step once per proxy and
    client NetworkPolicies. Pairs share their steps (equal steps are one object)."""

    def __init__(self, graph: MeshGraph, version: Version) -> None:
        self.graph = graph
        self.version = version
        self.evidence = bypass.egress_evidence(graph)
        self._memo: dict[object, object] = {}
        self._clients: dict[int, _Client] = {}  # by id(ClientInfo): they live as long
        self._sidecars: dict[int, frozenset[str]] = {}  # by id(DestinationInfo)
        self._identities: dict[int, dict[tuple[str, str | None], object]] = {}  # by id(tests)

    def _once(self, key: object, make: Callable[[], T]) -> T:
        found = self._memo.get(key, _MISSING)
        if found is _MISSING:
            found = self._memo[key] = make()
        return cast(T, found)

    def _client(self, info: ClientInfo) -> _Client:
        found = self._clients.get(id(info))
        if found is None:
            own = bool(dns_capture_off(self.graph, info, self.version))
            net = network_class(self.graph, info)
            step = capture(info)
            head = id(step) if step.outcome != "pass" else None
            found = self._clients[id(info)] = _Client(step, own, net, head)
        return found

    def _scope(self, dest: DestinationInfo, namespace: str) -> str:
        """What a sidecar's steps read of its namespace (``sidecar_scope``)."""
        seen = self._sidecars.get(id(dest))
        if seen is None:
            seen = self._sidecars[id(dest)] = sidecar_namespaces(self.graph, dest)
        return sidecar_scope(seen, namespace)

    def _front(self, info: ClientInfo, dest: DestinationInfo, own: bool) -> _Front:
        graph, client, version = self.graph, info.client, self.version
        entry = entry_for(dest, client.namespace)
        spot = (id(entry[0]), entry[1]) if entry is not None else None
        host = dest.destination.host
        cap = client.capture
        # what depends on the namespace: a sidecar's routes and REGISTRY_ONLY Sidecar resources
        local = self._scope(dest, client.namespace) if cap == "sidecar" else None
        hop = self._once(
            ("hop", cap, spot, host, local),
            lambda: proxy(graph, info, dest, entry, bool(self.evidence)),
        )
        registered = self._once(
            ("registration", cap, spot, host, local, id(info) if own else None),
            lambda: registration(graph, info, dest, entry, version),
        )
        secured = self._once(
            ("tls", cap, spot, host, hop.kind, hop.ref, local),
            lambda: tls(graph, info, dest, entry, hop),
        )
        base, tests = authorization_base(graph, hop, entry, version, host)
        net = self._once(("spot", spot, hop.kind), lambda: network_key(hop, entry))
        return _Front(entry, hop, registered, secured, base, tests, (hop.kind, hop.ref, net))

    def _identity(self, tests: tuple[IdentityTest, ...], client: Client) -> object:
        """The client as the policies' identity tests tell it apart (once per tests and
        client: equal tests are one object)."""
        if not tests:
            return ()
        known = self._identities.setdefault(id(tests), {})
        key = (client.namespace, client.service_account)
        found = known.get(key, _MISSING)
        if found is _MISSING:
            found = known[key] = identity(tests, client.namespace, client.service_account)
        return found

    def _allowed(self, info: ClientInfo, dest: DestinationInfo, front: _Front) -> Step:
        who = self._identity(front.tests, info.client)
        found = front.allowed.get(who)
        if found is None:
            graph, version, hop, entry = self.graph, self.version, front.hop, front.entry
            host = dest.destination.host
            found = front.allowed[who] = self._once(
                ("authorization", front.authorization, who),
                lambda: authorization(graph, info, hop, entry, version, host),
            )
        return found

    def _network(self, info: ClientInfo, front: _Front, known: _Client) -> Step:
        found = front.nets.get(known.network)
        if found is None:
            graph, hop, entry = self.graph, front.hop, front.entry
            found = front.nets[known.network] = self._once(
                ("network", known.network, front.network),
                lambda: network(graph, info, hop, entry),
            )
        return found

    def row(self, dest: DestinationInfo, infos: Sequence[ClientInfo]) -> list[Pair | None]:
        """The pairs of one destination with these clients. What clients share is worked out
        once in the row: the front of the path per namespace group (``_Front``), the
        authorization step per identity, the network step per ``network_class``, the verdict
        per the steps that decide it; the pairs share the steps."""
        fronts: dict[tuple[object, ...], _Front] = {}
        out: list[Pair | None] = []
        target = dest.destination
        owners = {e[0].namespace for e in dest.entries}
        for info in infos:
            client = info.client
            if not _asked(info, dest):
                out.append(None)
                continue
            known = self._clients.get(id(info)) or self._client(info)
            cap, ns = client.capture, client.namespace
            where = (
                cap,
                ns if ns in owners else None,  # its own ServiceEntry (``entry_for``)
                self._scope(dest, ns) if cap == "sidecar" else None,
                id(info) if known.own_dns else None,
            )
            front = fronts.get(where)
            if front is None:
                front = fronts[where] = self._front(info, dest, known.own_dns)
            allowed = self._allowed(info, dest, front)
            net = front.nets.get(known.network) or self._network(info, front, known)
            hop = front.hop
            steps = (known.capture, front.registration, hop.step, front.tls, allowed, net)
            # a passing network step only counts through its outcome
            decides = (id(allowed), id(net) if net.outcome != "pass" else None, known.head)
            found = front.verdicts.get(decides)
            if found is None:
                found = front.verdicts[decides] = verdict(steps, hop)
            out.append(Pair(client, target, found[0], found[1], steps, hop.proxy, hop.ref))
        return out


def _asked(info: ClientInfo, dest: DestinationInfo) -> bool:
    """Every pair but the mesh-wide client's to unregistered addresses: whether those leave
    depends on client namespaces' NetworkPolicies, which such a view does not hold."""
    return dest.destination.registered or info.client.namespace != ANY_NAMESPACE


def build(graph: MeshGraph, version: Version) -> Reachability:
    builder = _Builder(graph, version)
    who = clients(graph)
    where = destinations(graph)

    def row(d: int, cs: Sequence[int]) -> list[Pair | None]:
        return builder.row(where[d], [who[c] for c in cs])

    def make(c: int, d: int) -> Pair | None:
        return row(d, [c])[0]

    return Reachability(
        tuple(c.client for c in who),
        tuple(d.destination for d in where),
        builder.evidence.reasons,
        make,
        row,
    )
