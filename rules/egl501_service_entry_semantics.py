"""A ServiceEntry breaks one of the semantic checks Istio's own validation applies beyond the
schema, so it is rejected (or, for warnings, behaves unexpectedly).

**Why it matters.** These combinations pass the JSON schema but are refused by the API server's
CEL rules or by istiod's validation webhook (`ValidateServiceEntry`), so the egress entry you
reviewed never exists in the cluster; its host is then unknown and passes through.

**What is checked** (error unless noted):
- host `*` alone; partial wildcards such as `*foo.com` (warning, as in Istio; not for
  `DYNAMIC_DNS`);
- host names that are not DNS names (`ValidateWildcardDomain`): a label that is not a DNS-1123
  label, such as a template placeholder left in `<PG1_IP>.nip.io`, an all-digit top-level label
  (an IP address is no host: put it in `addresses` or `endpoints`), more than 255 characters.
  Wildcard hosts are left to the wildcard rules (EGL109, EGL110, EGL204);
- `resolution: STATIC` endpoints whose `address` is not an IP address (nor `unix://`): a host
  name there is rejected ("is not a valid IP address"; use `resolution: DNS` for names);
- port names that are not DNS-1123 labels, `name: ""` included (`ValidatePortName`; a port
  without `name` is a schema error, EGL003);
- CIDR `addresses` with a resolution other than `NONE`/`STATIC`; `resolution: NONE` with
  `endpoints`; `endpoints` together with `workloadSelector`;
- duplicate port numbers or names; unknown port protocols;
- several hosts with a non-HTTP, non-TLS port and a resolution other than `NONE`;
- `DYNAMIC_DNS` (by `--istio-version`): non-wildcard hosts, `addresses`, `endpoints`, port
  protocols other than HTTP (1.28), HTTP and TLS (1.29), HTTP, TLS, GRPC and HTTP2 (1.30); a
  location other than `MESH_EXTERNAL` before 1.30; from 1.30 `MESH_INTERNAL` with the
  ServiceEntry's own `istio.io/use-waypoint` label (not `none`), and also `MESH_INTERNAL` bound
  to a waypoint through its namespace's label: validation accepts that (it reads only the
  ServiceEntry's own label), but istiod leaves MESH_INTERNAL DYNAMIC_DNS services out of the
  waypoint's configuration, so ztunnel sends their connections to a waypoint with no filter
  chain for them (EGL109 then says nothing about the wildcard's breadth).

A wildcard host with `DNS`/`DNS_ROUND_ROBIN` and no endpoints is rejected too; EGL204 reports
that cause (once per ServiceEntry and field), and this rule stays silent about it. So does
`DNS_ROUND_ROBIN` with more than one endpoint: EGL206 reports it.

**How to fix.** As each message says; typically set the resolution that matches the hosts
(`DYNAMIC_DNS` for wildcards at a waypoint, `DNS` for FQDNs) and make ports unique.

Sources: `istio/api` `networking/v1alpha3/service_entry.proto` (CRD validation rules);
`istio/istio` `pkg/config/validation/validation.go` (`ValidateServiceEntry`,
`validateWorkloadEntry` for STATIC endpoints, `ValidatePortName`, 1.24.0-1.30.3;
`pkg/config/validation/agent/validation.go` `ValidateWildcardDomain` and
`pkg/config/labels/instance.go` `IsDNS1123Label`, `IsWildcardDNS1123Label`, same releases; its
DYNAMIC_DNS case from 1.28.0, protocols widened at 1.29.0 and 1.30.0, MESH_INTERNAL and
`usesWaypoint` from 1.30.0); `pilot/pkg/networking/core/waypoint.go` `findWaypointResources`
(1.30.0-1.30.3: "DYNAMIC_DNS is supported only for MESH_EXTERNAL services; skipping waypoint
service").
"""

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from egresslint.lint.rule import Context, Rule
from egresslint.mesh import bypass, istio, reach
from egresslint.mesh.graph import MeshGraph
from egresslint.model import Finding, Resource, as_list

RULE = Rule(
    id="EGL501",
    name="service-entry-semantics",
    tag="invalid",
    level="error",
    summary="ServiceEntry combination that Istio's validation rejects (wildcards, resolution, endpoints, ports).",
    kinds=("ServiceEntry",),
    precision="very-high",
)

KNOWN_PROTOCOLS = frozenset(
    {
        "HTTP",
        "HTTPS",
        "GRPC",
        "GRPC-WEB",
        "HTTP2",
        "HTTP_PROXY",
        "MONGO",
        "REDIS",
        "MYSQL",
        "TCP",
        "TLS",
        "UDP",
    }
)
Problem = tuple[tuple[Any, ...], str, str]  # (path, message, level)


def _hosts(se: Resource, res: str) -> Iterator[Problem]:
    for i, host in enumerate(as_list(se.spec.get("hosts"))):
        if not isinstance(host, str):
            continue
        path = ("spec", "hosts", i)
        if host == "*":
            yield path, "host '*' is not allowed; list the external hosts", "error"
        elif "*" in host and not (host.startswith("*.") and "*" not in host[1:]):
            if res != "DYNAMIC_DNS":
                yield (
                    path,
                    f"partial wildcard host '{host}' only matches as a literal; use '*.domain'",
                    "warning",
                )
        elif res == "DYNAMIC_DNS" and not host.startswith("*"):
            yield (
                path,
                f"resolution DYNAMIC_DNS requires wildcard hosts, but '{host}' is not",
                "error",
            )
        if "*" not in host and (why := reach.host_name_problem(host)) is not None:
            yield path, f"host '{host}' is not a valid DNS name ({why}): Istio rejects it", "error"


