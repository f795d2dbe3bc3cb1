"""SARIF that GitHub code scanning maps to repository files: URIs relative to the root of the
git repository (or the folder ``--sarif-root`` names), fingerprints that do not depend on the
checkout's place or the working folder, standard input, suppressed findings left out by
default, and related locations linked from the message text."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from hashlib import sha256
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import engine
from egresslint.lint.registry import all_rules
from egresslint.model import Finding, PosDict, Related, Resource, SourceFile, Span
from egresslint.report import sarif, sarifpaths
from egresslint.sources.gitroot import git_root

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "fixtures" / "examples" / "broken"
SUPPRESSED = ROOT / "fixtures" / "EGL004" / "good-suppressions-with-reasons.yaml"
ODD_NAME = "odd name:1.yaml"  # a space, and a colon that must not read as a URI scheme


def make_repo(dest: Path) -> Path:
    """A git repository holding the broken example (findings with related locations), a file
    with suppressed findings, and a file whose name needs percent-encoding, under deploy/."""
    deploy = dest / "deploy"
    shutil.copytree(BROKEN, deploy)
    shutil.copy(SUPPRESSED, deploy / "suppressed.yaml")
    shutil.copy(BROKEN / "serviceentry.yaml", deploy / ODD_NAME)
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(dest)], check=True)
    else:  # the work tree is found from the .git entry alone
        (dest / ".git").mkdir()
    return dest


def lint(
    cwd: Path, *args: str, monkeypatch: pytest.MonkeyPatch, stdin: str | None = None
) -> dict[str, Any]:
    monkeypatch.chdir(cwd)
    out = CliRunner().invoke(cli, ["check", "--no-cache", "-f", "sarif", *args], input=stdin)
    assert out.exit_code == 1, out.output
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def run_of(doc: dict[str, Any]) -> dict[str, Any]:
    (run,) = doc["runs"]
    result: dict[str, Any] = run
    return result


def artifacts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every artifact location of the log: results' and related locations'."""
    out = []
    for res in run_of(doc)["results"]:
        for loc in res["locations"] + res.get("relatedLocations", []):
            out.append(loc["physicalLocation"]["artifactLocation"])
    return out


