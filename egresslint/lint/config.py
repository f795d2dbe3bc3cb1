"""Configuration: ``.egresslint.yaml`` or ``[tool.egresslint]`` in ``pyproject.toml``.

The file is found from the linted paths, like ruff and yamllint do: starting at the folder
that holds them all (the working folder for standard input), each folder up to the top of
its git work tree (or the file system root outside one) is searched for ``.egresslint.yaml``,
then ``.egresslint.yml``, then a ``pyproject.toml`` with a ``[tool.egresslint]`` table; the
first found is used. ``--config`` names the file instead. It is validated against
``schemas/config.schema.json`` and then against the rule catalogue; the problems are reported
together in one :class:`ConfigError`, each naming the key and, where known, ``file:line``.
Command-line options override the file.

``dump`` prints the effective configuration as a file that loads back with the same settings
(unset values as comments, folders relative to the working folder).

Rule selection, from weakest to strongest: the file's ``select``/``ignore``, then its
``rules:`` entries (a tag entry first, an id or name entry after it), then ``--select`` (only
the rules it names run) and ``--ignore``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..mesh.graph import MODES
from ..model import PosDict, PosList, locate
from ..packaged import package_dir
from ..parse.loader import load_single
from ..parse.yamlbuild import Unlintable
from ..sources.discover import CONFIG_FILES, STDIN
from ..sources.gitroot import git_root
from . import engine
from .registry import all_rules, find
from .rule import TAGS, Rule

if TYPE_CHECKING:  # jsonschema is imported only when a configuration file is checked
    from jsonschema import ValidationError

CONFIG_NAMES = CONFIG_FILES
PYPROJECT = "pyproject.toml"
DEFAULT = "default"
COMMAND_LINE = "command line"
# click parameter name -> configuration key
CLI_KEYS = {
    "istio_version": "istio-version",
    "mode": "mode",
    "default_namespace": "namespace",
    "fail_on": "fail-on",
    "exclude": "exclude",
    "select": "select",
    "ignore": "ignore",
    "render": "render",
    "render_remote": "render-remote",
    "default_excludes": "default-excludes",
}
DEFAULTS: dict[str, Any] = {
    "istio-version": engine.DEFAULT_ISTIO_VERSION,
    "mode": None,
    "namespace": "default",
    "fail-on": "warning",
    "exclude": [],
    "render": "auto",
    "render-remote": False,
    "kustomize": None,
    "render-timeout": 120,
    "default-excludes": True,
    "views": {},
    "complete": False,
    "external": {},
    "helm": {},
    "select": [],
    "ignore": [],
}
_TOOL_TABLE = re.compile(r"^\s*\[\s*tool\s*\.\s*egresslint\s*[\].]", re.M)
KeyPath = tuple[Any, ...]


class ConfigError(Exception):
    """Configuration problems, one line each; each names the key (and file:line when known)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass
class Setting:
    value: Any
    source: str = DEFAULT


@dataclass
class RuleState:
    rule: Rule
    enabled: Setting
    level: Setting
    params: dict[str, Setting] = field(default_factory=dict)


@dataclass
class FileConfig:
    """A parsed configuration file: its data and where each key stands."""

    shown: str
    folder: str
    data: Mapping[str, Any]
    line_of: Callable[[KeyPath], int | None]
    read_problems: list[str] = field(default_factory=list)  # found while reading (duplicates)

    def where(self, path: KeyPath) -> str:
        line = self.line_of(path)
        return f"{self.shown}:{line}" if line else self.shown


@dataclass
class Effective:
    """The configuration a run uses, with where each part came from."""

    file: FileConfig | None
    searched_from: str
    settings: dict[str, Setting]
    rules: dict[str, RuleState]

    def value(self, key: str) -> Any:
        return self.settings[key].value

    def options(self, paths: list[str]) -> engine.Options:
        enabled = [rid for rid, st in self.rules.items() if st.enabled.value]
        views = self.value("views")
        return engine.Options(
            paths=paths,
            excludes=list(self.value("exclude")),
            default_namespace=self.value("namespace"),
            mode=self.value("mode"),
            istio_version=self.value("istio-version"),
            render=self.value("render"),
            render_remote=bool(self.value("render-remote")),
            kustomize=self.value("kustomize"),
            render_timeout=float(self.value("render-timeout")),
            default_excludes=bool(self.value("default-excludes")),
            views={name: list(_view_paths(v)) for name, v in views.items()},
            complete_views=[
                n for n, v in views.items() if isinstance(v, dict) and v.get("complete")
            ],
            complete=bool(self.value("complete")),
            external_gateways=list(self.value("external").get("gateways", [])),
            helm=self.value("helm").get("command"),
            helm_releases=list(self.value("helm").get("releases", [])),
            select=enabled,
            ignore=[rid for rid in self.rules if rid not in enabled],
            levels={
                rid: st.level.value for rid, st in self.rules.items() if st.level.source != DEFAULT
            },
            params={
                rid: {k: s.value for k, s in st.params.items() if s.source != DEFAULT}
                for rid, st in self.rules.items()
                if any(s.source != DEFAULT for s in st.params.values())
            },
        )


