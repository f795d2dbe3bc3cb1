"""The tree of a git revision, written to a private temporary folder, for ``--diff REF``.

Usage (the copy is removed when the block ends)::

    with revision.checkout("HEAD", ["clusters/"]) as copy:
        lint(copy.paths, base=copy.map(os.getcwd()))

``copy.paths`` are the given paths as they stand in the copy (those that exist at REF);
``copy.map(path)`` says where any path of the work tree lives in it. The copy keeps the
repository's layout below ``copy.root`` (which stands for the work tree's top folder) and holds
an empty ``.git`` folder, so what depends on the work tree's top (the folder renders may read,
repository-relative paths of Argo CD and Flux, ``.gitignore`` files) behaves as in the work
tree; the work tree's ``.git/info/exclude`` is copied too.

Only git's object store is read (``git ls-tree``, ``git cat-file --batch``): nothing is
checked out, and the work tree, the index and HEAD are never touched. Not every file of the
revision is written, only what a lint run may read: YAML files (and ``Kustomization``), the
files given by name, ignore files, and every file below a folder holding a kustomization or a
Helm ``Chart.yaml`` (kustomize's default load restrictor and Helm read only below those).
Symlinks are recreated as they are in the tree (after every file, so a link never redirects a
write); submodules are not written; a path that git itself refuses to check out (``..`` or
``.git`` components) is skipped.

A repository without any commit has an unborn ``HEAD``: ``HEAD`` then stands for the empty
tree (every finding of the work tree is new, as in the first commit). Any other revision
that git cannot resolve is an error. Errors are :class:`RevisionError`, with a one-line
message.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO

STDIN = "-"
EMPTY = "empty"  # the tree of an unborn HEAD
# set inside git hooks; they would name the hook's repository, not the one the paths are in
_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_PREFIX")
_FOLDER_MARKERS = frozenset(
    {"kustomization.yaml", "kustomization.yml", "Kustomization", "Chart.yaml"}
)
_READ_NAMES = frozenset({"Kustomization", ".gitignore", ".helmignore"})
_READ_SUFFIXES = (".yaml", ".yml")
_LINK, _SUBMODULE, _EXECUTABLE = "120000", "160000", "100755"


class RevisionError(Exception):
    """Why a revision cannot be compared with: one line, for the user."""


@dataclass(frozen=True)
class Revision:
    """A resolved revision: ``tree`` is its tree id (``EMPTY`` for an unborn HEAD), ``top``
    the work tree's top folder (a real path)."""

    ref: str
    tree: str
    top: str


@dataclass(frozen=True)
class Checkout:
    """The tree of ``revision`` written below ``root``; ``paths``: the linted paths in the
    copy that exist at the revision, ``missing``: the given paths that do not."""

    revision: Revision
    root: str
    paths: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def map(self, path: str) -> str:
        """Where ``path`` of the work tree lives in the copy (``path`` itself when it is
        outside the work tree)."""
        rel = _relative(path, self.revision.top)
        return path if rel is None else os.path.normpath(os.path.join(self.root, rel))


def resolve(ref: str, paths: Sequence[str]) -> Revision:
    """The revision ``ref`` of the git repository that holds ``paths`` (every one must be
    inside its work tree); reads nothing but git's references."""
    if not ref or ref.startswith("-"):
        raise RevisionError(f"--diff: '{ref}' is not a git revision")
    if STDIN in paths:
        raise RevisionError("--diff: standard input has no earlier revision to compare with")
    top = _top(paths[0] if paths else ".")
    for path in paths:
        if _relative(path, top) is None:
            raise RevisionError(f"--diff: {path} is outside the git repository at {top}")
    return Revision(ref, _tree(ref, top), top)


@contextlib.contextmanager
def checkout(ref: str, paths: Sequence[str]) -> Iterator[Checkout]:
    """The tree of ``ref`` for ``paths`` in a private temporary folder, removed afterwards."""
    revision = resolve(ref, paths)
    root = os.path.realpath(tempfile.mkdtemp(prefix="egresslint-revision-"))
    try:
        try:
            _write_tree(revision, root, [_relative(p, revision.top) or "." for p in paths])
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise RevisionError(f"--diff: cannot write the tree of {ref}: {why}") from None
        copy = Checkout(revision, root)
        for path in paths:
            mapped = copy.map(path)
            if os.path.lexists(mapped):
                copy.paths.append(mapped)
            else:
                copy.missing.append(path)
        yield copy
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---- git --------------------------------------------------------------------------------------
def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _REDIRECTS}


def _git(top: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", top, *args], capture_output=True, env=_env(), check=False
        )
    except OSError as exc:
        raise RevisionError(
            f"--diff needs git, which cannot be run: {exc.strerror or exc}"
        ) from None


def _said(data: bytes) -> str:
    """The last line git wrote to its standard error (the reason), without "fatal: "."""
    lines = os.fsdecode(data).strip().splitlines()
    return lines[-1].removeprefix("fatal: ") if lines else "git failed"


def _top(path: str) -> str:
    folder = os.path.abspath(path)
    if not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    done = _git(folder, "rev-parse", "--show-toplevel")
    top = os.fsdecode(done.stdout).strip()
    if done.returncode != 0 or not top:
        why = _said(done.stderr)
        raise RevisionError(f"--diff: {path} is not in a git work tree ({why})")
    return os.path.realpath(top)