def located(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(rule, URI, fingerprint) of each result, sorted."""
    return sorted(
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["partialFingerprints"][sarif.FINGERPRINT_KEY],
        )
        for r in run_of(doc)["results"]
    )


def warnings(doc: dict[str, Any]) -> list[str]:
    notes = run_of(doc)["invocations"][0].get("toolExecutionNotifications", [])
    return [n["message"]["text"] for n in notes if n["level"] == "warning"]


# --- where URIs point -----------------------------------------------------------------------


def test_absolute_path_outside_the_working_folder_maps_to_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    doc = lint(elsewhere, str(repo / "deploy"), monkeypatch=monkeypatch)
    base = run_of(doc)["originalUriBaseIds"][sarif.SRCROOT]
    assert base["uri"] == repo.resolve().as_uri() + "/"
    found = artifacts(doc)
    assert found and all(a["uriBaseId"] == sarif.SRCROOT for a in found)
    uris = {a["uri"] for a in found}
    assert "deploy/serviceentry.yaml" in uris and "deploy/waypoint.yaml" in uris
    assert all(not u.startswith("/") and "://" not in u for u in uris)
    assert "deploy/odd%20name%3A1.yaml" in uris  # percent-encoded, no scheme
    assert {unquote(u) for u in uris} <= {f"deploy/{p.name}" for p in (repo / "deploy").iterdir()}
    assert warnings(doc) == []


def test_fingerprints_and_uris_do_not_depend_on_checkout_or_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_repo(tmp_path / "one" / "checkout")
    second = tmp_path / "two" / "deeper" / "copy"
    shutil.copytree(first, second)  # the same repository, checked out elsewhere
    from_top = lint(first, "deploy", monkeypatch=monkeypatch)
    from_inside = lint(second / "deploy", ".", monkeypatch=monkeypatch)
    from_outside = lint(tmp_path, str(second / "deploy"), monkeypatch=monkeypatch)
    assert located(from_top) and located(from_top) == located(from_inside) == located(from_outside)
    roots = {
        run_of(d)["originalUriBaseIds"][sarif.SRCROOT]["uri"] for d in (from_top, from_outside)
    }
    assert len(roots) == 2  # only the root itself says where the checkout is


def test_outside_git_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    shutil.copytree(BROKEN, work / "manifests")
    if git_root(work) is not None:
        pytest.skip("the temporary folder is inside a git work tree")
    doc = lint(work, "manifests", monkeypatch=monkeypatch)
    assert run_of(doc)["originalUriBaseIds"][sarif.SRCROOT]["uri"] == work.resolve().as_uri() + "/"
    uris = {a["uri"] for a in artifacts(doc)}
    assert "manifests/serviceentry.yaml" in uris
    assert all(a["uriBaseId"] == sarif.SRCROOT for a in artifacts(doc))


def test_outside_git_and_working_folder_absolute_file_uris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lone = tmp_path / "lone"
    shutil.copytree(BROKEN, lone)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if git_root(lone) is not None:
        pytest.skip("the temporary folder is inside a git work tree")
    doc = lint(elsewhere, str(lone), monkeypatch=monkeypatch)
    assert "originalUriBaseIds" not in run_of(doc)
    found = artifacts(doc)
    assert found and all("uriBaseId" not in a for a in found)
    assert (lone / "serviceentry.yaml").resolve().as_uri() in {a["uri"] for a in found}
    (warning,) = warnings(doc)
    assert "absolute file:// URIs" in warning and "--sarif-root" in warning


def test_sarif_root_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo")
    doc = lint(tmp_path, "--sarif-root", str(repo / "deploy"), str(repo), monkeypatch=monkeypatch)
    base = run_of(doc)["originalUriBaseIds"][sarif.SRCROOT]
    assert base["uri"] == (repo / "deploy").resolve().as_uri() + "/"
    assert "--sarif-root" in base["description"]["text"]
    assert "serviceentry.yaml" in {a["uri"] for a in artifacts(doc)}


def test_sarif_root_must_be_a_folder(tmp_path: Path) -> None:
    out = CliRunner().invoke(
        cli, ["check", "-f", "sarif", "--sarif-root", str(tmp_path / "nope"), str(BROKEN)]
    )
    assert out.exit_code == 2 and "--sarif-root" in out.output and "does not exist" in out.output


def test_standard_input_gets_a_relative_uri_and_a_notification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "\n---\n".join(p.read_text(encoding="utf-8") for p in sorted(BROKEN.glob("*.yaml")))
    doc = lint(tmp_path, "-", monkeypatch=monkeypatch, stdin=text)
    found = artifacts(doc)
    assert found and all(a == {"uri": "%3Cstdin%3E"} for a in found)
    assert unquote(found[0]["uri"]) == "<stdin>"
    (warning,) = warnings(doc)
    assert "standard input" in warning and "cannot map" in warning


def test_the_run_cache_keeps_reports_apart_by_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    uris = []
    for extra in ((), ("--sarif-root", str(repo / "deploy")), ()):
        out = CliRunner().invoke(cli, ["check", "-f", "sarif", *extra, str(repo / "deploy")])
        uris.append({a["uri"] for a in artifacts(json.loads(out.stdout))})
    assert uris[0] == uris[2] != uris[1]
    assert "deploy/waypoint.yaml" in uris[0] and "waypoint.yaml" in uris[1]


# --- suppressed findings --------------------------------------------------------------------


def test_suppressed_findings_are_left_out_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo")
    result = engine.run(engine.Options(paths=[str(repo)], base_dir=str(repo), cache=False))
    suppressed = [f for f in result.findings if f.suppressed is not None]
    assert suppressed
    dropped = lint(repo, ".", monkeypatch=monkeypatch)
    run = run_of(dropped)
    assert run["properties"][sarif.SUPPRESSED_COUNT] == len(suppressed)
    assert len(run["results"]) == len(result.findings) - len(suppressed)
    assert all("suppressions" not in r for r in run["results"])


def test_suppressed_findings_kept_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo")
    kept = run_of(lint(repo, "--sarif-suppressed", "keep", ".", monkeypatch=monkeypatch))
    assert sarif.SUPPRESSED_COUNT not in kept.get("properties", {})
    # every result carries suppressions, empty when not suppressed (SARIF 2.1.0 3.27.23)
    marks = [r["suppressions"] for r in kept["results"]]
    assert [] in marks
    justified = [s for m in marks for s in m]
    assert justified and all(s["kind"] == "inSource" and s["justification"] for s in justified)


# --- related locations ----------------------------------------------------------------------


def test_related_locations_are_linked_from_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = lint(ROOT, str(BROKEN), monkeypatch=monkeypatch)
    with_related = [r for r in run_of(doc)["results"] if r.get("relatedLocations")]
    assert with_related
    for res in with_related:
        links = [int(i) for i in re.findall(r"\]\((\d+)\)", res["message"]["text"])]
        assert links == [loc["id"] for loc in res["relatedLocations"]], res["message"]["text"]
        assert res["message"]["text"].endswith(".")


def _resource(name: str) -> Resource:
    return Resource("v1", "Namespace", name, "", PosDict(), SourceFile("a.yaml"), 0)


def test_link_text_escapes_brackets_and_backslashes() -> None:
    rel = Related(_resource("odd[0]\\x"), ("metadata",), "why")
    assert sarif.linked("Text.", [rel]) == ("Text. Related: [Namespace /odd\\[0\\]\\\\x](1) (why).")
    assert sarif.linked("Text.", []) == "Text."


def test_a_log_shrunk_to_the_size_limit_links_nothing_it_dropped() -> None:
    source = SourceFile("many.yaml", text="a: 1\n")
    rel = Related(_resource("x"), ("metadata",), "why")
    findings = [  # hex digests do not compress away
        Finding("EGL003", sha256(str(i).encode()).hexdigest() * 4, source, Span(1, 1, 1, 2))
        for i in range(2000)
    ]
    for f in findings:
        f.level, f.related = "error", (rel,)
    text = sarif.render(engine.RunResult(findings, list(all_rules())), limit=100_000)
    results = json.loads(text)["runs"][0]["results"]
    assert 0 < len(results) < len(findings)
    assert all("relatedLocations" not in r for r in results)
    assert all("](1)" not in r["message"]["text"] for r in results)


# --- the URIs themselves --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("a/b.yaml", "a/b.yaml"),
        ("odd dir/x:y.yaml", "odd%20dir/x%3Ay.yaml"),
        ("caf\u00e9.yaml", "caf%C3%A9.yaml"),
        (os.fsdecode(b"latin-\xff.yaml"), "latin-%FF.yaml"),  # not UTF-8: its own bytes
    ],
)
def test_relative_uris_are_percent_encoded(tmp_path: Path, name: str, uri: str) -> None:
    where = sarifpaths.Where(str(tmp_path), os.path.realpath(tmp_path))
    artifact = where.artifact(name)
    assert artifact == (uri, sarif.SRCROOT, name)
    assert artifact.mapped


def test_paths_outside_the_root_get_file_uris(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    where = sarifpaths.Where(str(tmp_path), os.path.realpath(root))
    artifact = where.artifact("other dir/a.yaml")
    assert artifact.uri == (tmp_path / "other dir" / "a.yaml").resolve().as_uri()
    assert artifact.base_id is None and not artifact.mapped
