"""The egress topology as a small drawable model, built from a lint run.

Nodes: one per namespace, workload, ServiceEntry, Gateway (waypoint or egress gateway, with
its GatewayClass, i.e. its mode), policy, NetworkPolicy and any other resource a finding
names, plus one per external host of a ``MESH_EXTERNAL`` ServiceEntry. Edges: the mesh
graph's links (``binds``, ``class``, ``targets``, ``host``, ``selects``), ``host`` edges
from each ServiceEntry to its external hosts, ``egress`` edges from a waypoint to the hosts
it serves, and ``bypass`` edges from the namespaces with workloads straight to an external
host when traffic to it reaches the outside without a waypoint (the ServiceEntry is not
bound, or a ``bypass`` rule reported it). Findings colour the node they are about.

The renderers (:mod:`.dot`, :mod:`.mermaid`, :mod:`.html`) only format this model;
``report.formats.draw`` picks one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...lint.engine import RunResult
from ...lint.rule import LEVEL_RANK
from ...mesh.graph import WORKLOAD_KINDS, MeshGraph
from ...model import Finding, Resource

HIDDEN_KINDS = frozenset(
    {"ConfigMap", "Secret", "ServiceAccount", "Role", "RoleBinding", "ClusterRole"}
    | {"ClusterRoleBinding", "CustomResourceDefinition"}
)
DRAWN_RELS = ("binds", "class", "targets", "host", "selects")
COLUMN_OF = {
    "namespace": 0,
    "workload": 0,
    "netpol": 0,
    "serviceentry": 1,
    "policy": 1,
    "other": 1,
    "waypoint": 2,
    "class": 2,
    "authz": 2,
    "host": 3,
}


@dataclass
class Node:
    id: str
    category: str  # a key of COLUMN_OF
    title: str  # first line: the kind (and the mode of a waypoint)
    name: str  # second line: namespace/name, or the host
    namespace: str = ""  # the cluster it is drawn in ("" = cluster-wide or external)
    level: str = ""  # the worst unsuppressed finding on it
    findings: list[str] = field(default_factory=list)  # "EGL101 message"

    @property
    def label(self) -> str:
        return f"{self.title}\n{self.name}"

    @property
    def rule_ids(self) -> list[str]:
        return sorted({f.split(" ", 1)[0] for f in self.findings})


@dataclass
class Edge:
    source: str
    target: str
    rel: str  # binds, class, targets, host, selects, egress, bypass
    level: str = ""

    @property
    def bypass(self) -> bool:
        return self.rel == "bypass"


@dataclass
class Topology:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def namespaces(self) -> list[str]:
        return sorted({n.namespace for n in self.nodes.values() if n.namespace})

    def column(self, node: Node) -> int:
        return COLUMN_OF.get(node.category, 1)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "x"


_CATEGORIES = {
    **dict.fromkeys(WORKLOAD_KINDS, "workload"),
    "Service": "workload",
    "ServiceEntry": "serviceentry",
    "Gateway": "waypoint",
    "GatewayClass": "class",
    "NetworkPolicy": "netpol",
    "Namespace": "namespace",
    "DestinationRule": "policy",
    "VirtualService": "policy",
}


def _category(res: Resource, graph: MeshGraph) -> str:
    if res.kind in _CATEGORIES:
        return _CATEGORIES[res.kind]
    if res.kind.endswith("Policy"):  # AuthorizationPolicy, (Enterprise)AgentgatewayPolicy, ...
        return "authz" if _targets_gateway(res, graph) else "policy"
    return "other"


def _targets_gateway(res: Resource, graph: MeshGraph) -> bool:
    return any(t.kind in ("Gateway", "GatewayClass") for t, _ in graph.policy_targets(res))


def _title(res: Resource, graph: MeshGraph) -> str:
    if res.kind == "Gateway":
        mode = graph.gateway_class(res) or "no class"
        return f"{'waypoint' if graph.is_waypoint(res) else 'Gateway'} ({mode})"
    return res.kind


class _Builder:
    def __init__(self, result: RunResult) -> None:
        assert result.graph is not None
        self.graph = result.graph
        self.topo = Topology()
        self.ids: dict[int, str] = {}
        self.findings: dict[int, list[Finding]] = {}
        for f in result.findings:
            if f.resource is not None and f.suppressed is None:
                self.findings.setdefault(id(f.resource), []).append(f)
        self.tags = {r.id: r.tag for r in result.rules}
        self.bypasses: set[tuple[str, str]] = set()
        self._workload_namespaces: list[str] | None = None

    def build(self) -> Topology:
        for res in self.graph.resources:
            if res.kind not in HIDDEN_KINDS or id(res) in self.findings:
                self._resource(res)
        for src, dst, data in self.graph.g.edges(data=True):
            rel = data.get("rel")
            if rel in DRAWN_RELS and id(src) in self.ids and id(dst) in self.ids:
                self.topo.edges.append(Edge(self.ids[id(src)], self.ids[id(dst)], str(rel)))
        for se in self.graph.of_kind("ServiceEntry"):
            if self.graph.is_external(se) and id(se) in self.ids:
                self._hosts(se)
        return self.topo

    def _add(self, node: Node) -> str:
        base, n = node.id, 1
        while node.id in self.topo.nodes:
            n += 1
            node.id = f"{base}_{n}"
        self.topo.nodes[node.id] = node
        return node.id

    def _namespace(self, name: str) -> str:
        ident = "ns_" + slug(name)
        if ident not in self.topo.nodes:
            self.topo.nodes[ident] = Node(ident, "namespace", "namespace", name, name)
        return ident

    def _resource(self, res: Resource) -> None:
        category = _category(res, self.graph)
        if category == "namespace":
            ident = self._namespace(res.name)
        else:
            shown = res.name if res.cluster_scoped else f"{res.namespace}/{res.name}"
            node = Node(slug(f"{res.kind}_{shown}"), category, _title(res, self.graph), shown)
            node.namespace = res.namespace
            if res.namespace:
                self._namespace(res.namespace)
            ident = self._add(node)
        self.ids[id(res)] = ident
        node = self.topo.nodes[ident]
        for f in self.findings.get(id(res), []):
            node.findings.append(f"{f.rule_id} {f.message}")
            if LEVEL_RANK.get(f.level, 0) > LEVEL_RANK.get(node.level, 0):
                node.level = f.level

    def _bypassed(self, se: Resource) -> bool:
        binding = self.graph.binding(se)
        if binding is None or binding.opted_out:
            return True
        return any(
            self.tags.get(f.rule_id) == "bypass" and f.level != "note"
            for f in self.findings.get(id(se), [])
        )

    def _sources(self) -> list[str]:
        """The namespaces with workloads, once per drawing."""
        if self._workload_namespaces is None:
            self._workload_namespaces = sorted({w.namespace for w in self.graph.workloads()})
        return self._workload_namespaces

    def _hosts(self, se: Resource) -> None:
        gw = self.graph.waypoint_of(se)
        bypassed = self._bypassed(se)
        sources = self._sources() or [se.namespace]
        for host in self.graph.se_hosts(se):
            ident = "host_" + slug(host)
            if ident not in self.topo.nodes:
                self.topo.nodes[ident] = Node(ident, "host", "external host", host)
            self.topo.edges.append(Edge(self.ids[id(se)], ident, "host"))
            if gw is not None and id(gw) in self.ids:
                self.topo.edges.append(Edge(self.ids[id(gw)], ident, "egress"))
            if bypassed:
                for ns in sources:
                    edge = Edge(self._namespace(ns), ident, "bypass", "error")
                    if (edge.source, edge.target) not in self.bypasses:  # not per edge drawn
                        self.bypasses.add((edge.source, edge.target))
                        self.topo.edges.append(edge)


def build(result: RunResult) -> Topology:
    """The topology of a run (``result.graph`` must be set)."""
    return _Builder(result).build()
