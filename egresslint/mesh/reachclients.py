"""Who the clients and the external destinations of the reachability model are.

Clients follow the rules that judge them: application workloads (not a waypoint's or an
explicit egress gateway's pods), grouped by namespace, service account and capture; and, for
an ambient (or sidecar-injected) namespace with no workload in the view that is not a
waypoint's home, "any pod of the namespace" (as EGL213 and EGL106 read such namespaces).
Capture follows ``bypass.pod_ambient`` and ``bypass.not_captured_reason`` (the rules' reading
of istio-cni enrolment): host network first, then a sidecar-injected namespace, then the
ambient labels; a workload whose namespace is not in the view and carries no ambient label of
its own is not known to be captured, and counts as outside the data plane.

Destinations are the hosts and ports of MESH_EXTERNAL ServiceEntries (outside sidecar
namespaces too: ztunnel and waypoints ignore ``exportTo``), plus any unregistered address.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ..model import Path, Resource, as_map
from . import bypass, gateways, istio
from .graph import DATAPLANE_MODE, MeshGraph, Workload
from .reachtypes import UNREGISTERED, Capture, Client, Destination, Source, source

INJECT = "sidecar.istio.io/inject"
ANY_NAMESPACE = "*"  # the client of a view without client namespaces: any ambient pod


@dataclass
class ClientInfo:
    """A client of the model, with what the steps need: its pods' label sets (one per
    workload; a namespace client has one empty set, matching only namespace-wide policies) and
    the source that says how it is captured."""

    client: Client
    pods: list[Workload] = field(default_factory=list)
    why: str = ""  # how the traffic is (or is not) captured, completing "the pods ..."
    capture_sources: tuple[Source, ...] = ()

    @property
    def label_sets(self) -> list[Mapping[str, str]]:
        return [w.labels for w in self.pods] or [{}]


@dataclass(frozen=True)
class DestinationInfo:
    """A destination with every ServiceEntry that registers it (first: the canonical one)
    and the index of its port in each."""

    destination: Destination
    entries: tuple[tuple[Resource, int | None], ...] = ()


# ---- clients ---------------------------------------------------------------------------------
def _injection_off(wl: Workload) -> bool:
    meta = as_map(wl.resource.get(*wl.template_path, "metadata"))
    values = (wl.labels.get(INJECT), as_map(meta.get("annotations")).get(INJECT))
    return "false" in values


ROLES = {
    "ztunnel": "enrols the pods in ambient",
    "sidecar": "injects sidecars into the pods",
    "none": "keeps the pods out of the data plane",
}


def _capture(graph: MeshGraph, wl: Workload) -> tuple[Capture, str, Path, Resource]:
    """How the workload's traffic is captured, why, and the field (and resource) saying so."""
    tpl = wl.template_path
    res = wl.resource
    if wl.host_network:
        return "none", "run with hostNetwork: true", (*tpl, "spec", "hostNetwork"), res
    if graph.is_sidecar_namespace(wl.namespace):
        ns = graph.namespace(wl.namespace)
        assert ns is not None  # only a Namespace object makes a namespace sidecar-injected
        if _injection_off(wl):
            return "none", "turn sidecar injection off", (*tpl, "metadata"), res
        return "sidecar", "run in a sidecar-injected namespace", ("metadata", "labels"), ns
    if bypass.pod_ambient(graph, wl):
        if wl.labels.get(DATAPLANE_MODE) == "ambient":
            path = (*tpl, "metadata", "labels", DATAPLANE_MODE)
            return "ztunnel", "are enrolled in ambient by their own label", path, res
        ns = graph.namespace(wl.namespace)
        assert ns is not None  # is_ambient_namespace reads the Namespace object's labels
        path = ("metadata", "labels", DATAPLANE_MODE)
        return "ztunnel", f"are enrolled in ambient by namespace '{ns.name}'", path, ns
    found = bypass.not_captured_reason(graph, wl)
    if found is not None:
        return "none", found[0].replace("runs", "run").replace("opts", "opt"), found[1], res
    return (
        "none",
        f"are not known to be captured (namespace '{wl.namespace}' is not in the view)",
        (*tpl, "metadata"),
        res,
    )


