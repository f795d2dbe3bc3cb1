"""Rendering kustomizations with the real engine: planned, checked, cached, run on both cores.

``plan`` finds the kustomizations among the linted folders, follows what each includes, and
marks as entry points those that no other one includes. It refuses, before anything runs, a
render that would leave the linted tree: a remote base (unless ``--render-remote``), a
local path or symlink that resolves outside the tree. Each plan carries a cache key: the
renderer's identity and the bytes of every file under every folder the render may read
(kustomize's default load restrictor keeps a kustomization's reads below its own folder), so
a second run over an unchanged tree reuses the output and starts no process.

``render_all`` runs kustomize on a wrapper kustomization in a private temporary folder that
includes the entry point by a relative path and adds ``buildMetadata`` (origin and
transformer annotations), so nothing is written into the user's folders and the user's own
kustomizations keep the default load restrictor. Plugins, exec functions and Helm stay off.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from .. import runtime
from ..parse import cache, cachedir
from . import tools
from .kustomize import Kustomization, Ref, inside, read

FORMAT = b"egresslint-render-v1\n"
WRAPPER = "kustomization.yaml"
BUILD_METADATA = "buildMetadata: [originAnnotations, transformerAnnotations]\n"


@dataclass
class Refusal:
    """Why a kustomization is not rendered, at the reference that causes it."""

    where: Kustomization
    ref: Ref | None
    message: str
    level: str = "warning"


@dataclass
class Plan:
    """One entry point: the kustomizations its render reads, and what stops it."""

    entry: Kustomization
    closure: list[Kustomization] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    key: str = ""

    @property
    def files(self) -> set[str]:
        """Real paths of the files the render includes (linted through it, not as plain
        manifests), the kustomization files among them."""
        out = {k.source_real for k in self.closure if k.source_real} if self.closure else set()
        out |= {r.real for k in self.closure for r in k.files()}
        return out


@dataclass
class Rendered:
    """A render's output (None when it failed: see ``error``) and where its wrapper stood
    (origin annotations are relative to it)."""

    plan: Plan
    output: bytes | None
    wrapper: str
    error: str = ""
    cached: bool = False


@dataclass
class Planned:
    """Every kustomization of the linted folders, and the entry points to render."""

    kustomizations: dict[str, Kustomization]  # by real folder
    plans: list[Plan]
    tool: tools.Tool | None

    def included_files(self) -> set[str]:
        out: set[str] = set()
        for plan in self.plans:
            out |= plan.files
        for k in self.kustomizations.values():
            out |= {r.real for r in k.files()}
            if k.source_real:
                out.add(k.source_real)
        return out


# ---- planning ----------------------------------------------------------------------------
def plan(
    folders: Sequence[tuple[str, str]],
    roots: Sequence[str],
    tool: tools.Tool | None,
    remote: bool = False,
    loaded: dict[str, Kustomization] | None = None,
) -> Planned:
    """``folders``: (real folder, shown folder) of the kustomizations found; ``roots``: the
    boundaries renders may read from."""
    known = dict(loaded or {})
    for real, shown in folders:
        if real not in known:
            known[real] = read(real, shown)
    included = {r.real for k in list(known.values()) for r in k.folders()}
    entries = [known[real] for real, _ in folders if real not in included]
    scans: dict[str, Scan] = {}
    plans = [_plan_one(k, known, roots, remote, scans) for k in entries]
    for p in plans:
        if not p.refusals:
            p.key = _key(p, tool, remote, scans)
    return Planned(known, plans, tool)


def _plan_one(
    entry: Kustomization,
    known: dict[str, Kustomization],
    roots: Sequence[str],
    remote: bool,
    scans: dict[str, Scan],
) -> Plan:
    out = Plan(entry)
    pending, seen = [entry], {entry.folder}
    while pending:
        k = pending.pop(0)
        out.closure.append(k)
        if k.folder not in scans:
            scans[k.folder] = scan_folder(k.folder, roots)
        out.refusals += _refusals(k, roots, remote, scans[k.folder])
        for ref in k.folders():
            if ref.real in seen or not inside(ref.real, roots):
                continue
            seen.add(ref.real)
            if ref.real not in known:
                known[ref.real] = read(ref.real, _shown_child(k, ref))
            pending.append(known[ref.real])
    return out


def _shown_child(parent: Kustomization, ref: Ref) -> str:
    joined = os.path.normpath(os.path.join(parent.shown or ".", ref.value))
    return joined.replace(os.sep, "/")


def _refusals(
    k: Kustomization, roots: Sequence[str], remote: bool, scan: Scan
) -> Iterable[Refusal]:
    if k.problem:
        yield Refusal(k, None, f"{k.source.path} {k.problem}", "error")
    refused = list(_ref_refusals(k, roots, remote))
    yield from refused
    locals_ = {os.path.normpath(os.path.join(k.folder, r.ref.value)) for r in refused if r.ref}
    for link in scan.links_outside:
        if os.path.normpath(os.path.join(k.folder, link)) not in locals_:
            yield Refusal(
                k,
                None,
                f"'{link}' is a symlink to a path outside the linted tree; egresslint does not "
                "render a kustomization that could read through it.",
            )
            return  # one is enough to name


def _ref_refusals(k: Kustomization, roots: Sequence[str], remote: bool) -> Iterator[Refusal]:
    for ref in k.refs:
        if ref.kind == "remote" and not remote:
            yield Refusal(
                k,
                ref,
                f"'{ref.value}' is a remote base; egresslint does not fetch it unless run with "
                "--render-remote, so this kustomization is not rendered or linted.",
            )
        elif ref.kind != "remote" and not inside(ref.real, roots):
            yield Refusal(
                k,
                ref,
                f"'{ref.value}' resolves outside the linted tree; egresslint does not read it, "
                "so this kustomization is not rendered or linted. Lint from a folder that "
                "contains it (the repository root), or remove the reference.",
            )


# ---- cache keys ------------------------------------------------------------------------------
def _key(p: Plan, tool: tools.Tool | None, remote: bool, scans: dict[str, Scan]) -> str:
    digest = hashlib.blake2b(FORMAT, digest_size=20)
    digest.update((tool.identity if tool else "no tool").encode("utf-8", "surrogatepass"))
    digest.update(b"\0remote" if remote else b"\0local")
    digest.update(b"\0" + p.entry.folder.encode("utf-8", "surrogatepass"))
    for k in sorted(p.closure, key=lambda k: k.folder):
        digest.update(k.folder.encode("utf-8", "surrogatepass") + scans[k.folder].digest)
    return digest.hexdigest()


@dataclass
class Scan:
    """One walk of a kustomization folder: the digest of every file below it (not .git),
    which is what a render may read, and the symlinks that point outside the tree."""

    digest: bytes
    links_outside: list[str]


def scan_folder(folder: str, roots: Sequence[str]) -> Scan:
    digest = hashlib.blake2b(digest_size=20)
    links: list[str] = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in (*sorted(names), *dirs):
            path = os.path.join(top, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            if os.path.islink(path) and not inside(os.path.realpath(path), roots):
                links.append(rel)
            elif name in names:
                digest.update(rel.encode("utf-8", "surrogatepass") + b"\0" + _file_digest(path))
    return Scan(digest.digest(), links)


def _file_digest(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return hashlib.blake2b(handle.read(), digest_size=20).digest()
    except OSError:
        return b"\1unreadable"


# ---- rendering -----------------------------------------------------------------------------
def render_all(
    planned: Planned, use_cache: bool = True, timeout: float = tools.DEFAULT_TIMEOUT
) -> list[Rendered]:
    """Render every plan without refusals, cached ones from the cache, the rest on all cores."""
    store = cache.ParseCache.open(cachedir.RENDER_STORE) if use_cache else None
    todo = [p for p in planned.plans if not p.refusals and planned.tool is not None]
    found = store.get_many(p.key for p in todo) if store is not None else {}
    done: dict[int, Rendered] = {}
    missing = []
    for p in todo:
        hit = _unpack(p, found.get(p.key))
        if hit is not None:
            done[id(p)] = hit
        else:
            missing.append(p)
    if missing and planned.tool is not None:
        for r in _run_many(missing, planned.tool, timeout):
            done[id(r.plan)] = r
        if store is not None:
            fresh = [r for r in done.values() if not r.cached and r.output is not None]
            store.put_many((r.plan.key, _pack(r)) for r in fresh)
    return [done[id(p)] for p in todo if id(p) in done]


def _run_many(plans: list[Plan], tool: tools.Tool, timeout: float) -> list[Rendered]:
    workers = max(1, min(runtime.cpu_count(), len(plans)))
    from concurrent.futures import ThreadPoolExecutor  # only when something renders

    with ThreadPoolExecutor(max_workers=workers) as pool:  # the work is in the child processes
        return list(pool.map(lambda p: render_one(p, tool, timeout), plans))


def render_one(p: Plan, tool: tools.Tool, timeout: float = tools.DEFAULT_TIMEOUT) -> Rendered:
    wrapper = tempfile.mkdtemp(prefix="egresslint-render-")
    try:
        entry = os.path.relpath(p.entry.folder, wrapper).replace(os.sep, "/")
        with open(os.path.join(wrapper, WRAPPER), "w", encoding="utf-8") as handle:
            handle.write(f"resources:\n- {entry}\n{BUILD_METADATA}")
        args = [*tool.argv, wrapper, "--load-restrictor", "LoadRestrictionsRootOnly"]
        ran = tools.run(args, timeout=timeout)
    finally:
        shutil.rmtree(wrapper, ignore_errors=True)
    return Rendered(p, ran.output, wrapper, clean_error(ran.error, wrapper, entry, p.entry))


_COMMAND_FAILED = re.compile(r'^"command failed" err=<?\s*(.*?)\s*>?$', re.DOTALL)
_WRAPPED = re.compile(
    r"accumulating resources: accumulation err='accumulating resources from '[^']*': "
    r"'[^']*' must resolve to a file': (?:recursed accumulation of path '[^']*': )?"
)


def clean_error(error: str, wrapper: str, entry: str, k: Kustomization) -> str:
    """kustomize's own message, without what the wrapper adds (kubectl's log framing, the
    wrapper's accumulation of the entry point) and with the entry point's folder as reports
    show it instead of absolute or wrapper-relative paths."""
    found = _COMMAND_FAILED.match(error.strip())
    text = found.group(1) if found else error.removeprefix("Error: ")
    if len(text) > 1 and text[0] == text[-1] == '"':
        text = text[1:-1]
    text = _WRAPPED.sub("", text)
    shown = k.shown if k.shown not in ("", ".") else "."
    for path in (k.folder, os.path.join(wrapper, entry), entry, wrapper):
        text = text.replace(path, shown)
    return text.strip()


def _pack(r: Rendered) -> bytes:
    head = r.wrapper.encode("utf-8", "surrogatepass")
    body = r.output if r.output is not None else r.error.encode("utf-8", "replace")
    status = b"O" if r.output is not None else b"E"
    return status + len(head).to_bytes(4, "little") + head + body


def _unpack(p: Plan, blob: bytes | None) -> Rendered | None:
    if blob is None or len(blob) < 5 or blob[:1] not in (b"O", b"E"):
        return None
    size = int.from_bytes(blob[1:5], "little")
    wrapper = blob[5 : 5 + size].decode("utf-8", "surrogatepass")
    body = blob[5 + size :]
    if blob[:1] == b"O":
        return Rendered(p, body, wrapper, cached=True)
    return Rendered(p, None, wrapper, body.decode("utf-8", "replace"), cached=True)
