"""The drawing model: the reachability model (``mesh/reachability.py``) as nodes and edges.

Every pair of the model is a path ``client -> proxy -> destination``:

* clients are a namespace's pods by service account (grouped by namespace);
* the proxy is the waypoint or egress gateway the traffic goes through (one outside the view
  is drawn by name), or the one "no egress proxy" node every direct path passes;
* destinations are registered hosts and ports (grouped by the namespace of the ServiceEntry
  that registers them) and "any unregistered external address".

The pairs that take the same segment (client to proxy, proxy to destination) with the same
verdict make one edge: its verdict, how many pairs, the reasons, and the resources that decide
it (cited where they act: what the client side does on the way in, what the proxy does on
the way out). A binding a waypoint refuses is drawn as a ``refused`` edge from that waypoint
to the destination it would have served, beside the direct path the traffic really takes.
Only what the model cites is drawn, so kinds that have nothing to do with egress (webhooks,
Nodes, GatewayClasses) never appear as policies.

The renderers (:mod:`.dot`, :mod:`.mermaid`, :mod:`.html`) only format this model.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ...lint.engine import RunResult
from ...lint.rule import LEVEL_RANK
from ...mesh import reachability
from ...mesh.graph import MeshGraph
from ...mesh.reachability import VERDICTS, Client, Destination, Pair, Source, SourceKind, Step
from ...model import Resource

REFUSED = "refused"  # the class of a refused binding's edge (not a verdict of a pair)
EDGE_CLASSES = (*VERDICTS, REFUSED)
DIRECT = "direct"  # the id of the "no egress proxy" node
MAX_REASONS = 3  # distinct reasons kept per edge
# Step kinds whose resources act before the proxy (on the edge into it); tls and
# authorization act at the proxy (on the edge out of it); network depends on the policy.
IN_STEPS = frozenset({"capture", "registration", "proxy"})
# The kinds of network step sources that act on the way out of the proxy: a policy that
# isolates the proxy's own pods for egress (EGL301); the client's policies and the proxy's
# ingress act on the way in (``mesh/reachnet.py``).
OUT_NETWORK_KINDS: frozenset[SourceKind] = frozenset({"proxy-egress"})
# The step outcome that makes each verdict: its resources come first on an edge.
DECIDES = {"controlled": "pass", "denied": "deny", "bypass": "bypass", "unreachable": "break"}


@dataclass
class Node:
    id: str
    kind: str  # client, proxy, destination
    label: str  # client: account ('*': any pod); proxy: ref; destination: host:port
    group: str = ""  # client: namespace; destination: ServiceEntry namespace ('' unregistered)
    detail: str = ""  # client: capture; proxy: waypoint (class ...); destination: protocol
    findings: list[str] = field(default_factory=list)  # "EGL101 warning", sorted
    pairs: Counter[str] = field(default_factory=Counter)  # verdict -> pairs through the node

    @property
    def text(self) -> str:
        """The node's text in a drawing (``assets/graph.js`` writes the same)."""
        if self.kind == "client":
            return f"{'* (any pod)' if self.label == '*' else self.label}\n{self.detail}"
        if self.kind == "proxy":
            return f"{self.detail}\n{self.label}"
        return f"{self.label}\n{self.detail}" if self.detail else self.label


@dataclass(frozen=True)
class Cited:
    """A resource an edge rests on: its ref, where (the field's file and line), what it does
    there, and the findings on it (``EGL301 error``)."""

    ref: str
    file: str
    line: int
    role: str
    findings: tuple[str, ...] = ()


@dataclass
class Edge:
    source: str
    target: str
    verdict: str  # one of EDGE_CLASSES
    segment: str  # in (client -> proxy), out (proxy -> destination), refused (proxy -> dest.)
    count: int = 0
    cited: dict[int, None] = field(default_factory=dict)  # Topology.cited indexes, in order
    reasons: list[str] = field(default_factory=list)

    # the shared tuples of indexes already added (``add_shared``), by id: their owner keeps
    # them alive
    _added: set[int] = field(default_factory=set, compare=False, repr=False)

    def add(self, cited: Iterable[int], reason: str) -> None:
        self.count += 1
        for index in cited:
            self.cited.setdefault(index)
        if len(self.reasons) < MAX_REASONS and reason not in self.reasons:
            self.reasons.append(reason)

    def add_shared(self, cited: tuple[int, ...], reason: str) -> None:
        """``add`` for a tuple that lives as long as the edge (the builder's): its indexes
        are added once."""
        if id(cited) in self._added:
            self.count += 1
            if len(self.reasons) < MAX_REASONS and reason not in self.reasons:
                self.reasons.append(reason)
            return
        self._added.add(id(cited))
        self.add(cited, reason)


