"""Input handling: YAML written for other tools, default excludes (node_modules/, vendor/,
what git ignores) and Helm charts in discovery."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.model import SourceFile
from egresslint.parse.loader import ParsedFile, parse_bytes, parse_text
from egresslint.sources.discover import Chart, Input, Skipped, discover

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n"

GITLAB_CI = """\
.setup:
  script:
    - echo setup
test:
  stage: test
  script:
    - !reference [.setup, script]
    - pytest
"""

MKDOCS = """\
site_name: Docs
markdown_extensions:
  - pymdownx.emoji:
      emoji_index: !!python/name:material.extensions.emoji.twemoji
      emoji_generator: !!python/name:material.extensions.emoji.to_svg
"""

CLOUDFORMATION = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Ref Name
Outputs:
  Arn:
    Value: !GetAtt Bucket.Arn
"""


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def parse(text: str, name: str = "f.yaml") -> ParsedFile:
    return parse_text(text, SourceFile(name))


def rules(parsed: ParsedFile) -> list[str]:
    return [f.rule_id for f in parsed.findings]


def lint(*paths: Path | str) -> dict[str, Any]:
    """The JSON report of ``egresslint check`` (no traceback allowed)."""
    result = CliRunner().invoke(cli, ["check", "--format", "json", *map(str, paths)])
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in (0, 1), result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def found(root: Path, **options: Any) -> list[str]:
    """The shown paths of the files discovery reads under ``root``."""
    items = discover([str(root)], base=str(root), **options)
    return [item.shown for item in items if isinstance(item, Input)]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def git_init(root: Path) -> None:
    """A git work tree at ``root`` (``git init`` when git is installed, else a bare .git)."""
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    else:
        (root / ".git" / "info").mkdir(parents=True)


# ---- YAML for other tools ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name,text",
    [(".gitlab-ci.yml", GITLAB_CI), ("mkdocs.yml", MKDOCS), ("template.yaml", CLOUDFORMATION)],
)
def test_a_file_for_another_tool_is_not_a_manifest(name: str, text: str) -> None:
    for parsed in (parse(text, name), parse_bytes(text.encode(), SourceFile(name))):
        assert parsed.findings == []
        assert parsed.not_manifest is True
        assert parsed.resources == [] and parsed.values == []


def test_several_tagged_documents_without_kubernetes_objects() -> None:
    parsed = parse(f"{CLOUDFORMATION}---\n{GITLAB_CI}---\nplain: mapping\n")
    assert parsed.findings == [] and parsed.not_manifest
    assert parsed.values == []  # the plain mapping is dropped with the rest of the file
    assert parsed.documents == 3


def test_a_manifest_with_a_custom_tag_is_still_an_error() -> None:
    parsed = parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: !Ref Name\n")
    assert rules(parsed) == ["EGL001"]
    assert "'!Ref'" in parsed.findings[0].message
    assert parsed.findings[0].span.line == 4
    assert parsed.not_manifest is False