def _addresses_endpoints(se: Resource, res: str) -> Iterator[Problem]:
    spec = se.spec
    for i, addr in enumerate(as_list(spec.get("addresses"))):
        if isinstance(addr, str) and "/" in addr and res not in ("NONE", "STATIC"):
            yield (
                ("spec", "addresses", i),
                f"CIDR address {addr} needs resolution NONE or STATIC, not {res}",
                "error",
            )
    endpoints = as_list(spec.get("endpoints"))
    if endpoints and res == "NONE":
        yield (
            ("spec", "endpoints"),
            "resolution NONE cannot have endpoints; use STATIC or DNS",
            "error",
        )
    if endpoints and spec.get("workloadSelector") is not None:
        yield (
            ("spec", "workloadSelector"),
            "endpoints and workloadSelector are mutually exclusive",
            "error",
        )
    if res == "STATIC":
        yield from _static_endpoints(se)
    if res == "DYNAMIC_DNS":
        for key in ("addresses", "endpoints"):
            if as_list(spec.get(key)):
                yield ("spec", key), f"resolution DYNAMIC_DNS does not allow {key}", "error"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _static_endpoints(se: Resource) -> Iterator[Problem]:
    for i, endpoint in enumerate(as_list(se.spec.get("endpoints"))):
        address = endpoint.get("address") if isinstance(endpoint, Mapping) else None
        if not isinstance(address, str) or not address or address.startswith("unix://"):
            continue
        if not _is_ip(address):
            yield (
                ("spec", "endpoints", i, "address"),
                f"endpoint address '{address}' is not an IP address, which resolution STATIC "
                "requires; use resolution DNS for host names",
                "error",
            )


def _port_name(i: int, port: Mapping[str, Any]) -> Iterator[Problem]:
    name = port.get("name")
    if isinstance(name, str) and not reach.is_dns_label(name):
        yield (
            ("spec", "ports", i, "name"),
            f"port name '{name}' is not a DNS-1123 label (letters, digits and inner dashes, at "
            "most 63 characters); Istio rejects it",
            "error",
        )


def _port(
    ctx: Context, se: Resource, i: int, port: Mapping[str, Any], seen: dict[str, set[Any]]
) -> Iterator[Problem]:
    res = istio.resolution(se)
    base = ("spec", "ports", i)
    for key in ("number", "name"):
        value = port.get(key)
        if not isinstance(value, (str, int, float)):
            continue  # missing, or a mapping/list (the schema check reports the shape)
        if value in seen[key]:
            yield (*base, key), f"duplicate port {key} {value}", "error"
        seen[key].add(value)
    proto = istio.protocol(port)
    if proto and proto not in KNOWN_PROTOCOLS:
        yield (*base, "protocol"), f"unsupported protocol '{port.get('protocol')}'", "error"
    elif res == "DYNAMIC_DNS":
        allowed = bypass.dynamic_dns_protocols(ctx.istio_version)
        if proto not in allowed:
            yield (
                (*base, "protocol") if proto else base,
                f"resolution DYNAMIC_DNS supports only {', '.join(sorted(allowed))} ports at Istio "
                f"{'.'.join(map(str, ctx.istio_version[:2]))}, not '{proto or 'unset'}'",
                "error",
            )
    hosts = as_list(se.spec.get("hosts"))
    opaque = not istio.is_http(port) and proto not in ("HTTPS", "TLS")
    if len(hosts) > 1 and opaque and res not in ("NONE", "DYNAMIC_DNS"):
        yield (
            (*base, "protocol") if proto else base,
            "multiple hosts with a non-HTTP, non-TLS port need resolution NONE; split the ServiceEntry",
            "error",
        )


def _location(ctx: Context, se: Resource) -> Iterator[Problem]:
    """DYNAMIC_DNS locations: what validation rejects, and a namespace binding at 1.30+ that
    validation accepts but the waypoint skips."""
    path = ("spec", "location") if "location" in se.spec else ("spec",)
    problem = bypass.dynamic_dns_location_problem(se, ctx.istio_version)
    if problem is not None:
        yield path, f"{problem}; use MESH_EXTERNAL", "error"
        return
    binding = ctx.graph.binding(se)
    if MeshGraph.is_external(se) or binding is None or binding.opted_out:
        return
    yield (
        path,
        f"MESH_INTERNAL DYNAMIC_DNS ServiceEntry bound to waypoint '{binding.name}' by its "
        "namespace's label: validation accepts it (it reads only the ServiceEntry's own label), "
        "but istiod leaves such services out of the waypoint's configuration, so their "
        "connections reach a waypoint with no filter chain for them; use MESH_EXTERNAL",
        "error",
    )


def _problems(ctx: Context, se: Resource) -> Iterator[Problem]:
    res = istio.resolution(se)
    yield from _hosts(se, res)
    yield from _addresses_endpoints(se, res)
    seen: dict[str, set[Any]] = {"number": set(), "name": set()}
    for i, port in enumerate(as_list(se.spec.get("ports"))):
        if isinstance(port, Mapping):
            yield from _port(ctx, se, i, port, seen)
            yield from _port_name(i, port)
    if res == "DYNAMIC_DNS":
        yield from _location(ctx, se)


def check(ctx: Context) -> Iterator[Finding]:
    for se in ctx.graph.of_kind("ServiceEntry"):
        seen: set[tuple[Any, ...]] = set()
        for path, message, level in _problems(ctx, se):
            if path in seen:
                continue  # one finding per field: the first problem found there
            seen.add(path)
            finding = RULE.at(se, path, f"{se.ref}: {message}.")
            if level != "error":
                finding.level = level
            yield finding