@dataclass
class Topology:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[str, str, str, str], Edge] = field(default_factory=dict)
    cited: list[Cited] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # verdict -> pairs
    evidence: tuple[str, ...] = ()  # what shows the view controls egress (the model's)

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == kind]

    def groups(self, kind: str) -> list[str]:
        return sorted({n.group for n in self.nodes.values() if n.kind == kind})

    def label(self, edge: Edge) -> str:
        """An edge's text: class and pairs, then the first resource that decides it."""
        head = "binding refused" if edge.verdict == REFUSED else edge.verdict
        text = f"{head} \u00b7 {edge.count}"
        if edge.cited:
            first = next(iter(edge.cited))
            more = f" +{len(edge.cited) - 1}" if len(edge.cited) > 1 else ""
            text += f"\n{self.cited[first].ref}{more}"
        return text


def box_title(title: str, group: str) -> str:
    """``namespace shop``; the client of a view that holds no client namespace is any ambient
    pod of the mesh (namespace ``*``)."""
    return "any client namespace" if group == "*" else title + group


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "x"


def _is_policy(src: Source) -> bool:
    """A policy (``NetworkPolicy``, ``AuthorizationPolicy``...): drawn on an edge also where
    it lets the path through (a ref is ``Kind namespace/name``, names hold no space)."""
    return "Policy " in src.ref


def _refusing(pair: Pair) -> tuple[Resource, Step] | None:
    """The waypoint that refuses the binding of a pair that goes direct (EGL103, EGL104...),
    and the proxy step that says so."""
    if pair.proxy_ref:
        return None
    step = pair.steps[2] if len(pair.steps) > 2 and pair.steps[2].kind == "proxy" else None
    step = step or pair.step("proxy")
    if step is None or step.refused_by is None:
        return None
    return step.refused_by, step


class _Builder:
    def __init__(self, graph: MeshGraph | None, findings: dict[str, list[str]]) -> None:
        self.graph = graph
        self.findings = findings
        self.topo = Topology()
        self._clients: dict[Client, str] = {}
        self._by_id: dict[int, tuple[Client, str]] = {}  # the model's clients are few objects
        self._dests: dict[Destination, str] = {}
        self._proxies: dict[str, str] = {}
        self._cited: dict[tuple[str, str, int, str], int] = {}
        # pairs share their steps (the model memoises them): what a step cites on the way in
        # and out is worked out once per step, verdict and proxy (the value keeps the step
        # alive, so that its id stays its own), and the sides of a path once per such parts
        self._parts: dict[tuple[int, str, bool], tuple[_Part, Step]] = {}
        self._splits: dict[tuple[object, ...], tuple[Split, tuple[Step, ...]]] = {}

    # ---- nodes ----------------------------------------------------------------------------
    def _node(self, node: Node) -> str:
        self.topo.nodes[node.id] = node
        return node.id

    def _marks(self, refs: Iterable[str]) -> list[str]:
        return sorted({f for ref in refs for f in self.findings.get(ref, ())})

    def client(self, client: Client) -> str:
        known = self._by_id.get(id(client))
        if known is not None and known[0] is client:
            return known[1]
        found = self._clients.get(client)
        if found is None:
            detail = client.capture_text
            refs = [w.ref for w in client.workloads]
            node = Node(f"c{len(self._clients)}", "client", client.service_account or "*")
            node.group, node.detail, node.findings = client.namespace, detail, self._marks(refs)
            found = self._clients[client] = self._node(node)
        self._by_id[id(client)] = (client, found)  # keeps the client: its id stays its own
        return found

    def destination(self, dest: Destination) -> str:
        found = self._dests.get(dest)
        if found is None:
            se = dest.service_entry
            node = Node(f"d{len(self._dests)}", "destination", dest.label)
            node.group = se.namespace if se is not None else ""
            node.detail = dest.protocol
            node.findings = self._marks([se.ref] if se is not None else [])
            found = self._dests[dest] = self._node(node)
        return found

    def proxy(self, ref: str, res: Resource | None) -> str:
        found = self._proxies.get(ref)
        if found is None:
            if not ref:
                node = Node(DIRECT, "proxy", "direct to the outside", detail="no egress proxy")
            else:
                node = Node(f"p{len(self._proxies)}", "proxy", ref, detail=self._title(res))
                node.group = ref.split(" ", 1)[-1].split("/", 1)[0] if "/" in ref else ""
                node.findings = self._marks([ref])
            found = self._proxies[ref] = self._node(node)
        return found

    def _title(self, res: Resource | None) -> str:
        if res is None:
            return "outside the view"
        if res.kind != "Gateway" or self.graph is None:
            return f"egress gateway ({res.kind})"
        cls = self.graph.gateway_class(res) or "no class"
        return f"{'waypoint' if self.graph.is_waypoint(res) else 'egress gateway'} ({cls})"

    # ---- edges ----------------------------------------------------------------------------
    def _cite(self, src: Source) -> int:
        key = (src.ref, src.file, src.line, src.role)
        found = self._cited.get(key)
        if found is None:
            marks = tuple(self.findings.get(src.ref, ()))
            found = self._cited[key] = len(self.topo.cited)
            self.topo.cited.append(Cited(src.ref, src.file, src.line, src.role, marks))
        return found

    def _part(self, step: Step, decides: str, proxied: bool) -> _Part:
        key = (id(step), decides, proxied)
        found = self._parts.get(key)
        if found is None:
            found = self._parts[key] = (self._part_now(step, decides, proxied), step)
        return found[0]

    def _part_now(self, step: Step, decides: str, proxied: bool) -> _Part:
        """What one step cites, on the way in and on the way out, with its rank."""
        ins: list[tuple[int, int]] = []
        outs: list[tuple[int, int]] = []
        sources = step.sources
        if step.outcome == "pass":
            sources = tuple(s for s in sources if _is_policy(s))
            rank = 0 if decides == "pass" else 2
        else:
            rank = 0 if step.outcome == decides else 1
        kind = step.kind
        for src in sources:
            out = kind not in IN_STEPS and (
                kind != "network" or (proxied and src.kind in OUT_NETWORK_KINDS)
            )
            (outs if out else ins).append((rank, self._cite(src)))
        return (tuple(ins), tuple(outs)) if ins or outs else _NOTHING

    def _split(self, pair: Pair) -> Split:
        """The resources cited on the way in and on the way out. Drawn: the sources of the
        steps that deny, break or go around (those of the step that makes the verdict first),
        and the policies of the others. Each sits where it acts: capture, registration and
        proxy on the way in, TLS and authorization on the way out; a network policy on the
        way in, but for one that cuts the proxy's own egress (``SourceKind``)."""
        decides = DECIDES[pair.verdict]
        proxied = bool(pair.proxy_ref)
        steps = pair.steps
        # the first step (capture) is the client's own; the model shares the others
        head = self._part(steps[0], decides, proxied)
        key = (decides, proxied, id(head), *map(id, steps[1:]))
        found = self._splits.get(key)
        if found is None:
            parts = [head, *(self._part(step, decides, proxied) for step in steps[1:])]
            ins = [item for part in parts for item in part[0]]
            outs = [item for part in parts for item in part[1]]
            # the value keeps the steps alive, so that their ids stay theirs
            found = self._splits[key] = ((_ordered(ins), _ordered(outs)), steps)
        return found[0]

    def _edge(self, source: str, target: str, verdict: str, segment: str) -> Edge:
        key = (source, target, verdict, segment)
        found = self.topo.edges.get(key)
        if found is None:
            found = self.topo.edges[key] = Edge(source, target, verdict, segment)
        return found

    def add(self, pair: Pair) -> None:
        client, dest = self.client(pair.client), self.destination(pair.destination)
        via = self.proxy(pair.proxy_ref, pair.proxy)
        verdict = pair.verdict
        ins, outs = self._split(pair)
        self._edge(client, via, verdict, "in").add_shared(ins, pair.reason)
        self._edge(via, dest, verdict, "out").add_shared(outs, pair.reason)
        for ident in (client, via, dest):
            self.topo.nodes[ident].pairs[verdict] += 1
        self.topo.counts[verdict] += 1
        refusing = _refusing(pair)
        if refusing is not None:
            waypoint, step = refusing
            gw = self.proxy(waypoint.ref, waypoint)
            cited = [self._cite(s) for s in step.sources]
            self._edge(gw, dest, REFUSED, REFUSED).add(cited, step.summary)


