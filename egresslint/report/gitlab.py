"""GitLab Code Quality report (``artifacts:reports:codequality``): a JSON array of issues in
GitLab's subset of the CodeClimate format.

Each unsuppressed finding is one issue with the fields GitLab reads: ``description``,
``check_name`` (the rule id), ``fingerprint``, ``severity`` and ``location.path`` /
``location.lines.begin``. GitLab keeps one issue per fingerprint and compares fingerprints
between the merge request and its target branch, so a fingerprint is stable across line
moves (SARIF's: rule, file, resource, field path) and unique within a report. Paths are
relative to the top of the git work tree that holds the inputs (GitLab links them to the
repository), else to the working folder, as SARIF's (``sarifpaths``). The schema GitLab
validates each issue against is ``schemas/gitlab-codequality.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

from ..lint.engine import RunResult
from ..model import Finding
from . import sarifpaths

# GitLab's severities, most severe first: blocker, critical, major, minor, info
SEVERITY = {"error": "major", "warning": "minor", "note": "info"}


def fingerprint(identity: str, seen: dict[str, int]) -> str:
    """SARIF's fingerprint of the identity; a second finding with the same identity gets
    its occurrence number added (GitLab would merge the two into one issue)."""
    count = seen.get(identity, 0)
    seen[identity] = count + 1
    key = identity if count == 0 else f"{identity}#{count + 1}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def issue(f: Finding, path: str, print_id: str) -> dict[str, Any]:
    views = f" (views: {', '.join(f.views)})" if f.views else ""
    return {
        "type": "issue",
        "check_name": f.rule_id,
        "description": f.message + views,
        "fingerprint": print_id,
        "severity": SEVERITY[f.level],
        "location": {
            "path": path,
            "lines": {"begin": f.span.line, "end": max(f.span.end_line, f.span.line)},
        },
    }


def render(run: RunResult, inputs: Sequence[str] = (), base: str | None = None) -> str:
    """The report; ``inputs``: the paths the run was given (relative to ``base``, the
    working folder by default), whose git work tree paths are relative to."""
    where = sarifpaths.find(list(inputs), base or os.getcwd())
    seen: dict[str, int] = {}
    issues = []
    for f in run.findings:
        if f.suppressed is None:
            path = where.artifact(f.file.path).path
            issues.append(issue(f, path, fingerprint(where.identity(f), seen)))
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
