"""A stable JSON document: findings with locations and related resources, plus a summary."""

from __future__ import annotations

import json
from typing import Any

from ..lint.engine import RunResult
from ..model import Finding, Related, Span


def _span(span: Span) -> dict[str, int]:
    return {
        "line": span.line,
        "column": span.col,
        "endLine": span.end_line,
        "endColumn": span.end_col,
    }


def finding_obj(f: Finding) -> dict[str, Any]:
    return {
        "ruleId": f.rule_id,
        "level": f.level,
        "message": f.message,
        "file": f.file.path,
        "region": _span(f.span),
        "resource": f.resource.ref if f.resource else None,
        "fieldPath": [p for p in f.path],
        "related": [_related(r) for r in f.related],
        "suppressed": f.suppressed,
        **({"views": list(f.views)} if f.views else {}),
    }


def _related(r: Related) -> dict[str, Any]:
    file, span = r.place()
    return {
        "resource": r.resource.ref,
        "file": file.path,
        "region": _span(span),
        "message": r.message,
    }


def render(run: RunResult) -> str:
    doc = {
        "version": 1,
        "summary": {
            "files": run.files,
            "documents": run.documents,
            "resources": run.resources,
            **run.counts(),
            "suppressed": sum(1 for f in run.findings if f.suppressed is not None),
        },
        "findings": [finding_obj(f) for f in run.findings],
        "skipped": [{"file": s.shown, "reason": s.why} for s in run.skipped],
        "notifications": run.notifications,
        "views": [
            {"name": v.name, "kind": v.kind, "files": v.files, "resources": v.resources}
            for v in run.views
        ],
        **({"renderer": run.renderer} if run.renderer else {}),
        "internalErrors": run.internal_errors,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