Split = tuple[tuple[int, ...], tuple[int, ...]]  # cited indexes on the way in, on the way out
# what a step cites on the way in and on the way out: (rank, index) each
_Part = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]
_NOTHING: _Part = ((), ())  # one object: steps that cite nothing share their key


def _ordered(items: list[tuple[int, int]]) -> tuple[int, ...]:
    """Indexes by rank (a stable sort), each once."""
    if len(items) > 1:
        items.sort(key=lambda t: t[0])
    return tuple(dict.fromkeys(i for _, i in items))


def _finding_marks(result: RunResult) -> dict[str, list[str]]:
    """``ref -> ["EGL301 error", ...]``: the unsuppressed findings on each resource."""
    marks: dict[str, set[str]] = {}
    for f in result.findings:
        if f.resource is not None and f.suppressed is None and f.level in LEVEL_RANK:
            marks.setdefault(f.resource.ref, set()).add(f"{f.rule_id} {f.level}")
    return {ref: sorted(found) for ref, found in marks.items()}


def from_pairs(
    pairs: Iterable[Pair],
    graph: MeshGraph | None = None,
    findings: dict[str, list[str]] | None = None,
    evidence: tuple[str, ...] = (),
) -> Topology:
    """The drawing of ``pairs`` (one pass: the pairs need not all be in memory at once)."""
    builder = _Builder(graph, findings or {})
    for pair in pairs:
        builder.add(pair)
    builder.topo.evidence = evidence
    return builder.topo


def build(
    result: RunResult, istio_version: tuple[int, int, int] = reachability.DEFAULT_VERSION
) -> Topology:
    """The drawing of a run's view (``result.graph`` must be set)."""
    assert result.graph is not None
    model = reachability.compute(result.graph, istio_version)
    return from_pairs(model.stream(), result.graph, _finding_marks(result), model.evidence)
