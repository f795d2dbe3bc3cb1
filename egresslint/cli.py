"""Command line: ``egresslint check``, ``rules``, ``explain``."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from . import __version__, runtime
from .lint import baseline, config, context, diff, engine
from .lint.registry import all_rules, find
from .lint.rule import TAGS
from .mesh.graph import MODES
from .mesh.reachtypes import VERDICTS
from .parse import cachedir
from .report import istioctl, outputs, ruledocs, sarifpaths
from .report.formats import DRAWINGS, draw, render
from .report.progress import for_stderr
from .sources.discover import STDIN, Input, Skipped

EXIT_CODES = """\b
Exit codes:
  0  no finding at or above the --fail-on level
  1  findings at or above the --fail-on level
  2  usage error, nothing to lint (also empty standard input), or internal error
"""

CHECK_HELP = f"""Lint Istio ambient egress configuration in PATHs (files, folders, or - for stdin).

\b
Folders are searched recursively for *.yaml and *.yml files; hidden folders,
node_modules/, vendor/, what .gitignore ignores and non-regular files are
skipped. Kustomize entry points (a kustomization no other one includes) are
rendered with kustomize or kubectl and linted as rendered, each as a view of
its own; findings point at the source line to edit. Sibling folders that
define the same objects (clusters/prod, clusters/staging) are separate views.
Examples:
  egresslint check                      # the current folder
  egresslint check clusters/ --format sarif --output egresslint.sarif
  egresslint check clusters/ -f sarif:egresslint.sarif -f junit:junit.xml
  egresslint check --diff origin/main   # only the findings this branch adds
  set -o pipefail; helm template my-release chart/ | egresslint check -
  kubectl get -A -o yaml serviceentries,gateways,namespaces | egresslint check -