def test_a_refused_kubernetes_document_is_judged_from_its_keys() -> None:
    """A document whose tag is on its root still has apiVersion and kind: a manifest."""
    parsed = parse("--- !Thing\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    assert rules(parsed) == ["EGL001"] and not parsed.not_manifest


def test_a_kubernetes_object_beside_a_tagged_document_keeps_the_error() -> None:
    parsed = parse(f"{NAMESPACE}---\n{CLOUDFORMATION}")
    assert rules(parsed) == ["EGL001"]
    assert parsed.findings[0].span.line == 11  # BucketName: !Ref Name
    assert [r.kind for r in parsed.resources] == ["Namespace"]
    assert parsed.not_manifest is False


def test_only_kind_or_only_apiversion_is_not_a_kubernetes_object() -> None:
    assert parse("kind: Pipeline\nsteps: !Ref x\n").not_manifest
    assert parse("apiVersion: 2\nsteps: !Ref x\n").not_manifest


def test_a_syntax_error_in_a_file_for_another_tool_stays_an_error() -> None:
    parsed = parse("test:\n  script: [a, b\n  tags: !reference [.x, tags]\n", ".gitlab-ci.yml")
    assert rules(parsed) == ["EGL001"] and "Cannot parse YAML" in parsed.findings[0].message
    assert parsed.not_manifest is False


def test_other_refusals_stay_errors_beside_a_tag() -> None:
    alias_merge = "base: 1\njob:\n  <<: 5\n---\nother: !Ref x\n"
    parsed = parse(alias_merge)
    assert rules(parsed) == ["EGL001", "EGL001"] and not parsed.not_manifest
    huge = "job:\n  n: " + "9" * 5000 + "\n---\nother: !Ref x\n"
    assert rules(parse(huge)) == ["EGL001", "EGL001"]


def test_a_template_keeps_its_error_and_hint() -> None:
    parsed = parse("job:\n  image: {{ .Values.image }}\n  script: !reference [a, b]\n")
    assert rules(parsed) == ["EGL001"] and "template" in parsed.findings[0].message
    assert not parsed.not_manifest


def test_a_file_for_another_tool_produces_nothing_end_to_end(tmp_path: Path) -> None:
    write(
        tmp_path,
        {".gitlab-ci.yml": GITLAB_CI, "mkdocs.yml": MKDOCS, "cfn/template.yaml": CLOUDFORMATION},
    )
    write(tmp_path, {"k8s/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: !Ref x\n"})
    report = lint(tmp_path)
    errors = [(f["ruleId"], Path(f["file"]).name) for f in report["findings"]]
    assert errors == [("EGL001", "cm.yaml")]


# ---- default excludes -------------------------------------------------------------------

TREE = {
    "a.yaml": "a: 1\n",
    "node_modules/pkg/x.yaml": "a: 1\n",
    "deep/node_modules/y.yaml": "a: 1\n",
    "vendor/v.yaml": "a: 1\n",
    "src/vendor/w.yaml": "a: 1\n",
    "vendor-config/v.yaml": "a: 1\n",
    "my_node_modules/m.yaml": "a: 1\n",
    "vendored/z.yaml": "a: 1\n",
}


def test_node_modules_and_vendor_are_skipped_by_default(tmp_path: Path) -> None:
    write(tmp_path, TREE)
    assert sorted(found(tmp_path)) == [
        "a.yaml",
        "my_node_modules/m.yaml",
        "vendor-config/v.yaml",
        "vendored/z.yaml",
    ]
    assert sorted(found(tmp_path, default_excludes=False)) == sorted(TREE)


def test_skipped_folders_are_silent(tmp_path: Path) -> None:
    write(tmp_path, TREE)
    items = list(discover([str(tmp_path)], base=str(tmp_path)))
    assert not [i for i in items if isinstance(i, Skipped)]


def test_a_folder_given_by_name_is_read(tmp_path: Path) -> None:
    write(tmp_path, TREE)
    vendor = tmp_path / "vendor"
    assert found(vendor) == ["v.yaml"]
    items = discover([str(vendor / "v.yaml"), str(tmp_path / "node_modules")], base=str(tmp_path))
    assert [i.shown for i in items] == ["vendor/v.yaml", "node_modules/pkg/x.yaml"]


GIT_TREE = {
    "keep.yaml": "a: 1\n",
    "secret.yaml": "a: 1\n",
    "build/out.yaml": "a: 1\n",
    "gen/a.yaml": "a: 1\n",
    "gen/keep-me.yaml": "a: 1\n",
    "gen/sub/b.yaml": "a: 1\n",
    "local/x.yaml": "a: 1\n",
    "notes.yml": "a: 1\n",
}
GITIGNORE = "# generated\nbuild/\nsecret.yaml\n"
NESTED = "*.yaml\n!keep-me.yaml\n"


def test_gitignore_files_are_honoured_in_a_git_work_tree(tmp_path: Path) -> None:
    write(tmp_path, {**GIT_TREE, ".gitignore": GITIGNORE, "gen/.gitignore": NESTED})
    git_init(tmp_path)
    (tmp_path / ".git" / "info" / "exclude").write_text("local/\n*.yml\n", encoding="utf-8")
    assert found(tmp_path) == ["keep.yaml", "gen/keep-me.yaml"]
    assert sorted(found(tmp_path, default_excludes=False)) == sorted(GIT_TREE)


def test_gitignore_agrees_with_git(tmp_path: Path) -> None:
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    write(tmp_path, {**GIT_TREE, ".gitignore": GITIGNORE, "gen/.gitignore": NESTED})
    git_init(tmp_path)
    out = subprocess.run(
        ["git", "-C", str(tmp_path), "ls-files", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert sorted(found(tmp_path)) == sorted(p for p in out if p.endswith((".yaml", ".yml")))


def test_a_deeper_gitignore_overrides_a_shallower_one(tmp_path: Path) -> None:
    write(tmp_path, {"a/x.yaml": "a: 1\n", "a/y.yaml": "a: 1\n", ".gitignore": "*.yaml\n"})
    write(tmp_path, {"a/.gitignore": "!x.yaml\n"})
    git_init(tmp_path)
    assert found(tmp_path) == ["a/x.yaml"]


def test_a_negation_cannot_bring_back_a_file_of_an_ignored_folder(tmp_path: Path) -> None:
    write(tmp_path, {"build/x.yaml": "a: 1\n", ".gitignore": "build/\n!build/x.yaml\n"})
    git_init(tmp_path)
    assert found(tmp_path) == []


def test_gitignore_outside_a_work_tree_is_not_applied(tmp_path: Path) -> None:
    write(tmp_path, {**GIT_TREE, ".gitignore": GITIGNORE, "gen/.gitignore": NESTED})
    assert sorted(found(tmp_path)) == sorted(GIT_TREE)


def test_gitignore_above_the_work_tree_is_not_applied(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "*.yaml\n", "repo/a.yaml": "a: 1\n"})
    git_init(tmp_path / "repo")
    assert found(tmp_path / "repo") == ["a.yaml"]


def test_gitignore_above_the_walked_folder_is_read(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "drop.yaml\n/top/sub/x.yaml\n", "top/.gitignore": "*.yml\n"})
    write(tmp_path, {f"top/sub/{n}": "a: 1\n" for n in ("drop.yaml", "x.yaml", "y.yaml", "z.yml")})
    git_init(tmp_path)
    assert found(tmp_path / "top" / "sub") == ["y.yaml"]


def test_an_ignored_folder_given_by_name_is_read(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "build/\n*.gen.yaml\n", "build/sub/a.yaml": "a: 1\n"})
    write(tmp_path, {"build/sub/b.gen.yaml": "a: 1\n", "build/.gitignore": "c.yaml\n"})
    write(tmp_path, {"build/c.yaml": "a: 1\n"})
    git_init(tmp_path)
    assert found(tmp_path) == []
    assert found(tmp_path / "build") == ["sub/a.yaml", "sub/b.gen.yaml"]


