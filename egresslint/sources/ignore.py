"""What git ignores, for discovery: the ``.gitignore`` files of a work tree and its
``.git/info/exclude``, matched with ``pathspec.GitIgnoreSpec``.

An ignore file's patterns apply to paths relative to its own folder; for an entry, the ignore
files of its folder and of the folders above it (up to the top of the work tree) are asked
deepest first, and the first that has a verdict (its last matching pattern, ``!`` negations
included) decides; ``.git/info/exclude`` comes last. A walk never enters an ignored folder, so,
as in git, a negation cannot bring back a file below an ignored folder. Each ignore file is
read and compiled once per discovery; an unreadable, oversized or non-regular one is ignored.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

GIT = ".git"
GITIGNORE = ".gitignore"
MAX_IGNORE_BYTES = 1024 * 1024  # far above real ignore files; a larger one is not read
_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")
_FLOATING = "^(?:.+/)?"


class Rules:
    """One compiled ignore file."""

    __slots__ = ("spec", "quick")

    def __init__(self, spec: GitIgnoreSpec) -> None:
        self.spec = spec
        self.quick = _any_pattern(spec)

    def verdict(self, path: str) -> bool | None:
        """True: ignored, False: re-included by a ``!`` pattern, None: no pattern matches.
        ``path`` is relative to the file's folder, with a trailing ``/`` for a folder."""
        if self.quick is not None and self.quick.match(path) is None:
            return None  # the common case: one regex call instead of one per pattern
        include: bool | None = self.spec.check_file(path).include
        return include


# The ignore files that apply in one folder, shallowest first: (rules, the folder's path
# relative to the rules' folder, "" or ending in "/").
Chain = tuple[tuple[Rules, str], ...]


def _any_pattern(spec: GitIgnoreSpec) -> re.Pattern[str] | None:
    """One regex that matches (``re.match``) where any pattern of ``spec`` matches (it may
    also match where none does: the spec decides then), or None when a pattern has no plain
    regex (then every check asks the spec).

    The regexes that start with ``^(?:.+/)?`` (patterns that apply at any depth) share one
    backtracking scan for the slashes instead of one scan each; the other ``^`` regexes are
    tried at the start; the rest (pathspec searches them) anywhere."""
    groups: tuple[dict[str, None], ...] = ({}, {}, {})  # anchored, any depth, anywhere
    for pattern in spec.patterns:
        if pattern.include is None:
            continue  # comments and blank lines
        regex = getattr(pattern, "regex", None)
        if not isinstance(regex, re.Pattern) or regex.flags & ~re.UNICODE:
            return None
        text = _NAMED_GROUP.sub("(?:", regex.pattern)
        if text.startswith(_FLOATING):
            groups[1][text[len(_FLOATING) :]] = None
        else:
            groups[0 if text.startswith("^") else 2][text.removeprefix("^")] = None
    heads = ("", "(?:(?s:.*)/)?", "(?s:.*?)")
    parts = [head + "(?:" + "|".join(g) + ")" for head, g in zip(heads, groups, strict=True) if g]
    try:
        return re.compile("|".join(parts) or "(?!)")
    except re.error:
        return None


def ignored(chain: Chain, name: str, folder: bool) -> bool:
    """Whether git ignores the entry ``name`` (a folder when ``folder``) of the folder whose
    chain this is."""
    suffix = name + "/" if folder else name
    for rules, prefix in reversed(chain):
        verdict = rules.verdict(prefix + suffix)
        if verdict is not None:
            return verdict
    return False


def descend(chain: Chain | None, name: str) -> Chain | None:
    """The chain of the subfolder ``name``."""
    if not chain:
        return chain
    return tuple((rules, prefix + name + "/") for rules, prefix in chain)