def _workload_clients(graph: MeshGraph) -> Iterator[ClientInfo]:
    groups: dict[tuple[str, str, str], ClientInfo] = {}
    for wl in graph.workloads():
        if bypass.is_waypoint_pod(wl) or gateways.gateway_pod(graph, wl.labels):
            continue
        capture, why, path, owner = _capture(graph, wl)
        key = (wl.namespace, wl.service_account, capture)
        info = groups.get(key)
        if info is None:
            client = Client(wl.namespace, wl.service_account, capture)
            cited = (source(owner, path, ROLES[capture]),)
            info = groups[key] = ClientInfo(client, [], why, cited)
        info.pods.append(wl)
    for info in groups.values():
        workloads = tuple(dict.fromkeys(w.resource for w in info.pods))
        info.client = Client(
            info.client.namespace, info.client.service_account, info.client.capture, workloads
        )
        yield info


def _namespace_clients(graph: MeshGraph) -> Iterator[ClientInfo]:
    homes = gateways.homes(graph)
    for ns in graph.of_kind("Namespace"):
        if graph.workloads(ns.name) or bypass.hosts_waypoint(graph, ns.name) or ns.name in homes:
            continue
        if graph.is_ambient_namespace(ns.name):
            why = "are enrolled in ambient by their namespace"
            path: Path = ("metadata", "labels", DATAPLANE_MODE)
            cited = (source(ns, path, ROLES["ztunnel"]),)
            yield ClientInfo(Client(ns.name, None, "ztunnel"), [], why, cited)
        elif graph.is_sidecar_namespace(ns.name):
            why = "run in a sidecar-injected namespace"
            path = ("metadata", "labels")
            cited = (source(ns, path, ROLES["sidecar"]),)
            yield ClientInfo(Client(ns.name, None, "sidecar"), [], why, cited)


def clients(graph: MeshGraph) -> list[ClientInfo]:
    """Every client of the view, sorted by label; where the view holds none (a platform
    repository with waypoints and ServiceEntries only), one for any ambient pod of the mesh,
    the client the rules speak of ("ambient pods reach it directly")."""
    found = [*_workload_clients(graph), *_namespace_clients(graph)]
    if not found:
        why = "are any ambient pods of the mesh (the view holds no client namespace)"
        found.append(ClientInfo(Client(ANY_NAMESPACE, None, "ztunnel"), [], why))
    return sorted(found, key=lambda c: c.client.label)


# ---- destinations ----------------------------------------------------------------------------
def destinations(graph: MeshGraph) -> list[DestinationInfo]:
    """Every external host and port, in input order, then any unregistered address."""
    found: dict[tuple[str, int | None], list[tuple[Resource, int | None]]] = {}
    protocols: dict[tuple[str, int | None], str] = {}
    for se in graph.of_kind("ServiceEntry"):
        if not graph.is_external(se):
            continue
        ports: list[tuple[int | None, int | None, str]] = [
            (istio.port_number(p), i, istio.protocol(p)) for i, p in graph.ports(se)
        ]
        for host in graph.se_hosts(se):
            for number, index, protocol in ports or [(None, None, "")]:
                key = (host, number)
                found.setdefault(key, []).append((se, index))
                protocols.setdefault(key, protocol)
    out = [
        DestinationInfo(Destination(h, n, protocols[(h, n)], entries[0][0]), tuple(entries))
        for (h, n), entries in found.items()
    ]
    out.append(DestinationInfo(Destination(UNREGISTERED, None)))
    return out


def entry_for(dest: DestinationInfo, namespace: str) -> tuple[Resource, int | None] | None:
    """The ServiceEntry a client of ``namespace`` uses for the destination: one of its own
    namespace, else the first (istiod's canonical choice since 1.29 is the oldest, which Git
    does not show: EGL117 reports hosts registered with different waypoints)."""
    if not dest.entries:
        return None
    own = [e for e in dest.entries if e[0].namespace == namespace]
    return (own or list(dest.entries))[0]
