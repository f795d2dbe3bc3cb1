"""Views: what each cluster gets, rendered by the real engines, reported at the source lines.

Tests that render need kustomize (or kubectl) or helm on PATH and skip, saying so, where
they are missing; the fallback without any engine is tested with a PATH that has none.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from egresslint.cli import cli
from egresslint.lint import engine
from egresslint.report import sarif
from egresslint.views import origins, tools
from egresslint.views.assemble import Unit, split_roots

ROOT = Path(__file__).resolve().parent.parent
REPOS = ROOT / "fixtures" / "repos"
OVERLAYS = REPOS / "broken-kustomize-overlays"

needs_kustomize = pytest.mark.skipif(
    tools.find_kustomize(None, use_cache=False) is None,
    reason="needs kustomize or kubectl on PATH: neither is installed",
)
needs_helm = pytest.mark.skipif(
    tools.find_helm(None, use_cache=False) is None, reason="needs helm on PATH: not installed"
)


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def _run(*paths: Path | str, **options: Any) -> engine.RunResult:
    opts = engine.Options(paths=[str(p) for p in paths], base_dir=str(ROOT), **options)
    return engine.run(opts)


def _where(result: engine.RunResult) -> set[tuple[str, int, str]]:
    return {(f.file.path, f.span.line, f.rule_id) for f in result.findings}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _cli(*args: str) -> tuple[int, dict[str, Any]]:
    out = CliRunner().invoke(cli, ["check", "--format", "json", "--fail-on", "note", *args])
    assert "Traceback" not in out.output, out.output
    return out.exit_code, json.loads(out.stdout)


# ---- where rendered fields point ------------------------------------------------------------
def test_first_change_finds_what_the_render_altered() -> None:
    source = {"metadata": {"name": "stripe", "labels": {"a": "1"}}, "spec": {"hosts": ["x"]}}
    rendered = {
        "metadata": {"name": "prod-stripe", "labels": {"a": "1", "team": "p"}},
        "spec": {"hosts": ["x"], "resolution": "NONE"},
    }
    change = origins.first_change
    assert change(rendered, source, ("metadata", "labels", "a")) is None
    assert change(rendered, source, ("metadata", "labels", "team")) == (
        "metadata",
        "labels",
        "team",
    )
    assert change(rendered, source, ("metadata", "name")) == ("metadata", "name")
    assert change(rendered, source, ("spec", "resolution")) == ("spec", "resolution")
    assert change(rendered, source, ("spec", "hosts", 0)) is None
    # a field the rendered resource lacks points where it would be added, in the source
    assert change(rendered, source, ("spec", "location")) is None


@needs_kustomize
def test_overlay_findings_point_at_the_line_to_edit() -> None:
    result = _run(OVERLAYS)
    base = "fixtures/repos/broken-kustomize-overlays"
    assert _where(result) == {
        (f"{base}/base/serviceentry.yaml", 6, "EGL102"),
        (f"{base}/base/serviceentry.yaml", 6, "EGL111"),
        (f"{base}/overlays/staging/stripe-resolution.yaml", 3, "EGL110"),
    }
    missing = next(f for f in result.findings if f.rule_id == "EGL102")
    assert missing.views == (f"{base}/overlays/prod",)
    renamed = missing.related[0]
    file, span = renamed.place()
    assert (file.path, span.line) == (f"{base}/overlays/prod/kustomization.yaml", 4)
    assert "namePrefix: prod-" in file.line_text(span.line)


@needs_kustomize
def test_transformed_fields_point_at_the_kustomization(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [se.yaml]\n",
            "base/se.yaml": (
                "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
                "  name: stripe\nspec:\n  hosts: [api.stripe.com]\n  resolution: DNS\n"
            ),
            "prod/kustomization.yaml": (
                "namespace: egress\nnamePrefix: p-\ncommonLabels:\n  team: pay\n"
                "resources:\n- ../base\npatches:\n- target: {kind: ServiceEntry}\n"
                "  patch: |-\n    - op: add\n      path: /spec/location\n"
                "      value: MESH_EXTERNAL\n"
            ),
        },
    )
    result = _run(tmp_path)
    se = next(r for r in result.graph.resources if r.kind == "ServiceEntry")  # type: ignore[union-attr]
    assert (se.namespace, se.name) == ("egress", "p-stripe")
    assert "config.kubernetes.io/origin" not in se.annotations
    where = {path: (f.path.rsplit("/", 2)[-2:], s.line) for path, (f, s) in _places(se)}
    assert where[("metadata", "namespace")] == (["prod", "kustomization.yaml"], 1)
    assert where[("metadata", "name")] == (["prod", "kustomization.yaml"], 2)
    assert where[("metadata", "labels", "team")] == (["prod", "kustomization.yaml"], 4)
    assert where[("spec", "location")] == (["prod", "kustomization.yaml"], 9)
    assert where[("spec", "hosts")] == (["base", "se.yaml"], 6)


def _places(res: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
    for path in (
        ("metadata", "namespace"),
        ("metadata", "name"),
        ("metadata", "labels", "team"),
        ("spec", "location"),
        ("spec", "hosts"),
    ):
        yield path, res.place(path)


# ---- views -----------------------------------------------------------------------------------
def test_sibling_folders_that_define_the_same_objects_are_views() -> None:
    def unit(shown: str) -> Unit:
        res = _resource("ServiceEntry", "egress", "stripe")
        return Unit(os.path.dirname(shown), shown, [res])

    roots = split_roots([unit("clusters/prod/se.yaml"), unit("clusters/staging/se.yaml")])
    assert roots == {"clusters/prod", "clusters/staging"}
    # two files of one folder defining the same object stay one view (EGL006 reports them)
    assert split_roots([unit("egress/a.yaml"), unit("egress/b.yaml")]) == set()


def _resource(kind: str, ns: str, name: str) -> Any:
    from egresslint.model import PosDict, Resource, SourceFile

    return Resource("v1", kind, name, ns, PosDict(), SourceFile("x.yaml"), 0)


def test_split_clusters_are_judged_apart() -> None:
    result = _run(REPOS / "broken-clusters-split")
    names = [v.name for v in result.views]
    assert names == [
        "fixtures/repos/broken-clusters-split/clusters/prod",
        "fixtures/repos/broken-clusters-split/clusters/staging",
    ]
    missing = [f for f in result.findings if f.rule_id == "EGL102"]
    assert [f.views for f in missing] == [(names[1],)]


def test_configured_views_share_a_folder() -> None:
    case = REPOS / "clean-config-views"
    plain = _run(case)
    assert any(f.rule_id == "EGL102" and f.level == "note" for f in plain.findings)
    views = {
        "prod": [str(case / "clusters/prod"), str(case / "platform")],
        "staging": [str(case / "clusters/staging"), str(case / "platform")],
    }
    configured = _run(case, views=views)
    assert [v.name for v in configured.views] == ["prod", "staging"]
    assert configured.findings == []


def test_entry_points_apply_their_namespace() -> None:
    result = _run(REPOS / "broken-argocd-flux")
    argo = result.graphs["Application argocd/payments"]
    assert {r.namespace for r in argo.resources if r.kind == "ServiceEntry"} == {"payments"}
    flux = result.graphs["Kustomization flux-system/platform-egress"]
    gateway = next(r for r in flux.resources if r.kind == "Gateway")
    assert gateway.namespace == "istio-egress"
    file, span = gateway.place(("metadata", "namespace"))
    assert file.path.endswith("clusters/prod/platform-ks.yaml")
    assert "targetNamespace" in file.line_text(span.line)
    assert gateway.source_ref == "Gateway default/egress-waypoint"


@needs_kustomize
def test_a_shared_finding_is_reported_once_with_its_views(tmp_path: Path) -> None:
    se = (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: stripe\n"
        "  labels:\n    istio.io/use-waypoint: waypoint\nspec:\n  hosts: [api.stripe.com]\n"
        "  resolution: DNS\n"
    )
    (tmp_path / ".git").mkdir()  # the repository: what renders of a/ alone may read
    _write(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [se.yaml]\n",
            "base/se.yaml": se,
            "a/kustomization.yaml": "namespace: a\nresources: [../base]\n",
            "b/kustomization.yaml": "namespace: b\nresources: [../base]\n",
        },
    )
    result = _run(tmp_path)
    missing = [f for f in result.findings if f.rule_id == "EGL102"]
    assert len(missing) == 1 and len(missing[0].views) == 2
    alone = _run(tmp_path / "a")
    only = [f for f in alone.findings if f.rule_id == "EGL102"]
    assert only[0].views == ()  # one view: nothing to name
    assert sarif.fingerprint(only[0]) == sarif.fingerprint(missing[0])


# ---- rendering is untrusted input ---------------------------------------------------------------
def _no_process(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []

    def record(args: list[str], **_: Any) -> tools.Ran:
        calls.append(args)
        return tools.Ran(None, "not run")

    monkeypatch.setattr(tools, "run", record)
    return calls


def test_remote_base_and_escapes_are_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("TOP-SECRET-CANARY\n")
    tree = tmp_path / "repo"
    (tree / ".git").mkdir(parents=True)
    _write(
        tree,
        {
            "remote/kustomization.yaml": "resources:\n- github.com/example/platform//egress?ref=v1\n",
            "escape/kustomization.yaml": "configMapGenerator:\n- name: x\n  files:\n  - ../../secret.txt\n",
        },
    )
    (tree / "linked").mkdir()
    (tree / "linked" / "kustomization.yaml").write_text("resources: [se.yaml]\n")
    os.symlink(outside, tree / "linked" / "se.yaml")
    calls = _no_process(monkeypatch)
    result = _run(tree, kustomize=f"{shutil.which('true') or 'true'} kustomize")
    refused = sorted((f.file.path.split("/")[-2], f.level) for f in result.findings)
    assert refused == [("escape", "warning"), ("linked", "warning"), ("remote", "warning")]
    assert [c for c in calls if "version" not in c] == []  # no render was started
    assert all("TOP-SECRET-CANARY" not in f.message for f in result.findings)


def test_without_an_engine_files_are_linted_as_plain_manifests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = _run(OVERLAYS)
    assert any("neither kustomize nor kubectl is on PATH" in n for n in result.notifications)
    assert all(f.rule_id != "EGL005" for f in result.findings)
    assert {r.kind for r in result.graph.resources} >= {"ServiceEntry", "Gateway"}  # type: ignore[union-attr]
    never = _run(OVERLAYS, render="never")
    assert not any("kustomize" in n for n in never.notifications)


@needs_kustomize
def test_a_second_run_renders_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    first = _run(OVERLAYS)
    calls = _no_process(monkeypatch)
    second = _run(OVERLAYS)
    assert calls == []
    assert _where(second) == _where(first)


@needs_kustomize
def test_a_failed_render_is_a_finding_and_the_rest_is_linted(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "broken/kustomization.yaml": "resources: [se.yaml]\npatches:\n- path: missing.yaml\n",
            "broken/se.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
            "plain/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
        },
    )
    result = _run(tmp_path)
    failed = [f for f in result.findings if f.rule_id == "EGL005"]
    assert len(failed) == 1 and failed[0].level == "error"
    assert failed[0].file.path.endswith("broken/kustomization.yaml")
    assert "missing.yaml" in failed[0].message and "egresslint-render-" not in failed[0].message
    assert any(r.kind == "Namespace" for r in result.graph.resources)  # type: ignore[union-attr]


def test_a_render_is_bounded_in_time_and_size(tmp_path: Path) -> None:
    python = shutil.which("python3") or shutil.which("python")
    assert python is not None
    slow = tools.run([python, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert slow.output is None and "did not finish" in slow.error
    loud = tools.run([python, "-c", "print('x' * 5000000)"], max_output=1 << 20)
    assert loud.output is None and "more than" in loud.error
    home = tools.run([python, "-c", "import os; print(os.environ.get('KUBECONFIG', ''))"])
    assert home.output is not None and b"no-kubeconfig" in home.output


# ---- Helm ------------------------------------------------------------------------------------
CHART = {
    "charts/egress/Chart.yaml": "apiVersion: v2\nname: egress\nversion: 0.1.0\n",
    "charts/egress/values.yaml": "waypoint: waypoint\n",
    "charts/egress/templates/se.yaml": (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
        "  name: {{ .Release.Name }}-stripe\n  labels:\n"
        "    istio.io/use-waypoint: {{ .Values.waypoint }}\nspec:\n  hosts: [api.stripe.com]\n"
        "  ports: [{number: 443, name: tls, protocol: TLS}]\n  resolution: DNS\n"
    ),
    "manifests/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: egress\n",
}


def test_a_chart_without_a_release_is_named_in_a_note(tmp_path: Path) -> None:
    _write(tmp_path, CHART)
    result = _run(tmp_path)
    assert result.findings == []
    assert any("Helm chart" in n and "charts/egress" in n for n in result.notifications)


@needs_helm
def test_a_configured_release_is_rendered_and_placed_in_its_template(tmp_path: Path) -> None:
    _write(tmp_path, CHART)
    release = {"chart": str(tmp_path / "charts/egress"), "name": "pay", "namespace": "egress"}
    result = _run(tmp_path, helm_releases=[release])
    missing = [f for f in result.findings if f.rule_id == "EGL102"]
    assert [(f.file.path.rsplit("/", 2)[-1], f.span.line) for f in missing] == [("se.yaml", 6)]
    assert missing[0].message.startswith("ServiceEntry egress/pay-stripe ")
    assert not any("Helm chart" in n for n in result.notifications)


@needs_kustomize
def test_fix_leaves_rendered_resources_to_a_person(tmp_path: Path) -> None:
    gateway = (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: agw\n"
        "spec:\n  gatewayClassName: enterprise-agentgateway-waypoint\n"
        "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n"
    )
    _write(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [gw.yaml]\n",
            "base/gw.yaml": gateway,
            "prod/kustomization.yaml": "namespace: egress\nresources: [../base]\n",
        },
    )
    out = CliRunner().invoke(cli, ["fix", "--write", str(tmp_path)])
    assert "Traceback" not in out.output
    assert out.exit_code == 1 and "rendered resource" in out.stderr
    assert (tmp_path / "base" / "gw.yaml").read_text() == gateway


def test_views_and_external_gateways_come_from_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(REPOS / "clean-config-views", tmp_path / "repo")
    config = tmp_path / "repo" / ".egresslint.yaml"
    config.write_text(
        "views:\n  prod: [clusters/prod, platform]\n"
        "  staging: {paths: [clusters/staging, platform], complete: true}\n"
    )
    monkeypatch.chdir(tmp_path / "repo")
    code, report = _cli(".")
    assert code == 0 and report["findings"] == []
    assert [v["name"] for v in report["views"]] == ["prod", "staging"]
    config.write_text("external:\n  gateways: [istio-egress/egress-waypoint]\n")
    code, report = _cli("clusters/prod")
    assert code == 0 and report["findings"] == []  # the platform waypoint is declared
    code, report = _cli("--config", str(config), "clusters/prod", "--fail-on", "note")
    assert code == 0


def test_a_wrong_view_in_the_configuration_names_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".egresslint.yaml").write_text("views:\n  prod: 3\n")
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(cli, ["check", "."])
    assert out.exit_code == 2 and ".egresslint.yaml:2: views.prod" in out.stderr


def test_the_engine_message_is_shown_without_the_wrapper(tmp_path: Path) -> None:
    from egresslint.model import PosDict, SourceFile
    from egresslint.views.kustomize import Kustomization
    from egresslint.views.render import clean_error

    k = Kustomization("/repo/overlays/prod", "overlays/prod", SourceFile("k.yaml"), PosDict())
    wrapper, entry = "/tmp/egresslint-render-x1", "../../repo/overlays/prod"
    kubectl = (
        '"command failed" err=< accumulating resources: accumulation err=\'accumulating '
        f"resources from '{entry}': '/repo/overlays/prod' must resolve to a file': recursed "
        "accumulation of path '/repo/overlays/prod': no matches for Id ServiceEntry.v1 >"
    )
    assert clean_error(kubectl, wrapper, entry, k) == "no matches for Id ServiceEntry.v1"
    standalone = f"Error: lstat /repo/overlays/prod/missing.yaml: no such file, in {wrapper}"
    assert clean_error(standalone, wrapper, entry, k) == (
        "lstat overlays/prod/missing.yaml: no such file, in overlays/prod"
    )


def test_odd_kustomizations_and_entry_points_end_in_findings(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "a/kustomization.yaml": "- just\n- a list\n",
            "b/kustomization.yaml": "resources: 5\npatches: [{path: 7}, x]\nnamespace: [1]\n",
            "c/kustomization.yaml": "resources: [../a]\nnamePrefix: {x: 1}\n",
            "d/apps.yaml": (
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\n"
                "spec:\n  source: [1, 2]\n  sources: {a: 1}\n  destination: 5\n---\n"
                "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
                "metadata: {name: f}\nspec: {path: 7, targetNamespace: [x]}\n"
            ),
        },
    )
    result = _run(tmp_path)
    assert not result.internal_errors
    where = sorted((f.file.path.rsplit("/", 2)[-2], f.rule_id) for f in result.findings)
    assert where[0] == ("a", "EGL005") and "not a mapping" in result.findings[0].message
    if tools.find_kustomize(None, use_cache=False) is not None:
        assert ("b", "EGL005") in where  # kustomize's own refusal, quoted


def test_a_release_that_names_no_chart_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".egresslint.yaml").write_text("helm:\n  releases:\n  - chart: charts/none\n")
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(cli, ["check", "."])
    assert out.exit_code == 2
    assert ".egresslint.yaml:3: helm.releases.0.chart: no Chart.yaml in charts/none" in out.stderr
