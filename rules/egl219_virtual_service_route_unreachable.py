"""A VirtualService route or match is never used: an earlier route takes all of its traffic
first (a route without match, the same match, or a URI prefix that covers it).

**Why it matters.** A proxy tries a VirtualService's `http`, `tcp` and `tls` routes in order
and uses the first that matches; a route without `match` matches everything. Whatever comes
after such a route, or repeats a match an earlier route has, never applies: at a waypoint or
egress gateway for an external host, a route meant to send some requests elsewhere (another
subset, a fault, a different destination or port) silently does nothing, and those requests
take the earlier route. Istio's own validation warns about these routes (`istioctl analyze`
IST0130, VirtualServiceUnreachableRule, and IST0131, VirtualServiceIneffectiveMatch), for
every VirtualService; so does this rule.

**What is checked.** Istio's checks, for each of `http`, `tcp` and `tls` of every
VirtualService, in order:

- a route without `match` (absent or empty) after an earlier route without `match`, and a
  route with matches after one: the route is unreachable (warning, IST0130);
- a match equal to an earlier match of the same list: the match is ineffective (note,
  IST0131). Matches are equal when every field but `name` is: fields at their zero value
  (`port: 0`, `ignoreUriCase: false`, empty lists and maps) count as unset, an empty
  string match (`uri: {}`) does not, the order of `sniHosts`, `gateways` and
  `destinationSubnets` counts, that of map keys does not, and fields the API server prunes
  (not in the CRD) are ignored. When every match of a route repeats an earlier one, the route
  is unreachable: one warning at the route (both codes);
- for `http`, a match whose `uri` prefix begins with the `uri` prefix of an earlier match with
  the same `port` and the same header, query parameter and `withoutHeaders` names, which
  Istio takes for covering it (note, IST0131). Istio's comparison takes a missing `method` for
  `GET`, compares method, authority and header values by string prefix in the wrong direction
  and ignores `scheme`, `sourceLabels`, `gateways`, `sourceNamespace` and `ignoreUriCase`, so
  it also reports matches that do take traffic (a match without method after one for `GET`,
  say). egresslint reports an overlap only where Istio does and the earlier match really takes
  every request of the later one: each of its conditions is absent or equal, or a `prefix`
  that the later match's `exact` or `prefix` value begins with (for `withoutHeaders` the
  other way round); it ignores case if the later one does; its `sourceLabels` are a subset,
  its gateways (the match's, else the VirtualService's) a superset.

A route is named by its list and position (`http[2]`) and its `name`; the finding is at the
unreachable route or the ineffective match and names the route that takes its traffic.
Istio reports a route with matches after a route without match from 1.27.0; before, that
route is no less unreachable, and egresslint reports it at every version.

**How to fix.** Put the route without `match` last; remove a route or match that repeats an
earlier one, or order the more specific match (the longer prefix) first.

Sources (istio/istio, 1.30.3): `pkg/config/validation/validation.go` (`ValidateVirtualService`,
`analyzeUnreachableHTTPRules`, `analyzeUnreachableTCPRules`, `analyzeUnreachableTLSRules`,
`asJSON`, `genMatchHTTPRoutes`, `coveredValidation`; routes with matches after a route
without match since 1.27.0, absent at 1.26.8); `pkg/config/analysis/analyzers/schema/validation.go` (the warnings as
IST0130 and IST0131); `pkg/config/analysis/msg/messages.yaml` (levels Warning and Info);
`manifests/charts/base/files/crd-all.gen.yaml` (the match fields; unknown fields pruned).
"""

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from egresslint.lint.rule import Context, Rule, related
from egresslint.model import Finding, Path, Related, Resource, as_list, as_map

RULE = Rule(
    id="EGL219",
    name="virtual-service-route-unreachable",
    tag="unreachable",
    level="warning",
    summary="VirtualService route or match never used: an earlier route takes its traffic.",
    kinds=("VirtualService",),
    istio_analyzer=("IST0130", "IST0131"),
)

UNREACHABLE, INEFFECTIVE = "IST0130", "IST0131"