{EXIT_CODES}"""


def _fail(message: str) -> None:
    click.echo(f"egresslint: error: {message}", err=True)
    sys.exit(2)


def _format_specs(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str | None]]:
    """Each ``--format`` as (format, file or None): ``FORMAT`` or ``FORMAT:FILE``."""
    try:
        return [outputs.parse_spec(value) for value in values]
    except outputs.OutputError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="egresslint")
def cli() -> None:
    """Static linter for Istio ambient-mesh egress: finds traffic that bypasses egress
    control, external hosts that cannot be reached, egress proxies cut off from the
    outside, features the chosen egress mode cannot enforce, and invalid resources.

    Start with 'egresslint check PATH'; 'egresslint rules' lists what it checks and
    'egresslint explain EGL101' explains one rule.
    """


@cli.command("check", help=CHECK_HELP)
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@click.option(
    "--format",
    "-f",
    "fmt",
    multiple=True,
    callback=_format_specs,
    metavar="FORMAT[:FILE]",
    help="Report format, repeatable: text for people (the default), json for scripts, sarif "
    "for GitHub code scanning, github for workflow annotations, gitlab for a GitLab Code "
    "Quality report, junit for CI test reports. FORMAT:FILE writes that report to FILE "
    "(-f sarif:egresslint.sarif -f junit:junit.xml); when no report goes to standard output, "
    "the text findings still do (unless --quiet).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the report of the one --format given without a FILE to this file.",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Standard output carries findings only: no summary, notes or skipped files, and "
    "nothing when the reports go to files or nothing is found. The exit code is the same.",
)
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour the text on standard output: auto on a terminal unless NO_COLOR is set. "
    "Files are never coloured.",
)
@click.option(
    "--show-suppressed",
    is_flag=True,
    help="List suppressed findings in the text output too (the summary always counts them).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "note", "never"]),
    help="Lowest level of finding that makes the exit code 1.  [default: warning]",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Skip files or folders matching GLOB (relative path or name). Repeatable.",
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    help="Egress mode to assume when the repository does not contain the egress Gateways.",
)
@click.option(
    "--render",
    type=click.Choice(["auto", "never"]),
    help="auto: render Kustomize entry points with kustomize (or kubectl kustomize) when it is "
    "on PATH; never: lint every file as a plain manifest.  [default: auto]",
)
@click.option(
    "--render-remote/--no-render-remote",
    default=None,
    help="Let kustomize fetch remote bases (off by default: linting a pull request never "
    "reaches the network).",
)
@click.option(
    "--default-excludes/--no-default-excludes",
    default=None,
    help="Skip node_modules/, vendor/ and what .gitignore ignores.  [default: on]",
)
@click.option(
    "--istio-version",
    help="Istio version the configuration targets (1.18, the first with ambient mode, or "
    "later); version-dependent rules follow it.  "
    f"[default: {engine.DEFAULT_ISTIO_VERSION}]",
)
@click.option(
    "--namespace",
    "-n",
    "default_namespace",
    help="Namespace of resources that do not set metadata.namespace (like kubectl -n).  "
    "[default: default]",
)
@click.option(
    "--select",
    multiple=True,
    metavar="RULE",
    help="Run only these rules (id, name or tag). Repeatable.",
)
@click.option(
    "--ignore",
    multiple=True,
    metavar="RULE",
    help="Do not run these rules (id, name or tag). Repeatable.",
)
@click.option(
    "--sarif-category",
    metavar="ID",
    help="SARIF runAutomationDetails.id, to upload several runs for one commit.",
)
@click.option(
    "--sarif-root",
    type=click.Path(exists=True, file_okay=False),
    metavar="DIR",
    help="Make SARIF file URIs relative to DIR (%SRCROOT%).  [default: the top of the git work "
    "tree holding the PATHs; else the current folder, if the PATHs are inside it]",
)
@click.option(
    "--sarif-suppressed",
    type=click.Choice(["drop", "keep"]),
    default="drop",
    show_default=True,
    help="Suppressed findings in SARIF: drop them (counted in the run property "
    "suppressedResultsOmitted; GitHub code scanning ignores SARIF suppressions and would "
    "open alerts for them), or keep them with suppressions, for tools that honour those.",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    help="Configuration file (default: the nearest .egresslint.yaml, or pyproject.toml with "
    "[tool.egresslint], in the folder of the PATHs or above, up to the top of their git work "
    "tree; for stdin, from this folder).",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Do not read or write the caches of parsed files and of whole-run reports "
    "($XDG_CACHE_HOME/egresslint, else ~/.cache/egresslint).",
)
@click.option(
    "--no-inline-suppressions",
    is_flag=True,
    help="Ignore every suppression comment and egresslint.io/ignore annotation.",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False),
    help="Report only findings that this baseline file does not record.",
)
@click.option(
    "--write-baseline",
    type=click.Path(dir_okay=False),
    help="Record the current findings in this file (YAML, or JSON for *.json) and exit 0. "
    "Files are named from the top of the git work tree, so it matches from any folder.",
)
@click.option(
    "--diff",
    "diff_ref",
    metavar="REF",
    help="Report only findings that are new against the git revision REF (commit, branch, tag), "
    "wherever they are located; REF's files are read from git, never checked out. HEAD "
    "before the first commit stands for an empty tree.",
)
@click.option(
    "--context",
    multiple=True,
    type=click.Path(exists=True),
    help="Also load the files under PATH to resolve references, but report only findings in "
    "the given PATHs (say, the changed files with --context .). Repeatable.",
)
def check(
    paths: tuple[str, ...],
    fmt: list[tuple[str, str | None]],
    output: str | None,
    fail_on: str | None,
    **kw: Any,
) -> None:
    eff = _effective({**kw, "fail_on": fail_on}, paths)
    planned = _outputs(fmt, output, kw)
    options = _options(paths, kw, eff)
    options.reuse_results = options.cache  # the run cache: a rendered report, reused as is
    reported = context.plan(options, list(kw["context"]))
    since = _diff_key(kw, options)
    parts = _report_parts(_outputs_key(planned, eff), False, kw, reported)
    parts = parts if parts is None or since is None else [*parts, since]
    root = _baseline_root(paths, kw, eff)
    parts = parts if parts is None or root is None else [*parts, root]
    where = _sarif_where(planned, kw, options)
    parts = parts if parts is None or where is None else [*parts, where.key, kw["sarif_suppressed"]]
    prepared = engine.prepare(options)
    _refuse_inputs(planned, prepared.items)
    kept = _kept_reports(prepared.cache, parts, len(planned))
    if kept is not None:
        _write_all(planned, kept[0])
        sys.exit(engine.exit_for(kept[1], eff.value("fail-on")))
    result = _run(options, prepared, kw.get("diff_ref"))
    if result.files == 0:
        _fail("nothing to lint: no *.yaml or *.yml files found in " + ", ".join(options.paths))
    _stdin_check(result)
    context.restrict(result, reported)
    _baselines(result, kw, root)
    with runtime.gc_paused():  # thousands of acyclic report objects: nothing to collect
        reports = [
            _sarif(result, kw, where)
            if o.fmt == "sarif"
            else render(
                o.fmt,
                result,
                color=o.style.color,
                category=kw.get("sarif_category"),
                style=o.style,
                fail_on=eff.value("fail-on"),
                inputs=options.paths,
            )
            for o in planned
        ]
    if result.cache and parts and not result.internal_errors:
        worst = engine.worst_level(result.findings)
        for i, report in enumerate(reports):
            result.cache.keep_report([*parts, str(i)], report, worst)
    _write_all(planned, reports)
    for err in result.internal_errors:
        click.echo(f"egresslint: internal error: {err} (please report this as a bug)", err=True)
    if _EXIT_FAST:
        _KEEP.append(result)  # freed by the exit itself (see main), not object by object
    else:
        runtime.wait_writers()  # the cache entries are complete when check returns
    sys.exit(engine.exit_code(result, eff.value("fail-on")))


def _sarif_where(
    planned: list[outputs.Output], kw: dict[str, Any], options: engine.Options
) -> sarifpaths.Where | None:
    """For SARIF: what its file URIs are relative to (the run cache's report key has it)."""
    if not any(o.fmt == "sarif" for o in planned):
        return None
    base = options.base_dir or os.getcwd()
    return sarifpaths.find(list(options.paths), base, kw.get("sarif_root"))


def _sarif(result: engine.RunResult, kw: dict[str, Any], where: sarifpaths.Where | None) -> str:
    from .report import sarif  # sarif-om costs the other formats 50 ms of start-up

    keep = kw.get("sarif_suppressed") == "keep"
    return sarif.render(result, kw.get("sarif_category"), where=where, keep_suppressed=keep)


def _diff_key(kw: dict[str, Any], options: engine.Options) -> str | None:
    """For --diff: the revision's part of the run cache key (exit 2 when it cannot be read)."""
    if not kw.get("diff_ref"):
        return None
    if kw.get("write_baseline"):
        _fail("--diff and --write-baseline cannot be combined (a baseline records every finding)")
    try:
        return diff.key(kw["diff_ref"], options.paths)
    except diff.RevisionError as exc:
        _fail(str(exc))
        raise  # not reached


def _run(options: engine.Options, prepared: engine.Prepared, ref: str | None) -> engine.RunResult:
    if ref is None:
        return engine.run(options, progress=for_stderr(), prepared=prepared)
    try:
        return diff.run(options, ref, progress=for_stderr(), prepared=prepared)
    except diff.RevisionError as exc:
        _fail(str(exc))
        raise  # not reached


def _outputs(
    given: list[tuple[str, str | None]], output: str | None, kw: dict[str, Any]
) -> list[outputs.Output]:
    try:
        return outputs.plan(
            given,
            output,
            quiet=kw["quiet"],
            color=kw["color"],
            show_suppressed=kw["show_suppressed"],
            isatty=sys.stdout.isatty(),
        )
    except outputs.OutputError as exc:
        _fail(str(exc))
        raise  # not reached


def _outputs_key(planned: list[outputs.Output], eff: config.Effective) -> str:
    return outputs.key(planned, str(eff.value("fail-on")))


def _refuse_inputs(planned: list[outputs.Output], items: list[Input | Skipped]) -> None:
    """egresslint never writes to a file it reads."""
    paths = (i.real for i in items if isinstance(i, Input) and i.real != STDIN)
    hit = outputs.overwritten_input(planned, paths)
    if hit is not None:
        _fail(f"the {hit.fmt} report would overwrite {hit.file}, one of the files to lint")


def _kept_reports(cache: Any, parts: list[str] | None, count: int) -> tuple[list[str], int] | None:
    """Every output's report from the run cache, or None when one is missing."""
    if cache is None or not parts:
        return None
    reports = []
    worst = 0
    for i in range(count):
        kept = cache.report([*parts, str(i)])
        if kept is None:
            return None
        reports.append(kept[0])
        worst = kept[1]
    return reports, worst


def _write_all(planned: list[outputs.Output], reports: list[str]) -> None:
    for out, report in zip(planned, reports, strict=True):
        _write(report, out.file, color=out.style.color)


def _stdin_check(result: engine.RunResult) -> None:
    """Empty standard input, or one without a Kubernetes object, is a failed pipeline more
    often than a clean one (``helm template ... | egresslint check -``): exit 2."""
    if result.stdin is None or result.stdin[1]:
        return
    if any(f.file.path == "<stdin>" for f in result.findings):
        return  # a YAML error is reported as such
    documents = result.stdin[0]
    what = (
        f"holds no Kubernetes object ({documents} YAML document(s), none with apiVersion and kind)"
        if documents
        else "is empty"
    )
    _fail(
        f"nothing to lint: standard input {what}; did the command before the pipe fail? "
        "(set -o pipefail makes the shell report that)"
    )


def _report_parts(
    fmt: str, color: bool, kw: dict[str, Any], reported: set[str] | None
) -> list[str] | None:
    """What, besides the run's findings, shapes the report (None: do not reuse one)."""
    if kw.get("write_baseline"):
        return None  # writing a baseline needs the findings themselves
    parts = [fmt, str(color), repr(kw.get("sarif_category")), repr(sorted(reported or []))]
    parts.append(repr(reported is None))
    if kw.get("baseline"):
        try:
            with open(kw["baseline"], "rb") as handle:
                parts.append(handle.read().hex())
        except OSError:
            return None
    return parts


def _effective(kw: dict[str, Any], paths: tuple[str, ...] = ()) -> config.Effective:
    """The configuration for ``paths`` (found from them upward); every problem at once."""
    try:
        return config.resolve(kw, paths=paths)
    except config.ConfigError as exc:
        for problem in exc.problems[:-1]:
            click.echo(f"egresslint: error: {problem}", err=True)
        _fail(exc.problems[-1] if exc.problems else str(exc))
        raise  # not reached


def _options(
    paths: tuple[str, ...], kw: dict[str, Any], eff: config.Effective | None = None
) -> engine.Options:
    for path in paths:
        if path != "-" and not os.path.lexists(path):
            _fail(f"no such file or folder: {path}")
    options = (eff or _effective(kw, paths)).options(list(paths) or ["."])
    options.inline_suppressions = not kw.get("no_inline_suppressions")
    options.cache = not kw.get("no_cache")
    if paths:
        options.paths = context.drop_excluded(options.paths, options.excludes, os.getcwd())
        if not options.paths:
            click.echo("egresslint: every given file is excluded by the configuration", err=True)
            sys.exit(0)
    return options


def _baseline_root(paths: tuple[str, ...], kw: dict[str, Any], eff: config.Effective) -> str | None:
    """What baseline files are relative to (None without --baseline or --write-baseline)."""
    if not (kw.get("baseline") or kw.get("write_baseline")):
        return None
    return baseline.project_root(list(paths) or ["."], eff.file.folder if eff.file else None)


def _baselines(result: engine.RunResult, kw: dict[str, Any], root: str | None) -> None:
    if root is None:
        return
    ids = baseline.Identities(root)
    try:
        if kw["write_baseline"]:
            count = baseline.write(kw["write_baseline"], result.findings, ids)
            click.echo(f"egresslint: wrote {count} finding(s) to {kw['write_baseline']}", err=True)
            sys.exit(2 if result.internal_errors else 0)
        baseline.apply(result, baseline.read(kw["baseline"]), kw["baseline"], ids)
    except baseline.BaselineError as exc:
        _fail(str(exc))


def printable(text: str) -> str:
    """``text`` as valid UTF-8 can carry it: lone surrogates (from YAML escapes such as
    "\\ud800", or file names that are not UTF-8) become backslash escapes instead of making
    the write fail."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _write(report: str, output: str | None, color: bool = False) -> None:
    report = printable(report)
    if output is None:
        click.echo(report, nl=False, color=color or None)  # None: strip colours off a tty
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(report)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}")


@cli.command("config")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
def config_cmd(paths: tuple[str, ...], **kw: Any) -> None:
    """Print the effective configuration (YAML) for PATHs (default: the current folder), each
    value commented with where it comes from: a file and line, the command line, or the
    default. Takes the options of 'check' that the configuration file can also set. Saved
    in the current folder ('egresslint config > .egresslint.yaml'), it loads back with the
    same settings."""
    click.echo(config.dump(_effective(kw, paths)), nl=False)


config_cmd.params.extend(p for p in check.params if p.name in (*config.CLI_KEYS, "config"))


@cli.command("rules")
@click.option("--tag", type=click.Choice(TAGS), help="Only rules with this tag.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "istioctl"]),
    default="text",
    show_default=True,
    help="markdown prints the full reference (docs/rules.md); istioctl the table of "
    "istioctl analyze messages and the rules covering them (docs/istioctl-analyze.md).",
)
def rules_cmd(tag: str | None, fmt: str) -> None:
    """List every rule, grouped by tag: id, name, default level, summary."""
    if fmt == "markdown":
        click.echo(ruledocs.markdown(), nl=False)
        return
    if fmt == "istioctl":
        click.echo(istioctl.markdown(), nl=False)
        return
    for current in TAGS:
        chosen = [r for r in all_rules() if r.tag == current and (tag is None or tag == current)]
        if not chosen:
            continue
        click.echo(f"{current}:")
        for r in chosen:
            fix = " [fix]" if r.fixable else ""
            click.echo(f"  {r.id}  {r.name:<40} {r.level:<8} {r.summary}{fix}")


@cli.command("explain")
@click.argument("rule")
def explain(rule: str) -> None:
    """Print the documentation of RULE (an id such as EGL101, or a rule name)."""
    found = find(rule)
    if found is None:
        _fail(f"unknown rule '{rule}' (see 'egresslint rules')")
        return
    click.echo(f"{found.id} {found.name} ({found.tag}, default level {found.level})\n")
    click.echo(found.summary + "\n")
    if found.fixable:
        click.echo("Fixable: yes ('egresslint fix' applies it)\n")
    click.echo(found.help)


@cli.group("cache")
def cache_cmd() -> None:
    """The cache of parsed files, renders and run reports ($XDG_CACHE_HOME/egresslint, else
    ~/.cache/egresslint). After each write it is pruned, oldest entries first, to at most
    EGRESSLINT_CACHE_MAX bytes (default 512M; K, M and G are units of 1024)."""


@cache_cmd.command("info")
def cache_info() -> None:
    """Where the cache is, its size and bound, and the entries of each store."""
    click.echo(cachedir.describe(cachedir.summary()), nl=False)


@cache_cmd.command("clean")
def cache_clean() -> None:
    """Remove everything in the cache folder."""
    removed, freed, failed = cachedir.clean()
    where = cachedir.folder()
    click.echo(f"egresslint: removed {removed} file(s), {cachedir.human(freed)}, from {where}")
    if failed:
        _fail("could not remove " + ", ".join(failed))


def _input_options(func: Any) -> Any:
    """The options that say what to read, shared by ``fix`` and ``graph``."""
    options = [
        click.option("--exclude", multiple=True, metavar="GLOB", help="Skip matching files."),
        click.option("--mode", type=click.Choice(MODES), help="Egress mode to assume."),
        click.option("--render", type=click.Choice(["auto", "never"]), help="Render Kustomize."),
        click.option("--render-remote/--no-render-remote", default=None, help="Fetch bases."),
        click.option("--default-excludes/--no-default-excludes", default=None),
        click.option("--istio-version", default=engine.DEFAULT_ISTIO_VERSION, show_default=True),
        click.option("--namespace", "-n", "default_namespace", default="default"),
        click.option("--select", multiple=True, metavar="RULE", help="Only these rules."),
        click.option("--ignore", multiple=True, metavar="RULE", help="Not these rules."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command("fix")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@click.option("--write", is_flag=True, help="Change the files instead of printing a diff.")
@_input_options
def fix_cmd(paths: tuple[str, ...], write: bool, **kw: Any) -> None:
    """Apply the mechanical fixes rules offer ('[fix]' in 'egresslint rules').

    \b
    Prints a unified diff by default (exit 1 when there is something to fix);
    --write changes the files. Comments, key order, quoting and layout stay as
    they were; a file with a YAML error, standard input, or a file whose other
    lines ruamel.yaml would reformat is never changed (exit 1, with the reason).
    """
    from .fix import fixer

    report = fixer.plan(_options(paths, kw))
    for item in report.files:
        if write:
            fixer.write(item)
        else:
            click.echo(item.diff(), nl=False)
        for a in item.applied:
            f = a.finding
            where = f"{f.file.path}:{f.span.line}:{f.span.col}"
            click.echo(f"{where}: fixed {f.rule_id}: {a.edit.description}", err=not write)
    for path, why in report.refused:
        click.echo(f"egresslint: not fixed: {path}: {why}", err=True)
    count = sum(len(i.applied) for i in report.files)
    verb = "fixed" if write else "would fix"
    summary = f"{verb} {count} finding(s) in {len(report.files)} file(s)"
    summary = summary if count else "nothing to fix"
    click.echo(f"egresslint: {summary}", err=True)
    sys.exit(1 if report.refused or (report.files and not write) else 0)


@cli.command("graph")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(DRAWINGS),
    default="dot",
    show_default=True,
    help="dot for Graphviz, mermaid for Markdown/GitHub, html for a self-contained page.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to this file.")
@click.option(
    "--view",
    metavar="NAME",
    help="The view to draw when the run builds several ('egresslint check' lists them); "
    "default: the first.",
)
@_input_options
def graph_cmd(
    paths: tuple[str, ...], fmt: str, output: str | None, view: str | None, **kw: Any
) -> None:
    """Draw who reaches what (the model of 'egresslint reach') for PATHs.

    \b
    Clients (by namespace), the egress proxies on their paths (waypoints, egress
    gateways with their class, and 'no egress proxy' for direct paths) and the
    destinations (by ServiceEntry namespace). Edges are coloured and labelled by
    verdict: controlled (green), denied (blue, tee), bypass (red, dashed),
    unreachable (amber, dotted), and a waypoint's refused binding (grey, dashed);
    the label names the resource that decides. The html page opens at namespace
    level, opens a namespace on click and filters by namespace, host and verdict.
    Examples:
      egresslint graph manifests/ -f html -o egress.html
      egresslint graph manifests/ | dot -Tsvg > egress.svg
    """
    options = _options(paths, kw)
    try:
        version = engine.parse_version(options.istio_version)
    except ValueError as exc:
        _fail(f"--istio-version: {exc}")
        return
    result = engine.run(options)
    if result.files == 0:
        _fail("nothing to draw: no *.yaml or *.yml files found")
    if view is not None:
        if view not in result.graphs:
            _fail(f"no view '{view}'; the views are: {', '.join(result.graphs) or 'none'}")
        result.graph = result.graphs[view]
    _write(draw(fmt, result, version), output)


REACH_HELP = """Who can reach what: every client (namespace and service account) paired with
every external destination (registered host and port, and any unregistered address), with
one verdict each and the path behind it.

\b
Verdicts: controlled (through the egress waypoint or gateway, allowed there),
denied (refused by a policy), bypass (leaves without the egress proxy),
unreachable (cannot work, and why). Each path has six steps: capture,
registration, proxy, tls, authorization, network; with one client and one
destination left by the filters, the trace shows every step with file:line.
Reads the same inputs, views and configuration as 'check'. Examples:
  egresslint reach manifests/
  egresslint reach manifests/ --from payments/checkout --to api.stripe.com:443
  egresslint reach manifests/ --verdict bypass --format csv
  egresslint reach . --diff origin/main --format markdown   # for a pull request

\b
Exit codes:
  0  the report was written
  2  usage error, nothing to read, or internal error
"""


@cli.command("reach", help=REACH_HELP)
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@click.option(
    "--from",
    "from_",
    multiple=True,
    metavar="NS[/SA]",
    help="Only clients of this namespace (and service account). Repeatable.",
)
@click.option(
    "--to",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Only this destination ('unregistered' for any unregistered address). Repeatable.",
)
@click.option(
    "--verdict",
    multiple=True,
    type=click.Choice(VERDICTS),
    help="Only pairs with this verdict. Repeatable.",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["text", "json", "csv", "markdown", "html"]),
    default="text",
    show_default=True,
    help="text groups the matrix by destination; markdown suits a pull request comment.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to this file.")
@click.option(
    "--view", metavar="NAME", help="Only this view when the run builds several (default: all)."
)
@click.option(
    "--diff",
    "diff_ref",
    metavar="REF",
    help="List the pairs whose verdict or path changed since git revision REF (text, markdown "
    "or json).",
)
@click.option(
    "--max-pairs",
    type=click.IntRange(min=0),
    default=100_000,
    show_default=True,
    help="Refuse to compute more pairs than this (clients times destinations left by the "
    "filters); 0: no limit.",
)
def reach_cmd(paths: tuple[str, ...], fmt: str, output: str | None, **kw: Any) -> None:
    from .lint import posture
    from .report import reach as reach_report

    options = _options(paths, kw)
    try:
        version = engine.parse_version(options.istio_version)
    except ValueError as exc:
        _fail(f"--istio-version: {exc}")
        return
    if kw["diff_ref"]:
        _write(_posture(options, version, fmt, kw), output)
        return
    found = posture.models(options, version, progress=for_stderr())
    if found.files == 0:
        _fail("nothing to read: no *.yaml or *.yml files found in " + ", ".join(options.paths))
    views = _reach_views(found.views, kw)
    chosen = [(name, p) for name, pairs in views.items() for p in pairs]
    if len(chosen) == 1 and (kw["from_"] or kw["to"]):
        name, pair = chosen[0]
        _write(reach_report.trace(fmt, name if len(found.views) > 1 else "", pair), output)
    else:
        _write(reach_report.matrix(fmt, views), output)
    for err in found.internal_errors:
        click.echo(f"egresslint: internal error: {err} (please report this as a bug)", err=True)


def _reach_views(models: dict[str, Any], kw: dict[str, Any]) -> dict[str, list[Any]]:
    """The pairs of each view that pass the filters (refused beyond --max-pairs)."""
    if kw["view"] is not None and kw["view"] not in models:
        _fail(f"no view '{kw['view']}'; the views are: {', '.join(models) or 'none'}")
    chosen = {n: m for n, m in models.items() if kw["view"] is None or n == kw["view"]}
    size = sum(m.extent(kw["from_"], kw["to"]) for m in chosen.values())
    if kw["max_pairs"] and size > kw["max_pairs"]:
        _fail(
            f"{size} pairs to compute, more than --max-pairs {kw['max_pairs']}: narrow them "
            "with --from, --to or --view, or raise --max-pairs"
        )
    return {n: m.select(kw["from_"], kw["to"], kw["verdict"]) for n, m in chosen.items()}


def _posture(options: engine.Options, version: Any, fmt: str, kw: dict[str, Any]) -> str:
    from .lint import posture
    from .report import reach as reach_report

    if fmt not in reach_report.DIFF_FORMATS:
        _fail(f"--diff writes {', '.join(reach_report.DIFF_FORMATS)}, not {fmt}")
    try:
        found = posture.posture(options, kw["diff_ref"], version, kw["view"], kw["max_pairs"])
    except (posture.RevisionError, posture.TooLarge) as exc:
        _fail(str(exc))
        raise  # not reached
    changes = [
        c
        for c in found.changes
        if (not kw["from_"] or any(_client_matches(c.client, f) for f in kw["from_"]))
        and (not kw["verdict"] or set(c.verdicts) & set(kw["verdict"]))
    ]
    for note in found.notifications:
        click.echo(f"egresslint: {note}", err=True)
    return reach_report.posture(fmt, changes, kw["diff_ref"])


def _client_matches(label: str, selector: str) -> bool:
    ns, _, sa = selector.partition("/")
    name = label.split(" ", 1)[0]
    have_ns, _, have_sa = name.partition("/")
    return ns in ("", "*", have_ns) and sa in ("", "*", have_sa)


reach_cmd.params.extend(
    p
    for p in check.params
    if p.name
    in (
        "exclude",
        "mode",
        "render",
        "render_remote",
        "default_excludes",
        "istio_version",
        "default_namespace",
        "config",
        "no_cache",
    )
)


_EXIT_FAST = False
_KEEP: list[Any] = []


def _exit_now(code: Any) -> None:
    """Flush, wait for the cache writers, and end the process without tearing down a parse
    of 100k resources object by object (about 0.8 s at that size, for memory the exit frees
    anyway)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            code = code or 1
    runtime.wait_writers()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def main() -> None:
    global _EXIT_FAST
    _EXIT_FAST = True
    try:
        cli(standalone_mode=True)
    except SystemExit as exc:
        if _KEEP:
            _exit_now(exc.code)
        raise
    except KeyboardInterrupt:
        click.echo("egresslint: interrupted", err=True)
        sys.exit(2)
    except Exception as exc:  # the last line of defence: never a traceback
        click.echo(
            f"egresslint: internal error: {type(exc).__name__}: {exc} (please report this as a bug)",
            err=True,
        )
        sys.exit(2)
