"""The data types of the reachability model (``reachability.py`` computes it): clients,
destinations, the steps of a path, pairs and their verdicts, and the source locations every
step rests on. Kept apart from the computation so that the step builders can use them without
an import cycle; ``egresslint.mesh.reachability`` re-exports every name.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..model import Path, Resource, ValuesDoc

# ---- verdicts and step kinds ---------------------------------------------------------------
Verdict = Literal["controlled", "denied", "bypass", "unreachable"]
CONTROLLED: Verdict = "controlled"
DENIED: Verdict = "denied"
BYPASS: Verdict = "bypass"
UNREACHABLE: Verdict = "unreachable"
VERDICTS: tuple[Verdict, ...] = (CONTROLLED, DENIED, BYPASS, UNREACHABLE)

StepKind = Literal["capture", "registration", "proxy", "tls", "authorization", "network"]
STEP_KINDS: tuple[StepKind, ...] = (
    "capture",
    "registration",
    "proxy",
    "tls",
    "authorization",
    "network",
)

# What a step does to the path: lets it through (``pass``), sends it around the egress proxy
# (``bypass``), refuses it by policy (``deny``: an AuthorizationPolicy, a NetworkPolicy on a
# direct path, REGISTRY_ONLY at a sidecar), or breaks it (``break``: it cannot work).
Outcome = Literal["pass", "bypass", "deny", "break"]
OUTCOMES: tuple[Outcome, ...] = ("pass", "bypass", "deny", "break")

# How a client's outbound traffic is taken in: ztunnel (ambient), its sidecar, or not at all.
Capture = Literal["ztunnel", "sidecar", "none"]
CAPTURES: tuple[Capture, ...] = ("ztunnel", "sidecar", "none")
UNREGISTERED = "*"  # Destination.host of "any unregistered external address"

# What a source is on its path, where its role text is not enough for a program: ``""`` for
# most, ``proxy-egress`` for a NetworkPolicy that isolates the egress proxy's own pods for
# egress and does not let them reach the destination (EGL301): it acts on the proxy's way
# out, where the client's policies and the proxy's ingress act on the way in.
SourceKind = Literal["", "proxy-egress"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("", "proxy-egress")


# ---- the data types --------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """A resource (or install values document) a step rests on, and where: the field ``path``
    (relative to the resource) placed at ``file``:``line`` (for a rendered resource, the line a
    person edits). ``role`` says what it does on this path ("binds the host to the waypoint",
    "allows the client", "blocks HBONE to the waypoint"), ``kind`` what it is for a program
    (``SourceKind``)."""

    ref: str  # ServiceEntry istio-egress/stripe
    file: str
    line: int
    role: str = ""
    path: Path = ()
    resource: Resource | None = field(default=None, compare=False, repr=False)
    kind: SourceKind = ""

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


_Placed = dict[tuple[Path, str, SourceKind], Source]
_PLACED: weakref.WeakKeyDictionary[Resource | ValuesDoc, _Placed] = weakref.WeakKeyDictionary()


def source(res: Resource | ValuesDoc, path: Path, role: str = "", kind: SourceKind = "") -> Source:
    """A ``Source`` for the field ``path`` of ``res``, placed where a finding on it would be
    (made once per resource, field, role and kind: placing a field walks the document)."""
    known = _PLACED.setdefault(res, {})
    found = known.get((path, role, kind))
    if found is None:
        found = known[(path, role, kind)] = _place(res, path, role, kind)
    return found


def _place(res: Resource | ValuesDoc, path: Path, role: str, kind: SourceKind) -> Source:
    if isinstance(res, ValuesDoc):
        return Source(res.ref, res.file.path, res.locate(path).line, role, path, kind=kind)
    file, span = res.place(path)
    return Source(res.ref, file.path, span.line, role, path, res, kind)


@dataclass(frozen=True)
class Client:
    """Who sends: the pods of one namespace running as one service account, or, where the view
    holds no workload of the namespace, any pod of it (``service_account`` None).

    ``capture`` is how the pods' outbound traffic is taken in: ``ztunnel`` (ambient),
    ``sidecar`` (an injected namespace) or ``none`` (outside the data plane: host network,
    opted out, a namespace not enrolled); pods of one service account that differ in capture
    are separate clients. ``workloads`` are the workload resources (Deployment, Pod...) behind
    the client (empty for a namespace client)."""

    namespace: str
    service_account: str | None
    capture: Capture
    workloads: tuple[Resource, ...] = field(default=(), compare=False, repr=False)

    @property
    def label(self) -> str:
        """``payments/checkout``, ``payments/*`` (any pod), ``payments/legacy (no capture)``."""
        base = f"{self.namespace}/{self.service_account or '*'}"
        return base if self.capture == "ztunnel" else f"{base} ({self.capture_text})"

    @property
    def capture_text(self) -> str:
        return {"ztunnel": "ambient", "sidecar": "sidecar", "none": "no capture"}[self.capture]

    def matches(self, selector: str) -> bool:
        """The ``--from`` filter: ``NS`` or ``NS/SA`` (``*`` for any namespace or account)."""
        ns, _, sa = selector.partition("/")
        if ns not in ("", "*", self.namespace):
            return False
        return sa in ("", "*") or sa == (self.service_account or "*")


@dataclass(frozen=True)
class Destination:
    """Where to: one port of a registered external host, or any unregistered external address
    (``host`` ``UNREGISTERED``, no port). ``service_entry`` is the ServiceEntry that registers
    it (the first in input order, where several do)."""

    host: str
    port: int | None
    protocol: str = ""
    service_entry: Resource | None = field(default=None, compare=False, repr=False)

    @property
    def registered(self) -> bool:
        return self.host != UNREGISTERED

    @property
    def label(self) -> str:
        """``api.stripe.com:443`` or ``any unregistered external address``."""
        if not self.registered:
            return "any unregistered external address"
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def matches(self, selector: str) -> bool:
        """The ``--to`` filter: ``HOST`` or ``HOST:PORT``; ``unregistered`` for the rest."""
        text = selector.strip().lower()
        if text in ("unregistered", UNREGISTERED):
            return not self.registered
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            host, port = text, ""
        return self.registered and host == self.host and (not port or port == str(self.port))


@dataclass(frozen=True)
class Step:
    """One hop of a path: what happens there (``summary``, a sentence), what it does to the
    traffic (``outcome``), and the sources it rests on (possibly none: "no NetworkPolicy
    selects the client" rests on nothing written). ``refused_by`` is, on a proxy step that
    goes around the proxy, the waypoint that refuses the binding (EGL103, EGL104...)."""

    kind: StepKind
    summary: str
    outcome: Outcome = "pass"
    sources: tuple[Source, ...] = ()
    refused_by: Resource | None = field(default=None, compare=False, repr=False)

    @property
    def resources(self) -> tuple[Resource, ...]:
        return tuple(s.resource for s in self.sources if s.resource is not None)

    @property
    def text(self) -> str:
        """The step without its lines: kind, outcome, summary and the resources it cites."""
        refs = ", ".join(sorted({s.ref for s in self.sources}))
        return f"{self.kind} [{self.outcome}]: {self.summary} ({refs})"


@dataclass(frozen=True)
class Pair:
    """One client and one destination: the verdict, the reason (a sentence), the steps in order
    (capture first, one of each kind), and the egress proxy on the path: ``proxy`` is the
    waypoint or egress gateway resource (None when the traffic goes direct or the proxy is
    outside the view), ``proxy_ref`` names it also when it is outside the view."""

    client: Client
    destination: Destination
    verdict: Verdict
    reason: str
    steps: tuple[Step, ...]
    proxy: Resource | None = field(default=None, compare=False, repr=False)
    proxy_ref: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.client.label, self.destination.label)

    def step(self, kind: StepKind) -> Step | None:
        return next((s for s in self.steps if s.kind == kind), None)

    @property
    def bypasses(self) -> bool:
        """The path goes around the egress proxy (whatever stops it later)."""
        return any(s.outcome == "bypass" for s in self.steps)

    def path_text(self) -> tuple[str, ...]:
        """The steps' outcomes, summaries and cited resources: two pairs with the same verdict
        and path text took the same path (what ``reach --diff`` compares: lines may move
        without changing a path)."""
        return tuple(s.text for s in self.steps)


PairMaker = Callable[[int, int], "Pair | None"]
# The pairs of one destination with some clients (by index), in the clients' order: what
# they share is worked out once for the row.
RowMaker = Callable[[int, Sequence[int]], "list[Pair | None]"]


@dataclass(frozen=True)
class Reachability:
    """The model of one view: every client, every destination, and one pair for each (but the
    view-wide client's pairs to unregistered addresses, which such a view cannot judge).

    Pairs are computed on demand and kept: ``select`` and ``pair`` compute only what they
    return (a view of 10,000 resources pairs thousands of clients with thousands of
    destinations), ``pairs`` the whole matrix. ``evidence`` names what shows that the view
    controls egress at all (empty: nothing does, and every path is direct by design)."""

    clients: tuple[Client, ...]
    destinations: tuple[Destination, ...]
    evidence: tuple[str, ...] = ()
    make: PairMaker = field(default=lambda c, d: None, compare=False, repr=False)
    row: RowMaker | None = field(default=None, compare=False, repr=False)
    _kept: dict[tuple[int, int], Pair | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def _row(self, d: int, clients: Sequence[int]) -> list[Pair | None]:
        if self.row is not None:
            return self.row(d, clients)
        return [self.make(c, d) for c in clients]

    def _at(self, c: int, d: int) -> Pair | None:
        key = (c, d)
        if key not in self._kept:
            self._kept[key] = self.make(c, d)
        return self._kept[key]

    def _fill(self, d: int, clients: Sequence[int], keep: bool) -> list[Pair | None]:
        """The row's pairs: those kept, the others computed in one go (and kept if asked)."""
        kept = self._kept
        missing = [c for c in clients if (c, d) not in kept]
        made = dict(zip(missing, self._row(d, missing), strict=True)) if missing else {}
        if keep:
            kept.update(((c, d), p) for c, p in made.items())
        return [made[c] if c in made else kept[(c, d)] for c in clients]

    def _pairs(self, clients: Iterable[int], destinations: Iterable[int]) -> list[Pair]:
        wanted = list(clients)
        return [p for d in destinations for p in self._fill(d, wanted, True) if p is not None]

    @property
    def pairs(self) -> tuple[Pair, ...]:
        """Every pair, grouped by destination (in the destinations' order)."""
        return tuple(self._pairs(range(len(self.clients)), range(len(self.destinations))))

    def pair(self, client: Client, destination: Destination) -> Pair | None:
        try:
            c, d = self.clients.index(client), self.destinations.index(destination)
        except ValueError:
            return None
        return self._at(c, d)

    def get(self, client: str, destination: str) -> Pair | None:
        """The pair by labels (``payments/checkout``, ``api.stripe.com:443``)."""
        cs = [i for i, c in enumerate(self.clients) if c.label == client]
        ds = [i for i, d in enumerate(self.destinations) if d.label == destination]
        found = self._pairs(cs, ds)
        return found[0] if found else None

    def for_client(self, client: Client) -> list[Pair]:
        return self._pairs(
            [i for i, c in enumerate(self.clients) if c == client], range(len(self.destinations))
        )

    def for_destination(self, destination: Destination) -> list[Pair]:
        ds = [i for i, d in enumerate(self.destinations) if d == destination]
        return self._pairs(range(len(self.clients)), ds)

    def with_verdict(self, *verdicts: Verdict) -> list[Pair]:
        return [p for p in self.pairs if p.verdict in verdicts]

    def _chosen(self, from_: Iterable[str], to: Iterable[str]) -> tuple[list[int], list[int]]:
        froms, tos = list(from_), list(to)
        cs = [
            i for i, c in enumerate(self.clients) if not froms or any(c.matches(f) for f in froms)
        ]
        ds = [
            i for i, d in enumerate(self.destinations) if not tos or any(d.matches(t) for t in tos)
        ]
        return cs, ds

    def extent(self, from_: Iterable[str] = (), to: Iterable[str] = ()) -> int:
        """How many pairs ``select`` computes for these filters (at most: clients times
        destinations), known before any is computed."""
        cs, ds = self._chosen(from_, to)
        return len(cs) * len(ds)

    def select(
        self,
        from_: Iterable[str] = (),
        to: Iterable[str] = (),
        verdicts: Iterable[str] = (),
    ) -> list[Pair]:
        """Pairs passing every filter given (within a filter: any of its values); only the
        pairs of the clients and destinations the filters leave are computed."""
        cs, ds = self._chosen(from_, to)
        wanted = set(verdicts)
        return [p for p in self._pairs(cs, ds) if not wanted or p.verdict in wanted]

    def stream(self, from_: Iterable[str] = (), to: Iterable[str] = ()) -> Iterator[Pair]:
        """The pairs the filters leave, one at a time and not kept (for a pass over a large
        view: nothing accumulates but what the steps share)."""
        cs, ds = self._chosen(from_, to)
        for d in ds:
            yield from (p for p in self._fill(d, cs, False) if p is not None)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)
