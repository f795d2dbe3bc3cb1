"""Configuration files: discovery, validation with file:line, precedence, rule parameters."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import config, engine
from egresslint.lint.registry import find
from egresslint.lint.rule import Context

ROOT = Path(__file__).resolve().parent.parent
OPT_OUT = ROOT / "fixtures" / "EGL101" / "bad-opt-out.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(OPT_OUT, tmp_path / "se.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_found_by_walking_up(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo / ".egresslint.yaml", "rules:\n  EGL101: {level: note}\n")
    sub = repo / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    eff = config.resolve({})
    assert eff.file is not None and eff.file.shown == "../../.egresslint.yaml"
    assert eff.options(["."]).levels == {"EGL101": "note"}


def test_level_by_name_lowers_exit_code(repo: Path) -> None:
    assert run("check", "se.yaml")[0] == 1
    write(repo / ".egresslint.yaml", "rules:\n  se-not-bound-to-waypoint: {level: note}\n")
    code, out, _ = run("check", "se.yaml")
    assert code == 0 and "note EGL101" in out


def test_disable_by_tag_and_reenable_by_id(repo: Path) -> None:
    write(
        repo / ".egresslint.yaml",
        "rules:\n  EGL101: {enabled: true}\n  bypass: {enabled: false}\n",
    )
    enabled = config.resolve({}).options(["."]).select
    assert "EGL101" in enabled  # the rule's own entry wins over its tag, in any order
    assert not [r for r in enabled if find(r) and find(r).tag == "bypass" and r != "EGL101"]  # type: ignore[union-attr]


def test_select_and_ignore_lists(repo: Path) -> None:
    write(repo / ".egresslint.yaml", "select: [bypass, EGL201]\nignore: [EGL101]\n")
    opts = config.resolve({}).options(["."])
    assert "EGL201" in opts.select and "EGL101" in opts.ignore and "EGL003" in opts.ignore


def test_command_line_wins(repo: Path) -> None:
    write(
        repo / ".egresslint.yaml",
        "fail-on: never\nistio-version: '1.24'\nnamespace: apps\nrules:\n  EGL101: {enabled: false}\n",
    )
    eff = config.resolve(
        {"fail_on": "error", "istio_version": "1.28", "select": ("EGL101",), "exclude": ("x",)}
    )
    assert eff.value("fail-on") == "error" and eff.value("istio-version") == "1.28"
    assert eff.value("namespace") == "apps"
    assert eff.settings["fail-on"].source == "command line"
    assert eff.options(["."]).select == ["EGL101"]  # --select beats the file's enabled: false
    assert run("check", "se.yaml")[0] == 0  # disabled by the file
    assert run("check", "--select", "EGL101", "--fail-on", "warning", "se.yaml")[0] == 1


def test_unquoted_version_keeps_its_text(repo: Path) -> None:
    write(repo / ".egresslint.yaml", "istio-version: 1.30\n")
    assert config.resolve({}).value("istio-version") == "1.30"


def test_pyproject_table(repo: Path) -> None:
    # tomllib (3.11+), or tomli, which egresslint depends on for Python 3.10
    write(
        repo / "pyproject.toml",
        '[project]\nname = "x"\n\n[tool.egresslint]\nfail-on = "error"\n\n'
        '[tool.egresslint.rules.EGL101]\nlevel = "note"\n',
    )
    eff = config.resolve({})
    assert eff.file is not None and eff.file.shown == "pyproject.toml"
    assert eff.value("fail-on") == "error"
    assert eff.rules["EGL101"].level.source == "pyproject.toml:8"


def test_pyproject_without_table_is_not_a_config(repo: Path) -> None:
    write(repo / "pyproject.toml", '[project]\nname = "x"\n')
    assert config.discover(str(repo)) is None or not config.discover(str(repo)).startswith(  # type: ignore[union-attr]
        str(repo)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  EGL101:\n    levle: note\n", "x.yaml:3: rules.EGL101.levle: unknown setting"),
        ("rules:\n  EGL999: {level: note}\n", "x.yaml:2: rules.EGL999: unknown rule or tag"),
        ("fail-on: sometimes\n", "x.yaml:1: fail-on: 'sometimes' is not one of"),
        ("mode: sidecar\n", "x.yaml:1: mode: 'sidecar' is not one of"),
        ("select: [EGL101, nope]\n", "x.yaml:1: select.1: unknown rule or tag 'nope'"),
        ("exclude: vendor\n", "x.yaml:1: exclude: must be array"),
        ("colour: red\n", "x.yaml:1: colour: unknown setting"),
        ("fail-on: note\nfail-on: error\n", "x.yaml:2: fail-on: key given twice"),
        ("rules: [\n", "x.yaml:2: not valid YAML"),
        ("rules:\n  bypass: {params: {a: 1}}\n", "rules.bypass.params: params can only be set"),
        ("- a\n", "x.yaml: the configuration must be a mapping"),
    ],
)
def test_errors_name_the_key_and_exit_2(repo: Path, text: str, expected: str) -> None:
    write(repo / "x.yaml", text)
    code, _, err = run("check", "--config", "x.yaml", "se.yaml")
    assert code == 2
    assert expected in err


def test_missing_config_file_exits_2(repo: Path) -> None:
    code, _, err = run("check", "--config", "nope.yaml", "se.yaml")
    assert code == 2 and "nope.yaml: no such configuration file" in err


def test_params_are_checked_against_the_defaults_and_reach_the_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rule = dataclasses.replace(find("EGL101"), params={"max-hosts": 3, "label": "x"})  # type: ignore[type-var]
    monkeypatch.setattr(config, "find", lambda key: rule if key in ("EGL101",) else None)
    data = {"rules": {"EGL101": {"params": {"max-hosts": "many"}}}}
    problems = list(config._semantic_problems(data))
    assert problems == [
        (("rules", "EGL101", "params", "max-hosts"), "must be a integer, like the default")
    ]
    assert not list(config._semantic_problems({"rules": {"EGL101": {"params": {"max-hosts": 9}}}}))

    seen: list[dict[str, object]] = []

    def check(ctx: Context) -> list[object]:
        seen.append(dict(ctx.params))
        return []

    probe = dataclasses.replace(rule, check=check)
    other = dataclasses.replace(find("EGL201"), params={"k": 1}, check=check)  # type: ignore[type-var]
    graph_ctx = Context(graph=None)  # type: ignore[arg-type]
    engine.run_rules([probe, other], graph_ctx, {"EGL101": {"max-hosts": 9}})
    assert seen == [{"max-hosts": 9, "label": "x"}, {"k": 1}]


def test_exclude_from_config_applies_to_given_files_too(repo: Path) -> None:
    write(repo / ".egresslint.yaml", "exclude: [se.yaml]\n")
    code, _, err = run("check", "se.yaml")
    assert code == 0 and "excluded" in err


def test_exclude_glob_is_relative_to_the_config_folder(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(repo / ".egresslint.yaml", "exclude: [sub/vendor/*, '*.generated.yaml']\n")
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    assert config.resolve({}).value("exclude") == ["vendor/*", "*.generated.yaml"]


def test_config_command_prints_effective_yaml_with_sources(repo: Path) -> None:
    write(repo / ".egresslint.yaml", "fail-on: error\nrules:\n  EGL101: {level: note}\n")
    code, out, _ = run("config", "--mode", "istio-waypoint")
    assert code == 0
    data = yaml.safe_load(out)
    assert data["fail-on"] == "error" and data["mode"] == "istio-waypoint"
    assert data["rules"]["EGL101"] == {"enabled": True, "level": "note"}
    assert 'fail-on: "error"  # .egresslint.yaml:1' in out
    assert 'mode: "istio-waypoint"  # command line' in out
    assert 'level: "note"  # .egresslint.yaml:3' in out
    assert 'namespace: "default"  # default' in out


def test_schema_is_shipped_and_valid() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(config.schema())


# ---- found from the linted paths --------------------------------------------------------------


def test_found_from_the_linted_path_not_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    write(project / ".egresslint.yaml", "rules:\n  EGL101: {level: note}\n")
    shutil.copy(OPT_OUT, write(project / "m" / "se.yaml", ""))
    write(tmp_path / "elsewhere" / ".egresslint.yaml", "rules:\n  EGL101: {level: error}\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, out, _ = run("check", str(project / "m"))
    assert code == 0 and "note EGL101" in out
    eff = config.resolve({}, paths=[str(project / "m" / "se.yaml")])
    assert eff.file is not None and Path(eff.file.folder) == project.resolve()
    assert config.resolve({}, paths=["-"]).rules["EGL101"].level.value == "error"  # stdin: here
    code, out, _ = run("check", "--config", ".egresslint.yaml", str(project / "m"))
    assert code == 1 and "error EGL101" in out  # --config wins over the search


def test_several_paths_start_at_their_common_folder(tmp_path: Path) -> None:
    write(tmp_path / ".egresslint.yaml", "fail-on: error\n")
    write(tmp_path / "a" / ".egresslint.yaml", "fail-on: never\n")
    paths = [str(write(tmp_path / "a" / "x.yaml", "")), str(write(tmp_path / "b" / "y.yaml", ""))]
    eff = config.resolve({}, cwd=str(tmp_path / "b"), paths=paths)
    assert eff.value("fail-on") == "error"
    assert config.resolve({}, paths=paths[:1]).value("fail-on") == "never"


def test_search_stops_at_the_top_of_the_git_work_tree(tmp_path: Path) -> None:
    write(tmp_path / ".egresslint.yaml", "fail-on: never\n")  # above the repository
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True, capture_output=True)
    write(repo / "m" / "se.yaml", "")
    assert config.resolve({}, paths=[str(repo / "m")]).file is None
    write(repo / "pyproject.toml", "[tool.egresslint]\nfail-on = 'note'\n")
    found = config.resolve({}, cwd=str(repo), paths=["m"]).file
    assert found is not None and found.shown == "pyproject.toml"


def test_every_problem_is_reported_at_once(repo: Path) -> None:
    write(
        repo / "x.yaml",
        "fail-on: sometimes\ncolour: red\nrules:\n  EGL999: {level: note}\n"
        "  EGL101: {levle: note}\nselect: nope\nmode: null\n",
    )
    code, _, err = run("check", "--config", "x.yaml", "--istio-version", "1.2", "se.yaml")
    assert code == 2
    lines = err.splitlines()
    assert all(line.startswith("egresslint: error: ") for line in lines)
    assert [line.split(": ")[2] for line in lines] == [
        "x.yaml:1",
        "x.yaml:2",
        "x.yaml:4",
        "x.yaml:5",
        "x.yaml:6",
        "x.yaml:7",
        "--istio-version",
    ]
    assert "x.yaml:7: mode: must be string, not null" in err
    assert "x.yaml:5: rules.EGL101.levle: unknown setting" in err


def test_duplicates_and_other_problems_together(repo: Path) -> None:
    write(repo / "x.yaml", "fail-on: note\nfail-on: error\nnamespace: a\nnamespace: b\ncolour: 1\n")
    code, _, err = run("check", "--config", "x.yaml", "se.yaml")
    assert code == 2
    assert "x.yaml:2: fail-on: key given twice" in err
    assert "x.yaml:4: namespace: key given twice" in err
    assert "x.yaml:5: colour: unknown setting" in err


# ---- egresslint config prints a file that loads back --------------------------------------------


NON_DEFAULT = """\
istio-version: "1.24"
mode: istio-waypoint
namespace: apps
fail-on: error
exclude: [sub/vendor/*, "*.generated.yaml"]
render: never
render-remote: true
kustomize: kubectl kustomize
render-timeout: 30.5
default-excludes: false
views:
  prod: [clusters/prod]
  staging: {paths: [clusters/staging], complete: true}
complete: true
external: {gateways: [istio-egress/egress-gw]}
helm:
  command: helm3
  releases: [{chart: charts/app, values: [charts/app/prod.yaml], view: prod, name: app}]
select: [bypass, invalid, EGL201]
ignore: [EGL109]
rules:
  EGL101: {level: error}
  invalid: {enabled: false}
  EGL003: {enabled: true}
"""


def effective_state(eff: config.Effective) -> tuple[object, ...]:
    opts = dataclasses.asdict(eff.options(["."]))
    del opts["levels"], opts["params"]  # explicit in the printed file, the same in effect
    rules = {
        rid: (st.enabled.value, st.level.value, {k: s.value for k, s in st.params.items()})
        for rid, st in eff.rules.items()
    }
    return {k: s.value for k, s in eff.settings.items()}, rules, opts


def reloaded(eff: config.Effective, folder: Path) -> config.Effective:
    """What 'egresslint config > .egresslint.yaml' in ``folder`` gives on the next run."""
    write(folder / ".egresslint.yaml", config.dump(eff, cwd=str(folder)))
    again = config.resolve({}, cwd=str(folder))
    assert again.file is not None and Path(again.file.folder) == folder.resolve()
    return again


def test_round_trip_of_the_defaults(tmp_path: Path) -> None:
    first = config.resolve({}, cwd=str(tmp_path))
    assert first.file is None or not str(first.file.folder).startswith(str(tmp_path))
    text = config.dump(first, cwd=str(tmp_path))
    assert "# mode: not set" in text and "\nmode:" not in text  # None is a comment, not null
    assert effective_state(reloaded(first, tmp_path)) == effective_state(first)


def test_round_trip_of_non_default_settings(tmp_path: Path) -> None:
    write(tmp_path / ".egresslint.yaml", NON_DEFAULT)
    write(tmp_path / "charts" / "app" / "Chart.yaml", "name: app\n")
    write(tmp_path / "charts" / "app" / "prod.yaml", "")
    sub = tmp_path / "sub"
    sub.mkdir()
    cli_opts = {
        "exclude": ("local/*",),
        "mode": "solo-ztunnel-egress",
        "select": ("EGL101", "bypass"),
    }
    first = config.resolve(cli_opts, cwd=str(sub))
    assert first.value("mode") == "solo-ztunnel-egress" and first.value("render-timeout") == 30.5
    again = reloaded(first, sub)  # printed and saved in another folder than the original
    assert effective_state(again) == effective_state(first)
    assert again.value("views")["prod"] == [str(tmp_path / "clusters" / "prod")]


def test_config_command_output_loads_back(repo: Path) -> None:
    write(repo / "x.yaml", NON_DEFAULT.split("helm:")[0])  # no chart to render here
    code, out, _ = run("config", "--config", "x.yaml", "--fail-on", "note")
    assert code == 0
    write(repo / ".egresslint.yaml", out)
    code, again, err = run("config")
    assert code == 0, err
    strip = [line.split("  #")[0] for line in out.splitlines()[3:]]
    assert [line.split("  #")[0] for line in again.splitlines()[3:]] == strip