# The fields of each match type in the CRD (crd-all.gen.yaml, 1.30.3) and how a field compares
# the way Go's encoding/json writes the proto struct (asJSON): scalars and lists and maps are
# left out at their zero value, a string match is kept once present.
_SCALAR, _LIST, _LABELS, _STRING_MATCH, _MATCH_MAP = "scalar", "list", "labels", "sm", "sm-map"
_FIELDS: dict[str, dict[str, str]] = {
    "http": {
        "uri": _STRING_MATCH,
        "scheme": _STRING_MATCH,
        "method": _STRING_MATCH,
        "authority": _STRING_MATCH,
        "headers": _MATCH_MAP,
        "port": _SCALAR,
        "sourceLabels": _LABELS,
        "gateways": _LIST,
        "queryParams": _MATCH_MAP,
        "ignoreUriCase": _SCALAR,
        "withoutHeaders": _MATCH_MAP,
        "sourceNamespace": _SCALAR,
        "statPrefix": _SCALAR,
    },
    "tcp": {
        "destinationSubnets": _LIST,
        "port": _SCALAR,
        "sourceLabels": _LABELS,
        "gateways": _LIST,
        "sourceNamespace": _SCALAR,
        "sourceSubnet": _SCALAR,
    },
    "tls": {
        "sniHosts": _LIST,
        "destinationSubnets": _LIST,
        "port": _SCALAR,
        "sourceLabels": _LABELS,
        "gateways": _LIST,
        "sourceNamespace": _SCALAR,
    },
}
_ONEOF = ("exact", "prefix", "regex")
_TRAFFIC = {"http": "request", "tcp": "connection", "tls": "connection"}


# ---- equal matches (asJSON) ----------------------------------------------------------------
def _string_match(value: Any) -> Hashable:
    """A present string match: its oneof (``exact``/``prefix``/``regex``) or nothing."""
    if not isinstance(value, Mapping):
        return ("invalid", repr(value))
    return tuple((k, _scalar(value[k])) for k in _ONEOF if k in value and value[k] is not None)


def _scalar(value: Any) -> Hashable:
    return value if isinstance(value, (str, int, float, bool)) else repr(value)


def _field(kind: str, value: Any) -> Hashable | None:
    """How one field compares, or None where it counts as unset."""
    if value is None:
        return None
    if kind == _STRING_MATCH:
        return _string_match(value)
    if kind == _SCALAR:
        return _scalar(value) if value not in ("", 0, False) else None
    if kind == _LIST:
        items = tuple(_scalar(v) for v in as_list(value))
        return items or (None if isinstance(value, list) else repr(value))
    pairs = [(str(k), v) for k, v in as_map(value).items()]
    if kind == _LABELS:
        found: tuple[Any, ...] = tuple(sorted((k, _scalar(v)) for k, v in pairs))
    else:
        found = tuple(sorted((k, _string_match(v) if v is not None else None) for k, v in pairs))
    return found or (None if isinstance(value, Mapping) else repr(value))


def match_key(kind: str, match: Mapping[str, Any]) -> Hashable:
    """Equal for two matches Istio's validation takes for duplicates (``asJSON`` without the
    match's ``name``)."""
    fields = _FIELDS[kind]
    out = []
    for name in sorted(fields):
        value = _field(fields[name], match.get(name))
        if value is not None:
            out.append((name, value))
    return tuple(out)


# ---- a URI prefix covered by an earlier one (genMatchHTTPRoutes, coveredValidation) --------
def _exact_or_prefix(value: Any) -> str:
    """``assignExactOrPrefix``: ``exact:<v>``, ``prefix:<v>`` or empty."""
    sm = as_map(value)
    exact, prefix = sm.get("exact"), sm.get("prefix")
    if isinstance(exact, str) and exact:
        return "exact:" + exact
    if isinstance(prefix, str) and prefix:
        return "prefix:" + prefix
    return ""


@dataclass(frozen=True)
class Prefixed:
    """What Istio's overlap check keeps of an HTTP match with a ``uri`` prefix."""

    route: int
    index: int
    match: Mapping[str, Any]
    prefix: str
    port: Hashable
    method: str
    authority: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    without: dict[str, str] = field(default_factory=dict)


def _values(value: Any) -> dict[str, str]:
    return {str(k): _exact_or_prefix(v) for k, v in as_map(value).items()}


def prefixed(route: int, index: int, match: Mapping[str, Any]) -> Prefixed | None:
    """``genMatchHTTPRoutes``: matches with a non-empty ``uri.prefix``; no method is ``GET``."""
    prefix = as_map(match.get("uri")).get("prefix")
    if not isinstance(prefix, str) or not prefix:
        return None
    return Prefixed(
        route,
        index,
        match,
        prefix,
        _field(_SCALAR, match.get("port")),
        _exact_or_prefix(match.get("method")) or "exact:GET",
        _exact_or_prefix(match.get("authority")),
        _values(match.get("headers")),
        _values(match.get("queryParams")),
        _values(match.get("withoutHeaders")),
    )


def _same_names(a: dict[str, str], b: dict[str, str]) -> bool:
    return len(a) == len(b) and all(k in b and v.startswith(b[k]) for k, v in a.items())


def istio_covers(a: Prefixed, b: Prefixed) -> bool:
    """``coveredValidation(a, b)``, line by line: Istio reports ``b`` as ineffective."""
    return (
        b.prefix.startswith(a.prefix)
        and a.port == b.port
        and a.method.startswith(b.method)
        and a.authority.startswith(b.authority)
        and all(
            _same_names(x, y)
            for x, y in ((a.headers, b.headers), (a.query, b.query), (a.without, b.without))
        )
    )


