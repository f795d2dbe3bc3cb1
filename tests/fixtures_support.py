"""Reading fixture cases: inline ``# expect: EGLnnn`` markers and per-case options."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from egresslint.lint import engine
from egresslint.model import Finding
from egresslint.views import tools

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
MARKER = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")
OPTIONS = re.compile(r"#\s*egresslint-test:\s*(.+)")


@dataclass
class Case:
    path: Path
    expected: set[tuple[str, int, str]] = field(default_factory=set)  # (file, line, rule)
    argv: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.rglob("*") if p.suffix in (".yaml", ".yml"))


def read_case(path: Path) -> Case:
    case = Case(path)
    for file in case.files:
        shown = file.relative_to(ROOT).as_posix()
        text = file.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            for match in MARKER.finditer(line):
                for rule in re.split(r"[,\s]+", match.group(1).strip()):
                    if rule:
                        case.expected.add((shown, number, rule))
            opts = OPTIONS.search(line)
            if opts:
                case.argv += shlex.split(opts.group(1))
    return case


def options_for(case: Case) -> engine.Options:
    opts = engine.Options(paths=[str(case.path)], base_dir=str(ROOT))
    args = iter(case.argv)
    for arg in args:
        if arg == "--mode":
            opts.mode = next(args)
        elif arg == "--istio-version":
            opts.istio_version = next(args)
        elif arg == "--namespace":
            opts.default_namespace = next(args)
        elif arg == "--external-gateway":
            opts.external_gateways.append(next(args))
        elif arg == "--complete":
            opts.complete = True
        elif arg == "--view":  # NAME=FOLDER[,FOLDER...], folders relative to the case
            name, _, folders = next(args).partition("=")
            base = case.path if case.path.is_dir() else case.path.parent
            opts.views[name] = [str(base / f) for f in folders.split(",")]
        elif arg == "--needs-kustomize":
            pass  # run_case skips the case where no kustomize engine is installed
        else:
            raise ValueError(f"unknown fixture option {arg}")
    return opts


def run_case(case: Case) -> engine.RunResult:
    if "--needs-kustomize" in case.argv and tools.find_kustomize(None, use_cache=False) is None:
        pytest.skip("needs kustomize or kubectl on PATH: neither is installed")
    return engine.run(options_for(case))


def observed(findings: list[Finding]) -> set[tuple[str, int, str]]:
    return {(f.file.path, f.span.line, f.rule_id) for f in findings}


def rule_cases() -> list[Path]:
    return sorted(
        p for p in FIXTURES.glob("EGL[0-9][0-9][0-9]/*") if p.name.startswith(("bad-", "good-"))
    )


def repo_cases() -> list[Path]:
    return sorted(p for p in (FIXTURES / "repos").glob("*") if p.is_dir())