def test_info_exclude_alone(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": "a: 1\n", "b.yaml": "a: 1\n"})
    git_init(tmp_path)
    (tmp_path / ".git" / "info" / "exclude").write_text("# mine\nb.yaml\n", encoding="utf-8")
    assert found(tmp_path) == ["a.yaml"]


def test_an_unreadable_gitignore_is_ignored(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": "a: 1\n"})
    (tmp_path / ".gitignore").mkdir()  # cannot be read as a file
    git_init(tmp_path)
    assert found(tmp_path) == ["a.yaml"]
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "sub" / ".gitignore"
        fifo.parent.mkdir()
        os.mkfifo(fifo)  # never opened for a blocking read
        (tmp_path / "sub" / "b.yaml").write_text("a: 1\n", encoding="utf-8")
        assert found(tmp_path) == ["a.yaml", "sub/b.yaml"]


def test_gitignore_end_to_end(tmp_path: Path) -> None:
    write(tmp_path, {"ns.yaml": NAMESPACE, "out/broken.yaml": "a: [\n", ".gitignore": "out/\n"})
    git_init(tmp_path)
    report = lint(tmp_path)
    assert report["summary"]["files"] == 1 and report["findings"] == []
    assert report["skipped"] == []


# ---- Helm charts ------------------------------------------------------------------------

CHART = {
    "chart/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    "chart/values.yaml": "image: nginx\n",
    "chart/templates/deploy.yaml": NAMESPACE.replace("apps", "{{ .Values.x }}"),
    "chart/crds/crd.yaml": NAMESPACE,
    "chart/charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    "chart/charts/sub/values.yaml": "a: 1\n",
    "chart/charts/sub/templates/t.yaml": "{{ .Values.y }}\n",
    "other/templates/t.yaml": NAMESPACE,
}


def test_chart_templates_are_never_read(tmp_path: Path) -> None:
    write(tmp_path, CHART)
    expected = [
        "chart/Chart.yaml",
        "chart/values.yaml",
        "chart/charts/sub/Chart.yaml",
        "chart/charts/sub/values.yaml",
        "chart/crds/crd.yaml",
        "other/templates/t.yaml",  # not a chart's
    ]
    assert found(tmp_path) == expected
    assert found(tmp_path, default_excludes=False) == expected


def test_charts_are_yielded_only_when_asked(tmp_path: Path) -> None:
    write(tmp_path, CHART)
    plain = list(discover([str(tmp_path)], base=str(tmp_path)))
    assert not [i for i in plain if isinstance(i, Chart)]
    items = list(discover([str(tmp_path)], base=str(tmp_path), charts=True))
    shown = [i.shown for i in items]
    assert [i for i in items if isinstance(i, Chart)] == [
        Chart(str(tmp_path / "chart"), "chart"),
        Chart(str(tmp_path / "chart" / "charts" / "sub"), "chart/charts/sub"),
    ]
    assert shown.index("chart") < shown.index("chart/Chart.yaml")
    assert shown.index("chart/charts/sub") < shown.index("chart/charts/sub/Chart.yaml")
    assert [i.shown for i in items if not isinstance(i, Chart)] == [i.shown for i in plain]


def test_a_chart_met_twice_is_yielded_once(tmp_path: Path) -> None:
    write(tmp_path, CHART)
    items = discover([str(tmp_path), str(tmp_path / "chart")], base=str(tmp_path), charts=True)
    assert [i.shown for i in items if isinstance(i, Chart)] == ["chart", "chart/charts/sub"]


def test_a_folder_named_chart_yaml_is_not_a_chart(tmp_path: Path) -> None:
    write(tmp_path, {"x/Chart.yaml/a.yaml": "a: 1\n", "x/templates/t.yaml": "a: 1\n"})
    assert found(tmp_path, charts=True) == ["x/Chart.yaml/a.yaml", "x/templates/t.yaml"]


def test_chart_end_to_end(tmp_path: Path) -> None:
    write(tmp_path, CHART)
    report = lint(tmp_path / "chart")
    assert not [f for f in report["findings"] if f["ruleId"] == "EGL001"], report["findings"]
    assert report["summary"]["files"] == 5  # both charts' Chart.yaml and values.yaml, the CRD
