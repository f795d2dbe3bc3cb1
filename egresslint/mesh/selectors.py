"""Kubernetes label selectors and Istio host names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model import as_list, as_map


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = str(expr.get("key"))
    op = expr.get("operator")
    values = {str(v) for v in as_list(expr.get("values"))}
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False  # an unknown operator selects nothing (the API server rejects it)


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (``matchLabels`` + ``matchExpressions``) selects ``labels``.

    An empty or missing selector selects everything, as in a NetworkPolicy ``podSelector: {}``.
    """
    sel = as_map(selector)
    for key, value in as_map(sel.get("matchLabels")).items():
        if labels.get(str(key)) != str(value):
            return False
    return all(
        _expression_matches(e, labels)
        for e in as_list(sel.get("matchExpressions"))
        if isinstance(e, Mapping)
    )


def is_empty_selector(selector: Any) -> bool:
    sel = as_map(selector)
    return not as_map(sel.get("matchLabels")) and not as_list(sel.get("matchExpressions"))


def fqdn(host: str, namespace: str) -> str:
    """A short host name resolves in the namespace of the resource that names it."""
    host = host.strip().lower().rstrip(".")
    if "." in host or host.startswith("*"):
        return host
    return f"{host}.{namespace}.svc.cluster.local"


def host_matches(pattern: str, host: str) -> bool:
    """Istio host matching: equal, or ``*.example.com`` covering ``api.example.com``."""
    if pattern == host or pattern == "*":
        return True
    if pattern.startswith("*."):
        suffix = pattern[1:]
        if host.startswith("*."):
            return host[1:].endswith(suffix)
        return host.endswith(suffix) and len(host) > len(suffix)
    return False