def _sm_covers(a: Any, b: Any) -> bool:
    """Every value string match ``b`` admits, ``a`` admits (None: no condition)."""
    if a is None:
        return True
    if b is None:
        return False
    if _string_match(a) == _string_match(b):
        return True
    prefix, other = as_map(a).get("prefix"), as_map(b)
    wanted = other.get("exact", other.get("prefix"))
    return isinstance(prefix, str) and isinstance(wanted, str) and wanted.startswith(prefix)


def _map_covers(a: Any, b: Any, inverse: bool = False) -> bool:
    theirs = as_map(b)
    for key, value in as_map(a).items():
        if key not in theirs:
            return False
        pair = (theirs[key], value) if inverse else (value, theirs[key])
        if not _sm_covers(*(v if v is not None else {} for v in pair)):
            return False
    return True


def _gateways(match: Mapping[str, Any], default: frozenset[str]) -> frozenset[str]:
    own = frozenset(str(g) for g in as_list(match.get("gateways")))
    return own or default


def really_covers(a: Mapping[str, Any], b: Mapping[str, Any], gateways: frozenset[str]) -> bool:
    """Whether match ``a`` takes every request match ``b`` admits (given ``istio_covers``,
    which has compared the URI prefixes, the ports and the names of the maps)."""
    labels_a, labels_b = as_map(a.get("sourceLabels")), as_map(b.get("sourceLabels"))
    return (
        all(_sm_covers(a.get(f), b.get(f)) for f in ("method", "authority", "scheme"))
        and _map_covers(a.get("headers"), b.get("headers"))
        and _map_covers(a.get("queryParams"), b.get("queryParams"))
        and _map_covers(a.get("withoutHeaders"), b.get("withoutHeaders"), inverse=True)
        and (bool(a.get("ignoreUriCase")) or not b.get("ignoreUriCase"))
        and all(labels_b.get(k) == v for k, v in labels_a.items())
        and _gateways(b, gateways) <= _gateways(a, gateways)
        and a.get("sourceNamespace") in (None, "", b.get("sourceNamespace"))
    )


# ---- what the analysis finds ---------------------------------------------------------------
@dataclass(frozen=True)
class Unreachable:
    """A route never used (IST0130): ``why`` is ``again`` (a second route without match),
    ``after`` (matches after a route without match) or ``repeated`` (every match repeats)."""

    route: int
    why: str
    by: tuple[tuple[int, int | None], ...]  # (route, match) that take its traffic


@dataclass(frozen=True)
class Ineffective:
    """A match never used (IST0131), because of ``by`` (route, match): ``repeats`` or ``covers``."""

    route: int
    index: int
    by: tuple[int, int]
    why: str


Result = Unreachable | Ineffective


@dataclass
class _Scan:
    """The state of Istio's single pass over one route list."""

    kind: str
    seen: dict[Hashable, tuple[int, int]] = field(default_factory=dict)
    catch_all: int | None = None
    prefixes: list[Prefixed] = field(default_factory=list)


def routes(value: Any) -> Iterator[tuple[int, Mapping[str, Any], list[Mapping[str, Any]]]]:
    """(position, route, matches) of the routes Istio can read: a null entry is skipped (as
    Istio does) and so is one whose ``match`` is not a list of mappings (the API server refuses
    the VirtualService; EGL003 reports the shape)."""
    for i, route in enumerate(as_list(value)):
        if not isinstance(route, Mapping):
            continue
        matches = route.get("match")
        if matches is not None and not isinstance(matches, list):
            continue
        if all(isinstance(m, Mapping) for m in matches or ()):
            yield i, route, list(matches or ())


def _route(scan: _Scan, rulen: int, matches: list[Mapping[str, Any]]) -> Iterator[Result]:
    if not matches:
        if scan.catch_all is not None:
            yield Unreachable(rulen, "again", ((scan.catch_all, None),))
        else:
            scan.catch_all = rulen
        return
    if scan.catch_all is not None:
        yield Unreachable(rulen, "after", ((scan.catch_all, None),))
        return
    repeats = []
    for matchn, match in enumerate(matches):
        key = match_key(scan.kind, match)
        if key in scan.seen:
            repeats.append(Ineffective(rulen, matchn, scan.seen[key], "repeats"))
            continue
        scan.seen[key] = (rulen, matchn)
        found = prefixed(rulen, matchn, match) if scan.kind == "http" else None
        if found is not None:
            scan.prefixes.append(found)
    if repeats and len(repeats) == len(matches):
        yield Unreachable(rulen, "repeated", tuple(r.by for r in repeats))
    else:
        yield from repeats


