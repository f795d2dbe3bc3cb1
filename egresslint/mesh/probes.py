"""Kubelet probes of ambient pods and ingress NetworkPolicy.

istio-cni SNATs TCP connections that the node itself opens to an ambient pod (the kubelet's
health probes) to a fixed link-local address, so that the pod's redirection rules can let them
pass: ``169.254.7.127`` (IPv6 ``fd16:9254:7127:1337:ffff:ffff:ffff:ffff``), istio/istio
``cni/pkg/nodeagent/options.go`` DefaultHostProbeSNATIP (overridable with the istio-cni env
``HOST_PROBE_SNAT_IP``), used by ``cni/pkg/iptables/iptables.go`` AppendHostRules and
``cni/pkg/nftables/nftables.go``; only pods added to the mesh join the probe ipset
(``cni/pkg/nodeagent/meshdataplane_linux.go`` AddPodToMesh). Checked at 1.22.0, 1.24.0, 1.26.0,
1.28.0 and 1.30.3. istio.io "Ambient and Kubernetes NetworkPolicy" (documentation): depending
on the CNI, an ingress NetworkPolicy then blocks the probes unless it admits that address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from ..model import as_map, enumerate_maps
from .graph import Workload

PROBE_SNAT_V4 = ipaddress.ip_address("169.254.7.127")
PROBE_SNAT_V6 = ipaddress.ip_address("fd16:9254:7127:1337:ffff:ffff:ffff:ffff")
PROBE_ADDRESSES = (PROBE_SNAT_V4, PROBE_SNAT_V6)
PROBE_FIELDS = ("livenessProbe", "readinessProbe", "startupProbe")
NETWORK_HANDLERS = ("httpGet", "tcpSocket", "grpc")  # exec probes run inside the container
ALLOW_RULE = "{from: [{ipBlock: {cidr: 169.254.7.127/32}}]}"


def _containers(wl: Workload) -> Iterator[Mapping[str, Any]]:
    spec = as_map(wl.resource.get(*wl.template_path, "spec"))
    for key in ("containers", "initContainers"):
        for _, container in enumerate_maps(spec.get(key)):
            yield container


def network_probes(wl: Workload) -> list[str]:
    """``container/probe`` for each probe the kubelet runs over TCP (HTTP, TCP or gRPC)."""
    found = []
    for container in _containers(wl):
        for field in PROBE_FIELDS:
            probe = as_map(container.get(field))
            if any(h in probe for h in NETWORK_HANDLERS):
                found.append(f"{container.get('name', '?')}/{field}")
    return found