def _tree(ref: str, top: str) -> str:
    done = _git(top, "rev-parse", "--verify", "--quiet", ref + "^{tree}")
    if done.returncode == 0:
        return os.fsdecode(done.stdout).strip()
    if ref == "HEAD" and _git(top, "symbolic-ref", "--quiet", "HEAD").returncode == 0:
        return EMPTY  # a branch without any commit yet
    raise RevisionError(f"--diff: unknown revision '{ref}' in the git repository at {top}")


def _real(path: str) -> str:
    """``path`` absolute, its folders' symlinks resolved (its own name kept)."""
    absolute = os.path.abspath(path)
    return os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))


def _relative(path: str, top: str) -> str | None:
    """``path`` relative to ``top`` ("." for the top itself), or None outside it."""
    try:
        rel = os.path.relpath(_real(path), top)
    except ValueError:  # another drive
        return None
    return None if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


# ---- writing the tree -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    mode: str
    oid: str
    path: str  # relative, with "/" separators, as git lists it (file system encoding)


def _list(revision: Revision) -> list[_Entry]:
    if revision.tree == EMPTY:
        return []
    done = _git(revision.top, "ls-tree", "-r", "-z", "--full-tree", revision.tree)
    if done.returncode != 0:
        raise RevisionError(f"--diff: cannot list {revision.ref}: {_said(done.stderr)}")
    entries = []
    for record in done.stdout.split(b"\0"):
        head, _, name = record.partition(b"\t")
        parts = head.split()
        if len(parts) == 3 and name:
            entries.append(_Entry(parts[0].decode(), parts[2].decode(), os.fsdecode(name)))
    return entries


def _safe(path: str) -> bool:
    parts = path.split("/")
    return all(p not in ("", ".", "..") and p.lower() != ".git" for p in parts)


def _wanted(entries: list[_Entry], given: list[str]) -> list[_Entry]:
    """What a lint run may read (see the module's docstring)."""
    marked = {e.path.rpartition("/")[0] for e in entries if _name(e.path) in _FOLDER_MARKERS}
    named = {g.replace(os.sep, "/") for g in given}
    out = []
    for e in entries:
        if e.mode == _SUBMODULE or not _safe(e.path):
            continue
        name = _name(e.path)
        if (
            e.mode == _LINK
            or name.endswith(_READ_SUFFIXES)
            or name in _READ_NAMES
            or e.path in named
            or any(folder in marked for folder in _folders(e.path))
        ):
            out.append(e)
    return out


def _name(path: str) -> str:
    return path.rpartition("/")[2]


def _folders(path: str) -> Iterator[str]:
    """The folders holding ``path``, deepest first ("" for the top)."""
    while "/" in path:
        path = path.rpartition("/")[0]
        yield path
    yield ""


def _write_tree(revision: Revision, root: str, given: list[str]) -> None:
    os.mkdir(os.path.join(root, ".git"))  # marks the copy's top like a work tree's
    _copy_exclude(revision.top, root)
    wanted = _wanted(_list(revision), given)
    files = [e for e in wanted if e.mode != _LINK]
    links = [e for e in wanted if e.mode == _LINK]
    for entry, data in _blobs(revision.top, files):
        _write_file(root, entry, data)
    for entry, data in _blobs(revision.top, links):
        target = os.path.join(root, *entry.path.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with contextlib.suppress(OSError):  # a name taken twice (case-insensitive disks)
            os.symlink(os.fsdecode(data), target)


def _copy_exclude(top: str, root: str) -> None:
    done = _git(top, "rev-parse", "--git-path", "info/exclude")
    source = os.path.join(top, os.fsdecode(done.stdout).strip()) if done.returncode == 0 else ""
    if source and os.path.isfile(source):
        os.makedirs(os.path.join(root, ".git", "info"))
        with contextlib.suppress(OSError):
            shutil.copyfile(source, os.path.join(root, ".git", "info", "exclude"))


def _write_file(root: str, entry: _Entry, data: bytes) -> None:
    target = os.path.join(root, *entry.path.split("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    mode = 0o755 if entry.mode == _EXECUTABLE else 0o644
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, mode)
    except OSError:
        return  # a name taken twice (case-insensitive disks): the first stays
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _blobs(top: str, entries: list[_Entry]) -> Iterator[tuple[_Entry, bytes]]:
    """Each entry with its blob's bytes, read by one ``git cat-file --batch``."""
    if not entries:
        return
    try:
        proc = subprocess.Popen(
            ["git", "-C", top, "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_env(),
        )
    except OSError as exc:
        raise RevisionError(
            f"--diff needs git, which cannot be run: {exc.strerror or exc}"
        ) from None
    assert proc.stdin is not None and proc.stdout is not None
    feeder = threading.Thread(target=_feed, args=(proc.stdin, entries), daemon=True)
    feeder.start()
    try:
        for entry in entries:
            yield entry, _read_blob(proc.stdout, entry)
    finally:
        proc.stdout.close()
        proc.wait()
        feeder.join()


def _feed(stdin: IO[bytes], entries: list[_Entry]) -> None:
    try:
        for entry in entries:
            stdin.write(entry.oid.encode() + b"\n")
    except OSError:
        pass  # git stopped early: the reader reports it
    finally:
        with contextlib.suppress(OSError):
            stdin.close()


def _read_blob(stdout: IO[bytes], entry: _Entry) -> bytes:
    header = stdout.readline().split()
    if len(header) != 3 or header[1] != b"blob":
        raise RevisionError(f"--diff: git cannot read {entry.path} ({entry.oid})")
    size = int(header[2])
    data = stdout.read(size)
    stdout.read(1)  # the newline after each object
    if len(data) != size:
        raise RevisionError(f"--diff: git cannot read {entry.path} ({entry.oid})")
    return data
