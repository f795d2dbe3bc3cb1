"""The reachability model: who can reach which external destination, through which proxy,
allowed by which policy, and why.

For one view (one ``MeshGraph``) the model pairs every *client* with every external
*destination* and gives each pair one verdict and the path behind it:

    capture -> registration -> proxy -> tls -> authorization -> network -> verdict

Clients are a namespace's workloads grouped by service account (and by how their traffic is
captured), plus "any pod of namespace N" for ambient or sidecar namespaces with no workload
in the view; pods outside the data plane (host network, opted out, a namespace not enrolled)
are clients too. Destinations are the registered external hosts and ports (MESH_EXTERNAL
ServiceEntries) plus "any unregistered external address".

Verdicts (``reachtypes``):

* ``controlled``: the traffic goes through the egress proxy (waypoint or egress gateway),
  and the authorization step allows it (by a policy, or by default);
* ``denied``: a policy refuses it: an AuthorizationPolicy at the proxy (or the default deny
  an ALLOW policy brings), a NetworkPolicy that blocks a direct path, REGISTRY_ONLY at a
  sidecar;
* ``bypass``: it leaves the cluster without passing the egress proxy;
* ``unreachable``: it cannot work, and the reason says why (a NetworkPolicy cuts the path to
  or from the proxy, TLS is originated twice or towards a plain port, no ALLOW rule can match
  anyone...).

Every step carries the resources and source locations (file, line) it rests on. The model is
computed only on demand (``egresslint reach`` and its tests), once per graph and Istio version
(``compute`` memoises on the graph). It is built from the judgements the rules share
(``bypass``, ``reach``, ``hbone``, ``netpol``, ``gateways``, ``istio``), so that a finding and a
verdict do not contradict each other: tests/test_reachability.py checks both directions on
every fixture repository.
"""

from __future__ import annotations

from .graph import MeshGraph
from .reachpairs import build
from .reachtypes import (
    BYPASS,
    CAPTURES,
    CONTROLLED,
    DENIED,
    OUTCOMES,
    SOURCE_KINDS,
    STEP_KINDS,
    UNREACHABLE,
    UNREGISTERED,
    VERDICTS,
    Capture,
    Client,
    Destination,
    Outcome,
    Pair,
    Reachability,
    Source,
    SourceKind,
    Step,
    StepKind,
    Verdict,
    source,
)

DEFAULT_VERSION = (1, 30, 0)

__all__ = [
    "BYPASS",
    "CAPTURES",
    "CONTROLLED",
    "DENIED",
    "OUTCOMES",
    "SOURCE_KINDS",
    "STEP_KINDS",
    "UNREACHABLE",
    "UNREGISTERED",
    "VERDICTS",
    "Capture",
    "Client",
    "Destination",
    "Outcome",
    "Pair",
    "Reachability",
    "Source",
    "SourceKind",
    "Step",
    "StepKind",
    "Verdict",
    "compute",
    "source",
]


def compute(
    graph: MeshGraph, istio_version: tuple[int, int, int] = DEFAULT_VERSION
) -> Reachability:
    """The reachability model of one view, computed once per graph and Istio version (the
    version decides VIP allocation and DNS capture defaults, and which policies attach)."""
    return graph.memo(("reachability", istio_version), lambda: build(graph, istio_version))