def work_tree(folder: str) -> str | None:
    """The nearest folder at or above ``folder`` with a ``.git`` entry, or None."""
    folder = os.path.abspath(folder)
    while True:
        if os.path.lexists(os.path.join(folder, GIT)):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _read(path: str) -> str | None:
    """The text of a regular file (never a FIFO, device or symlink; git does not follow
    symlinked ignore files either), or None."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        regular = stat.S_ISREG(st.st_mode) and st.st_size <= MAX_IGNORE_BYTES
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
        return None
    try:
        with open(fd, "rb") as handle:  # closes fd
            data = handle.read(MAX_IGNORE_BYTES + 1)
    except OSError:
        return None
    text = data.decode("utf-8", "surrogateescape")  # as scandir gives undecodable names
    return text.removeprefix("\ufeff")


def _info_exclude(top: str) -> str:
    """``info/exclude`` of the work tree's git folder (``.git`` itself, or the one a ``.git``
    file names, as in linked work trees and submodules)."""
    git = os.path.join(top, GIT)
    if os.path.isdir(git):
        return os.path.join(git, "info", "exclude")
    text = _read(git) or ""
    if text.startswith("gitdir:"):
        git = os.path.join(top, text[len("gitdir:") :].strip())
        common = _read(os.path.join(git, "commondir"))
        if common and common.strip():
            git = os.path.join(git, common.strip())
    return os.path.join(git, "info", "exclude")


def _compile(lines: list[str]) -> GitIgnoreSpec:
    from pathspec import GitIgnoreSpec  # on first use: a run outside git never imports it

    try:
        return GitIgnoreSpec.from_lines(lines)
    except ValueError:  # git skips a line it cannot use; so do we
        return GitIgnoreSpec.from_lines(line for line in lines if _valid(line))


def _valid(line: str) -> bool:
    from pathspec import GitIgnoreSpec

    try:
        GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True


class GitIgnores:
    """The ignore files met by one discovery, each read and compiled once."""

    def __init__(self) -> None:
        self._rules: dict[str, Rules | None] = {}

    def rules(self, path: str) -> Rules | None:
        """The compiled ignore file at ``path``; None when unreadable or without patterns."""
        path = os.path.abspath(path)
        if path not in self._rules:
            text = _read(path)
            lines = [ln for ln in (text or "").splitlines() if ln.strip() and ln[0] != "#"]
            self._rules[path] = Rules(_compile(lines)) if lines else None
        return self._rules[path]

    def above(self, root: str) -> Chain | None:
        """The chain for the entries of the walked folder ``root`` from the ignore files above
        it (its own are read when it is listed); None outside a git work tree. A folder
        asked for by name is walked even if git ignores it: then those files do not apply."""
        folder = os.path.abspath(root)
        top = work_tree(folder)
        if top is None:
            return None
        rel = os.path.relpath(folder, top)
        if rel == os.curdir:
            return ()  # the walk reads the top's .git and .gitignore itself
        parts = rel.split(os.sep)
        found: list[tuple[Rules | None, str]] = [
            (self.rules(_info_exclude(top)), "/".join(parts) + "/")
        ]
        for i in range(len(parts)):
            here = os.path.join(top, *parts[:i], GITIGNORE)
            found.append((self.rules(here), "/".join(parts[i:]) + "/"))
        chain = tuple((rules, prefix) for rules, prefix in found if rules is not None)
        root_ignored = ignored(chain, "", False)  # the prefixes name the root, with its "/"
        return () if root_ignored else chain

    def enter(self, chain: Chain | None, folder: str, names: Collection[str]) -> Chain | None:
        """The chain for the entries of ``folder`` (listed: ``names``), given its own: a
        ``.git`` entry starts a work tree, a ``.gitignore`` adds its patterns."""
        if GIT in names:
            exclude = self.rules(_info_exclude(folder))
            chain = ((exclude, ""),) if exclude is not None else ()
        if chain is not None and GITIGNORE in names:
            own = self.rules(os.path.join(folder, GITIGNORE))
            if own is not None:
                chain = (*chain, (own, ""))
        return chain
