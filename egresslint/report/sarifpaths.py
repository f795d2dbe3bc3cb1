"""Where SARIF artifact URIs point: ``%SRCROOT%`` and each file's URI relative to it.

GitHub code scanning maps a result to a repository file by a URI relative to the root of the
repository (or an absolute ``file://`` URI under the checkout). So the root, ``%SRCROOT%`` in
``originalUriBaseIds``, is, in this order: the folder ``--sarif-root`` names; the top of the
git work tree that holds the inputs (``git rev-parse --show-toplevel``); the working folder,
when the inputs lie inside it. A file under the root gets a URI relative to it (with
``uriBaseId``), any other file an absolute ``file://`` URI without one, and standard input the
relative URI ``%3Cstdin%3E`` ("<stdin>"), which maps to no file. This module is light (no
sarif-om): ``check`` consults it before the run cache is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import NamedTuple
from urllib.parse import quote_from_bytes

from ..lint import identity
from ..model import Finding
from ..sources.discover import STDIN
from ..sources.gitroot import git_root

SRCROOT = "%SRCROOT%"
STDIN_SHOWN = "<stdin>"  # how the run shows standard input
STDIN_URI = quote_from_bytes(STDIN_SHOWN.encode())  # %3Cstdin%3E: relative, and no file's name

# what %SRCROOT% is, by how it was found (its description in the log)
FROM_OPTION = "option"
FROM_GIT = "git"
FROM_WORKING_FOLDER = "working folder"
DESCRIPTIONS = {
    FROM_OPTION: "The folder given with --sarif-root.",
    FROM_GIT: "The top of the git work tree that holds the linted files.",
    FROM_WORKING_FOLDER: "The folder egresslint ran in (the linted files are in no git work tree).",
}


class Artifact(NamedTuple):
    """Where a shown path points in the log: ``uri`` (percent-encoded), ``base_id``
    (``%SRCROOT%``, or None for an absolute URI or standard input) and ``path``, the file
    relative to the root (POSIX), its absolute path when outside it, or ``<stdin>``."""

    uri: str
    base_id: str | None
    path: str

    @property
    def mapped(self) -> bool:
        """Whether code scanning can map it to a repository file."""
        return self.base_id is not None


def _encoded(path: str) -> bytes:
    try:
        return os.fsencode(path)  # undecodable file names come back as their own bytes
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return path.encode("utf-8", "surrogatepass")


def uri_of(relative: str) -> str:
    """A relative POSIX path as a URI reference: every byte but unreserved ones and ``/``
    percent-encoded (so ``:`` in a first segment cannot read as a scheme)."""
    return quote_from_bytes(_encoded(relative), safe="/")


def file_uri(absolute: str) -> str:
    """The ``file://`` URI of an absolute path (percent-encoded like ``uri_of``)."""
    posix = PurePath(absolute).as_posix()
    posix = posix if posix.startswith("/") else "/" + posix  # C:/x -> /C:/x
    return "file://" + quote_from_bytes(_encoded(posix), safe="/")


@dataclass
class Where:
    """How the shown paths of one run become artifact URIs. ``base``: the absolute folder
    shown paths are relative to; ``root``: the real path of ``%SRCROOT%``, or None when
    every URI is absolute; ``found``: how the root was chosen (``FROM_*``)."""

    base: str
    root: str | None
    found: str = FROM_WORKING_FOLDER
    _known: dict[str, Artifact] = field(default_factory=dict, repr=False)
    _ids: identity.Identities | None = field(default=None, repr=False)

    @property
    def root_uri(self) -> str | None:
        """``originalUriBaseIds.%SRCROOT%.uri``: absolute, ending in a slash."""
        if self.root is None:
            return None
        uri = file_uri(self.root)
        return uri if uri.endswith("/") else uri + "/"

    @property
    def key(self) -> str:
        """What the run cache's report key needs to know of it."""
        return f"sarif-root={self.found}:{self.root}"

    def artifact(self, shown: str) -> Artifact:
        known = self._known.get(shown)
        if known is None:
            known = self._known[shown] = self._artifact(shown)
        return known

    def _artifact(self, shown: str) -> Artifact:
        if shown == STDIN_SHOWN:
            return Artifact(STDIN_URI, None, STDIN_SHOWN)
        absolute = os.path.abspath(os.path.join(self.base, shown))
        relative = self.relative(absolute)
        if relative is not None:
            return Artifact(uri_of(relative), SRCROOT, relative)
        return Artifact(file_uri(absolute), None, PurePath(absolute).as_posix())

    def identity(self, finding: Finding) -> str:
        """The finding's identity (``lint.identity``) with its file as the log locates it:
        relative to the root, so the same wherever the repository is checked out and
        whichever folder egresslint ran in."""
        message = None
        if finding.resource is None and self.root is not None:
            if self._ids is None:
                self._ids = identity.Identities(self.root, self.base)
            message = self._ids.message(finding.message)
        return identity.identity(finding, self.artifact(finding.file.path).path, message)

    def relative(self, absolute: str) -> str | None:
        """``absolute`` relative to the root (POSIX), or None outside it. The file's folder is
        resolved (the root is a real path), the file itself is not: a symlink in the tree
        stays where it is."""
        if self.root is None:
            return None
        real = os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))
        try:
            rel = os.path.relpath(real, self.root)
        except ValueError:  # another drive
            return None
        if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
            return None
        return PurePath(rel).as_posix()


def find(paths: list[str], base: str, sarif_root: str | None = None) -> Where:
    """The ``Where`` of a run over ``paths`` (as given: relative to ``base``, or ``-``):
    ``sarif_root`` when given, else the git work tree of the first input in one, else
    ``base`` when an input lies inside it, else no root."""
    base = os.path.abspath(base)
    if sarif_root is not None:
        return Where(base, os.path.realpath(os.path.join(base, sarif_root)), FROM_OPTION)
    files = [os.path.abspath(os.path.join(base, p)) for p in paths if p != STDIN] or [base]
    for folder in dict.fromkeys(p if os.path.isdir(p) else os.path.dirname(p) for p in files):
        top = git_root(Path(folder))
        if top is not None:
            return Where(base, str(top), FROM_GIT)
    here = Where(base, os.path.realpath(base), FROM_WORKING_FOLDER)
    if any(p == base or here.relative(p) is not None for p in files):
        return here
    return Where(base, None, FROM_WORKING_FOLDER)
