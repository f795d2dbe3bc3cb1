"""The external renderers (kustomize, or kubectl's built-in kustomize, and helm): finding
them, knowing their versions, and running them on untrusted input.

Every run is bounded: a time limit, a cap on what is read of its output, an environment
without the caller's kubeconfig, Helm or Kustomize plugin settings, and a private home and
temporary folder, so a manifest under review cannot make a renderer run plugins, prompt for
credentials or fill the disk. Versions are asked once per binary and remembered in the cache
folder by the binary's path, size and modification time: a run whose renders all come from
the render cache starts no process at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..parse import cache, cachedir

DEFAULT_TIMEOUT = 120.0  # seconds per render
DEFAULT_MAX_OUTPUT = 256 * 1024 * 1024  # bytes read of a render's output
_VERSION = re.compile(r"v?(\d+\.\d+(?:\.\d+)?(?:[-+][\w.]+)?)")
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")
_lock = threading.Lock()


@dataclass(frozen=True)
class Tool:
    """A renderer found on this machine: the command to run and what it says it is."""

    name: str  # "kustomize", "kubectl kustomize" or "helm"
    argv: tuple[str, ...]  # the command, before its own arguments
    binary: str  # resolved path of the executable
    version: str  # "v5.7.1", or "" when it could not be told

    @property
    def identity(self) -> str:
        """What a cached render depends on: the command, and the binary as a file."""
        return f"{' '.join(self.argv)}\0{_stamp(self.binary)}\0{self.version}"

    @property
    def label(self) -> str:
        """How reports name it: ``kubectl kustomize (kustomize v5.5.0)``."""
        if not self.version:
            return self.name
        inner = "kustomize " if self.name == "kubectl kustomize" else ""
        return f"{self.name} ({inner}{self.version})" if inner else f"{self.name} {self.version}"


@dataclass
class Ran:
    """What one render printed: ``output`` (None when it failed) or ``error``."""

    output: bytes | None
    error: str = ""


def _stamp(binary: str) -> str:
    try:
        st = os.stat(binary)
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


def find_kustomize(command: str | None, use_cache: bool = True) -> Tool | None:
    """The configured command, else ``kustomize build``, else ``kubectl kustomize``."""
    if command:
        argv = tuple(shlex.split(command))
        return _tool(argv[0], argv, _kind_of(argv), use_cache) if argv else None
    for argv in (("kustomize", "build"), ("kubectl", "kustomize")):
        tool = _tool(argv[0], argv, _kind_of(argv), use_cache)
        if tool is not None:
            return tool
    return None


def find_helm(command: str | None, use_cache: bool = True) -> Tool | None:
    argv = tuple(shlex.split(command)) if command else ("helm",)
    return _tool(argv[0], argv, "helm", use_cache) if argv else None


def _kind_of(argv: tuple[str, ...]) -> str:
    return "kubectl kustomize" if os.path.basename(argv[0]).startswith("kubectl") else "kustomize"


def _tool(program: str, argv: tuple[str, ...], kind: str, use_cache: bool) -> Tool | None:
    binary = shutil.which(program)
    if binary is None:
        return None
    binary = os.path.realpath(binary)
    argv = (binary, *argv[1:])
    return Tool(kind, argv, binary, _version(kind, binary, use_cache))


def _version(kind: str, binary: str, use_cache: bool) -> str:
    key = f"{kind}\0{binary}\0{_stamp(binary)}"
    store = cache.folder() / cachedir.TOOL_STORE
    known = _read_json(store) if use_cache else {}
    cached = known.get(key)
    if isinstance(cached, str):
        return cached
    version = _ask_version(kind, binary)
    if use_cache:
        with _lock:
            fresh = _read_json(store)
            fresh[key] = version
            _write_json(store, fresh)
    return version


def _ask_version(kind: str, binary: str) -> str:
    if kind == "kubectl kustomize":
        args = [binary, "version", "--client", "-o", "json"]
    elif kind == "helm":
        args = [binary, "version", "--short"]
    else:
        args = [binary, "version"]
    ran = run(args, timeout=20.0, max_output=1 << 20)
    text = (ran.output or b"").decode("utf-8", "replace")
    if kind == "kubectl kustomize":
        with contextlib.suppress(ValueError, AttributeError):
            text = str(json.loads(text).get("kustomizeVersion", ""))
    found = _VERSION.search(text)
    return "v" + found.group(1) if found else ""


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, object]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except OSError:
        pass


def environment(home: str) -> dict[str, str]:
    """The caller's PATH and locale, and nothing that points a renderer at plugins,
    credentials, clusters or the caller's home."""
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    env.update(
        HOME=home,
        XDG_CONFIG_HOME=os.path.join(home, "config"),
        XDG_CACHE_HOME=os.path.join(home, "cache"),
        XDG_DATA_HOME=os.path.join(home, "data"),
        TMPDIR=home,
        KUBECONFIG=os.path.join(home, "no-kubeconfig"),
        HELM_CONFIG_HOME=os.path.join(home, "helm-config"),
        HELM_CACHE_HOME=os.path.join(home, "helm-cache"),
        HELM_DATA_HOME=os.path.join(home, "helm-data"),
        HELM_PLUGINS=os.path.join(home, "no-helm-plugins"),
        KUSTOMIZE_PLUGIN_HOME=os.path.join(home, "no-kustomize-plugins"),
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
    )
    return env


def run(
    args: list[str],
    timeout: float = DEFAULT_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
    cwd: str | None = None,
) -> Ran:
    """Run ``args`` with the bounded environment; never raises for the tool's own failures."""
    with tempfile.TemporaryDirectory(prefix="egresslint-home-") as home:
        try:
            proc = subprocess.Popen(
                args,
                cwd=cwd or home,
                env=environment(home),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            return Ran(None, f"cannot run {os.path.basename(args[0])}: {exc.strerror or exc}")
        return _collect(proc, timeout, max_output, os.path.basename(args[0]))


def _collect(proc: subprocess.Popen[bytes], timeout: float, limit: int, name: str) -> Ran:
    chunks: list[bytes] = []
    errors: list[bytes] = []
    size = [0]
    reader = threading.Thread(target=_read_limited, args=(proc, chunks, size, limit))
    err_reader = threading.Thread(target=_read_limited, args=(proc, errors, [0], 1 << 20, True))
    reader.start()
    err_reader.start()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return Ran(None, f"{name} did not finish within {timeout:g} s; stopped")
    finally:
        reader.join()
        err_reader.join()
    if size[0] > limit:
        return Ran(None, f"{name} printed more than {limit // (1024 * 1024)} MB; stopped")
    if proc.returncode != 0:
        return Ran(None, _message(b"".join(errors)) or f"{name} failed (exit {proc.returncode})")
    return Ran(b"".join(chunks))


def _read_limited(
    proc: subprocess.Popen[bytes], into: list[bytes], size: list[int], limit: int, err: bool = False
) -> None:
    stream = proc.stderr if err else proc.stdout
    assert stream is not None
    while True:
        block = stream.read(65536)
        if not block:
            return
        size[0] += len(block)
        if size[0] > limit:
            _kill(proc)
            return
        into.append(block)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, 9)
    with contextlib.suppress(OSError):
        proc.kill()


def _message(stderr: bytes) -> str:
    """The renderer's own error, without log prefixes, on one line."""
    text = stderr.decode("utf-8", "replace").strip()
    lines = [re.sub(r"^[EWI]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] ", "", ln) for ln in text.splitlines()]
    text = " ".join(ln.strip() for ln in lines if ln.strip())
    return text[:2000]