def _covered(scan: _Scan, gateways: frozenset[str]) -> Iterator[Ineffective]:
    """The overlap pass after the routes, once per covered match (at its first cover)."""
    for j, b in enumerate(scan.prefixes):
        for a in scan.prefixes[:j]:
            if a.prefix == b.prefix or not istio_covers(a, b):
                continue
            if really_covers(a.match, b.match, gateways):
                yield Ineffective(b.route, b.index, (a.route, a.index), "covers")
                break


def analyze(kind: str, value: Any, gateways: frozenset[str] = frozenset()) -> list[Result]:
    """Istio's analyzeUnreachable{HTTP,TCP,TLS}Rules over one route list."""
    scan = _Scan(kind)
    found: list[Result] = []
    for rulen, _, matches in routes(value):
        found += _route(scan, rulen, matches)
    return found + list(_covered(scan, gateways))


# ---- findings ------------------------------------------------------------------------------
def _names(vs: Resource, kind: str) -> dict[int, str]:
    out = {}
    for i, route, _ in routes(vs.spec.get(kind)):
        name = route.get("name") if kind == "http" else None
        out[i] = f'{kind}[{i}] "{name}"' if isinstance(name, str) and name else f"{kind}[{i}]"
    return out


def _match_text(kind: str, at: tuple[int, int | None]) -> str:
    route, match = at
    return f"{kind}[{route}]" if match is None else f"{kind}[{route}].match[{match}]"


def _related(
    vs: Resource, kind: str, by: Sequence[tuple[int, int | None]], why: str
) -> list[Related]:
    out = []
    for route, match in dict.fromkeys(by):
        path: Path = (
            ("spec", kind, route) if match is None else ("spec", kind, route, "match", match)
        )
        out.append(related(vs, path, why))
    return out


def _unreachable(vs: Resource, kind: str, u: Unreachable, names: dict[int, str]) -> Finding:
    first = names.get(u.by[0][0], f"{kind}[{u.by[0][0]}]")
    traffic = _TRAFFIC[kind]
    if u.why == "again":
        text = (
            f"has no match, and neither has {first} before it, which takes every {traffic} "
            f"first; istioctl analyze reports {UNREACHABLE}. Keep one route without match, last"
        )
        why = "has no match: takes every " + traffic
    elif u.why == "after":
        text = (
            f"comes after {first}, which has no match and takes every {traffic} first; "
            f"istioctl analyze reports {UNREACHABLE}. Move the route without match last"
        )
        why = "has no match: takes every " + traffic
    else:
        earlier = ", ".join(dict.fromkeys(_match_text(kind, b) for b in u.by))
        text = (
            f"only repeats matches of earlier routes ({earlier}), which take that traffic "
            f"first; istioctl analyze reports {UNREACHABLE}, and {INEFFECTIVE} for each match. "
            "Remove the route or change its matches"
        )
        why = "has the same match, first"
    return RULE.at(
        vs,
        ("spec", kind, u.route),
        f"{vs.ref}: route {names.get(u.route, f'{kind}[{u.route}]')} is never used: it {text}.",
        _related(vs, kind, u.by, why),
    )


def _ineffective(vs: Resource, kind: str, i: Ineffective) -> Finding:
    here, there = _match_text(kind, (i.route, i.index)), _match_text(kind, i.by)
    if i.why == "repeats":
        how = f"repeats {there}, which takes the same traffic first"
        why, fix = "the same match, first", "Remove the match."
    else:
        prefix = as_map(vs.get("spec", kind, i.by[0], "match", i.by[1], "uri")).get("prefix")
        how = f"is covered by {there} (uri prefix '{prefix}'), which takes all its requests first"
        why = "covers the later match"
        fix = "Remove the match, or put the more specific match (the longer prefix) first."
    f = RULE.at(
        vs,
        ("spec", kind, i.route, "match", i.index),
        f"{vs.ref}: match {here} is never used: it {how}; istioctl analyze reports "
        f"{INEFFECTIVE}. {fix}",
        _related(vs, kind, [i.by], why),
    )
    f.level = "note"
    return f


def _vs_gateways(vs: Resource) -> frozenset[str]:
    return frozenset(str(g) for g in as_list(vs.spec.get("gateways"))) or frozenset({"mesh"})


def check(ctx: Context) -> Iterator[Finding]:
    for vs in ctx.graph.of_kind("VirtualService"):
        for kind in ("http", "tcp", "tls"):
            names = _names(vs, kind)
            for found in analyze(kind, vs.spec.get(kind), _vs_gateways(vs)):
                if isinstance(found, Unreachable):
                    yield _unreachable(vs, kind, found, names)
                else:
                    yield _ineffective(vs, kind, found)