# --- finding and reading the file -------------------------------------------------------


def start_folder(paths: Iterable[str], cwd: str) -> str:
    """The folder that holds every linted path (a file stands for its folder; standard input
    for the working folder): where the search for the configuration file starts."""
    folders = []
    for path in paths:
        absolute = os.path.abspath(os.path.join(cwd, path)) if path != STDIN else cwd
        folders.append(absolute if os.path.isdir(absolute) else os.path.dirname(absolute))
    try:
        return os.path.commonpath(folders) if folders else cwd
    except ValueError:  # paths on several drives
        return cwd


def discover(start: str) -> str | None:
    """The nearest configuration file in ``start`` or a folder above it, up to the top of its
    git work tree (a file above the repository does not belong to it)."""
    folder = Path(start).resolve()
    top = git_root(folder)
    for candidate in (folder, *folder.parents):
        found = _config_in(candidate)
        if found is not None or candidate == top:
            return found
    return None


def _config_in(folder: Path) -> str | None:
    for name in CONFIG_NAMES:
        if (folder / name).is_file():
            return str(folder / name)
    pyproject = folder / PYPROJECT
    if pyproject.is_file() and _TOOL_TABLE.search(_read(pyproject, PYPROJECT)):
        return str(pyproject)
    return None


def _read(path: Path, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{shown}: cannot read the configuration file: {why}") from None


def read_file(path: str, cwd: str) -> FileConfig:
    """Read one configuration file (YAML, or TOML when named ``*.toml``); raises ConfigError
    when it cannot be read at all. ``problems`` validates it."""
    real = Path(path)
    shown = _shown(path, cwd)
    if not real.is_file():
        raise ConfigError(f"{shown}: no such configuration file")
    text = _read(real, shown)
    folder = str(real.resolve().parent)
    if real.suffix == ".toml":
        return _load_toml(text, shown, folder)
    return _load_yaml(text, shown, folder)


def _shown(path: str, cwd: str) -> str:
    try:
        return Path(os.path.relpath(os.path.abspath(path), cwd)).as_posix()
    except ValueError:  # another drive
        return Path(path).as_posix()


def _load_yaml(text: str, shown: str, folder: str) -> FileConfig:
    try:
        doc, duplicates = load_single(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{shown}{line}: not valid YAML: {problem}") from None
    except Unlintable as exc:
        raise ConfigError(f"{shown}:{exc.line}: {exc}") from None
    twice = [f"{shown}:{line_no}: {key}: key given twice" for key, line_no in duplicates]
    if doc is None:
        doc = PosDict()

    def line_of(path: KeyPath) -> int | None:
        return locate(doc, path, doc.span).line if isinstance(doc, (PosDict, PosList)) else None

    if not isinstance(doc, PosDict):
        raise ConfigError(f"{shown}: the configuration must be a mapping of settings")
    _raw_version(doc, text)
    return FileConfig(shown, folder, doc, line_of, twice)


def _raw_version(doc: PosDict, text: str) -> None:
    """``istio-version: 1.30`` is the float 1.3 in YAML; take the text as written."""
    value = doc.get("istio-version")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        marks = doc.pos["istio-version"]
        lines = text.splitlines()
        if marks[4] == marks[6] and marks[4] < len(lines):
            doc["istio-version"] = lines[marks[4]][marks[5] : marks[7]].strip()


def _toml_module() -> Any:
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    return None


def _load_toml(text: str, shown: str, folder: str) -> FileConfig:
    toml = _toml_module()
    if toml is None:
        raise ConfigError(
            f"{shown}: reading [tool.egresslint] from pyproject.toml needs Python 3.11+ (or the "
            "'tomli' package); use .egresslint.yaml instead"
        )
    try:
        data = toml.loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{shown}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("egresslint", {}) if isinstance(data, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f"{shown}: tool.egresslint must be a table")
    return FileConfig(shown, folder, table, lambda path: _toml_line(text, path))


def _toml_line(text: str, path: KeyPath) -> int | None:
    """Best effort: the line of the last key of ``path`` inside the [tool.egresslint] tables."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _TOOL_TABLE.match(line)), None)
    if start is None:
        return None
    best = start + 1
    for key in (k for k in path if isinstance(k, str)):
        pattern = re.compile(rf"""(^|[\s.{{,\[])["']?{re.escape(key)}["']?\s*(=|\])""")
        for i in range(best - 1, len(lines)):
            if pattern.search(lines[i]):
                best = i + 1
                break
    return best


# --- validation ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    with open(package_dir("schemas") / "config.schema.json", encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


_YAML_TYPES = {"NoneType": "null", "str": "string", "dict": "mapping", "PosDict": "mapping"}
_YAML_TYPES |= {"list": "list", "PosList": "list", "bool": "boolean", "int": "integer"}
_YAML_TYPES |= {"float": "number"}


def _schema_messages(error: ValidationError) -> Iterator[tuple[KeyPath, str]]:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        sub = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = sorted(sub.get("properties", {}))
        for key in sorted(str(k) for k in error.instance if k not in allowed):
            yield (*path, key), f"unknown setting; expected one of {', '.join(allowed)}"
    elif error.validator == "enum":
        wanted: Any = error.validator_value
        choices = ", ".join(str(c) for c in wanted)
        yield path, f"{error.instance!r} is not one of {choices}"
    elif error.validator == "type":
        got = type(error.instance).__name__
        yield path, f"must be {error.validator_value}, not {_YAML_TYPES.get(got, got)}"
    else:
        yield path, error.message


def problems(config: FileConfig) -> list[str]:
    """Every problem of a configuration file, one line each, in file order."""
    import jsonschema  # only when there is a configuration file to check

    validator = jsonschema.Draft202012Validator(schema())
    found = [m for e in validator.iter_errors(config.data) for m in _schema_messages(e)]
    flagged = [path for path, _ in found]
    found += [
        (path, message)
        for path, message in (*_semantic_problems(config.data), *_helm_problems(config))
        if not any(path[: len(bad)] == bad for bad in flagged)  # one message per mistake
    ]
    unique = {(tuple(map(str, path)), m): path for path, m in found}
    ordered = sorted(unique.items(), key=lambda kv: (config.line_of(kv[1]) or 0, kv[0]))
    lines = [f"{config.where(path)}: {_dotted(path)}: {m}" for (_, m), path in ordered]
    return [*config.read_problems, *lines]


def known_key(key: str) -> bool:
    return find(key) is not None or key in TAGS


def _strings(value: Any) -> list[tuple[int, str]]:
    return (
        [(i, v) for i, v in enumerate(value) if isinstance(v, str)]
        if isinstance(value, list)
        else []
    )


def _semantic_problems(data: Mapping[str, Any]) -> Iterable[tuple[KeyPath, str]]:
    """What the schema cannot say; values of the wrong type are left to the schema."""
    if isinstance(data.get("istio-version"), str):
        try:
            engine.parse_version(data["istio-version"])
        except ValueError as exc:
            yield ("istio-version",), str(exc)
    if isinstance(data.get("mode"), str) and data["mode"] not in MODES:
        yield ("mode",), f"{data['mode']!r} is not one of {', '.join(MODES)}"
    for key in ("select", "ignore"):
        for i, item in _strings(data.get(key)):
            if not known_key(item):
                yield (key, i), f"unknown rule or tag {item!r} (see 'egresslint rules')"
    rules = data.get("rules")
    for key, entry in rules.items() if isinstance(rules, Mapping) else ():
        if not known_key(str(key)):
            yield ("rules", key), f"unknown rule or tag {key!r} (see 'egresslint rules')"
        elif isinstance(entry, Mapping) and isinstance(entry.get("params"), Mapping):
            yield from _param_problems(key, entry["params"])


def _helm_problems(config: FileConfig) -> Iterable[tuple[KeyPath, str]]:
    """Releases whose chart or values files are not there (paths are relative to the file)."""
    helm = config.data.get("helm")
    releases = helm.get("releases") if isinstance(helm, Mapping) else None
    for i, release in enumerate(releases if isinstance(releases, list) else []):
        if not isinstance(release, Mapping):
            continue
        chart = release.get("chart")
        if isinstance(chart, str) and not os.path.isfile(
            os.path.join(config.folder, chart, "Chart.yaml")
        ):
            yield ("helm", "releases", i, "chart"), f"no Chart.yaml in {chart}"
        for j, values in _strings(release.get("values")):
            if not os.path.isfile(os.path.join(config.folder, values)):
                yield ("helm", "releases", i, "values", j), f"no such file: {values}"


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number" if isinstance(value, float) else "integer"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "mapping"


def _same_type(default: Any, value: Any) -> bool:
    want, got = _type_name(default), _type_name(value)
    return want == got or (want == "number" and got == "integer")


def _param_problems(key: str, params: Mapping[str, Any]) -> Iterable[tuple[KeyPath, str]]:
    rule = find(key)
    if rule is None:
        yield ("rules", key, "params"), "params can only be set for one rule (an id or name)"
        return
    for name, value in params.items():
        where = ("rules", key, "params", name)
        if name not in rule.params:
            known = ", ".join(sorted(rule.params)) or "none"
            yield where, f"{rule.id} has no parameter {name!r} (its parameters: {known})"
        elif not _same_type(rule.params[name], value):
            yield where, f"must be a {_type_name(rule.params[name])}, like the default"


# --- merging file and command line ---------------------------------------------------------


def _matches(rule: Rule, key: str) -> bool:
    return key.upper() == rule.id or key in (rule.name, rule.tag)


def _cli_given(value: Any) -> bool:
    return value is not None and value != () and value != []


def resolve(
    cli: Mapping[str, Any], cwd: str | None = None, paths: Iterable[str] | None = None
) -> Effective:
    """Merge defaults, the configuration file and the command line (``cli`` holds click's
    parameter values; ``None`` or an empty tuple means "not given"; ``config`` names a file).
    The file is searched from the linted ``paths`` (default: the working folder) upward.
    Raises one ConfigError with every problem of the file and of the command line."""
    cwd = os.path.abspath(cwd or os.getcwd())
    start = start_folder(list(paths or ()) or ["."], cwd)
    path = cli.get("config") or discover(start)
    file = read_file(path, cwd) if path else None
    found = [*(problems(file) if file is not None else ()), *cli_problems(cli)]
    if found:
        raise ConfigError(*found)
    settings = _file_settings(file, cwd)
    given = {CLI_KEYS[k]: v for k, v in cli.items() if k in CLI_KEYS and _cli_given(v)}
    _apply_cli(settings, given)
    rules = {r.id: _rule_state(r, file, given) for r in all_rules()}
    return Effective(file, start, settings, rules)


def _file_settings(file: FileConfig | None, cwd: str) -> dict[str, Setting]:
    settings = {key: Setting(value) for key, value in DEFAULTS.items()}
    if file is None:
        return settings
    data = file.data
    for key in DEFAULTS:
        if key in data:
            settings[key] = Setting(data[key], file.where((key,)))
    if data.get("exclude"):
        settings["exclude"].value = [_rebase(g, file.folder, cwd) for g in data["exclude"]]
    if data.get("views"):
        settings["views"].value = _views_from(data["views"], file.folder)
    if data.get("helm", {}).get("releases"):
        settings["helm"].value = _helm_from(data["helm"], file.folder)
    return settings


def cli_problems(cli: Mapping[str, Any]) -> list[str]:
    """The problems of the command-line values that the configuration file could also hold."""
    found = []
    version = cli.get("istio_version")
    if version is not None:
        try:
            engine.parse_version(version)
        except ValueError as exc:
            found.append(f"--istio-version: {exc}")
    for key in (*(cli.get("select") or ()), *(cli.get("ignore") or ())):
        if not known_key(key):
            found.append(f"unknown rule or tag '{key}' (see 'egresslint rules')")
    return found


def _apply_cli(settings: dict[str, Setting], given: dict[str, Any]) -> None:
    for key, value in given.items():
        if key == "exclude":
            before = settings["exclude"]
            source = (
                COMMAND_LINE if before.source == DEFAULT else f"{before.source} + {COMMAND_LINE}"
            )
            settings[key] = Setting([*before.value, *value], source)
        else:
            settings[key] = Setting(
                list(value) if isinstance(value, tuple) else value, COMMAND_LINE
            )


def _view_paths(view: Any) -> list[str]:
    return list(view["paths"] if isinstance(view, dict) else view)


def _views_from(views: Mapping[str, Any], folder: str) -> dict[str, Any]:
    """Views with their folders made absolute (they are relative to the configuration file)."""
    out: dict[str, Any] = {}
    for name, view in views.items():
        paths = [os.path.normpath(os.path.join(folder, p)) for p in _view_paths(view)]
        out[name] = {**view, "paths": paths} if isinstance(view, dict) else paths
    return out


def _helm_from(helm: Mapping[str, Any], folder: str) -> dict[str, Any]:
    """Releases with their chart and values paths made absolute."""

    def absolute(path: str) -> str:
        return os.path.normpath(os.path.join(folder, path))

    releases = [
        {**r, "chart": absolute(r["chart"]), "values": [absolute(v) for v in r.get("values", [])]}
        for r in helm.get("releases", [])
    ]
    return {**helm, "releases": releases}


def _rebase(glob: str, folder: str, cwd: str) -> str:
    """A glob with '/' is relative to the configuration file's folder; paths are shown
    relative to the working folder."""
    if "/" not in glob.rstrip("/") or glob.startswith("*"):
        return glob
    rel = Path(os.path.relpath(folder, cwd)).as_posix()
    if rel == ".":
        return glob
    if not rel.startswith(".."):
        return f"{rel}/{glob}"
    below = Path(os.path.relpath(cwd, folder)).as_posix() + "/"
    return glob[len(below) :] if glob.startswith(below) else glob


def _rule_state(rule: Rule, file: FileConfig | None, given: Mapping[str, Any]) -> RuleState:
    state = RuleState(rule, Setting(True), Setting(rule.level))
    state.params = {k: Setting(v) for k, v in rule.params.items()}
    if file is not None:
        _apply_file(state, file)
    if "select" in given:
        state.enabled = Setting(any(_matches(rule, k) for k in given["select"]), "--select")
    if "ignore" in given and any(_matches(rule, k) for k in given["ignore"]):
        state.enabled = Setting(False, "--ignore")
    return state


def _apply_file(state: RuleState, file: FileConfig) -> None:
    rule, data = state.rule, file.data
    select = data.get("select") or []
    if select and not any(_matches(rule, k) for k in select):
        state.enabled = Setting(False, file.where(("select",)))
    for i, key in enumerate(data.get("ignore") or []):
        if _matches(rule, key):
            state.enabled = Setting(False, file.where(("ignore", i)))
    entries = [(k, v) for k, v in (data.get("rules") or {}).items() if _matches(rule, k)]
    entries.sort(key=lambda kv: kv[0] != rule.tag)  # a tag first; the rule's own entry wins
    for key, entry in entries:
        for name in ("enabled", "level"):
            if name in entry:
                setattr(state, name, Setting(entry[name], file.where(("rules", key, name))))
        for name, value in (entry.get("params") or {}).items():
            state.params[name] = Setting(value, file.where(("rules", key, "params", name)))


# --- printing ------------------------------------------------------------------------------


def _line(indent: int, key: str, setting: Setting) -> str:
    """One setting; an unset one (None) as a comment, so that the printed file loads back."""
    pad = "  " * indent
    if setting.value is None:
        return f"{pad}# {key}: not set  # {setting.source}"
    return f"{pad}{key}: {json.dumps(setting.value)}  # {setting.source}"


def _here(path: str, cwd: str) -> str:
    """A folder made absolute by the loading, relative to the working folder again."""
    try:
        return Path(os.path.relpath(path, cwd)).as_posix()
    except ValueError:  # another drive
        return Path(path).as_posix()


def _printable(key: str, setting: Setting, cwd: str) -> Setting:
    """``views`` and ``helm`` releases name folders relative to the printed file: the
    working folder, where ``egresslint config > .egresslint.yaml`` puts it."""
    value = setting.value
    if key == "views":
        value = {
            name: {**v, "paths": [_here(p, cwd) for p in v["paths"]]}
            if isinstance(v, dict)
            else [_here(p, cwd) for p in v]
            for name, v in value.items()
        }
    elif key == "helm" and value.get("releases"):
        releases = [
            {**r, "chart": _here(r["chart"], cwd), "values": [_here(v, cwd) for v in r["values"]]}
            for r in value["releases"]
        ]
        value = {**value, "releases": releases}
    return Setting(value, setting.source)


def dump(eff: Effective, cwd: str | None = None) -> str:
    """The effective configuration as YAML, each value commented with where it came from.
    Saved in the working folder, it loads back with the same settings."""
    cwd = os.path.abspath(cwd or os.getcwd())
    where = eff.file.shown if eff.file else f"none found (searched from {eff.searched_from} up)"
    out = [
        "# egresslint effective configuration",
        f"# configuration file: {where}",
        "# folders are relative to the working folder: save this file there",
    ]
    out += [_line(0, key, _printable(key, eff.settings[key], cwd)) for key in DEFAULTS]
    out.append("rules:")
    for rid, state in eff.rules.items():
        out.append(f"  {rid}:  # {state.rule.name} ({state.rule.tag})")
        out.append(_line(2, "enabled", state.enabled))
        out.append(_line(2, "level", state.level))
        if state.params:
            out.append("    params:")
            out += [_line(3, name, s) for name, s in state.params.items()]
    return "\n".join(out) + "\n"
