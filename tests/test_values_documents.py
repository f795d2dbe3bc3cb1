"""Non-Kubernetes YAML documents (Helm values) reach rules through ``values_documents()``."""

from __future__ import annotations

from pathlib import Path

from egresslint.lint import engine
from egresslint.model import SourceFile
from egresslint.parse import loader

VALUES = """\
# istiod values beside the manifests
meshConfig:
  outboundTrafficPolicy:
    mode: REGISTRY_ONLY
---
apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
- just
- a list
---
kind: Broken
"""


def test_values_documents_are_kept_apart_from_resources() -> None:
    parsed = loader.parse_text(VALUES, SourceFile("values.yaml"))
    assert [r.kind for r in parsed.resources] == ["Namespace"]
    assert len(parsed.values) == 1
    doc = parsed.values[0]
    assert doc.doc_index == 0
    assert doc.get("meshConfig", "outboundTrafficPolicy", "mode") == "REGISTRY_ONLY"
    assert doc.get("meshConfig", "missing", "mode") is None
    assert doc.locate(("meshConfig", "outboundTrafficPolicy", "mode")).line == 4
    assert doc.ref == "Helm values values.yaml"


def test_graph_exposes_values_documents(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text(VALUES)
    result = engine.run(engine.Options(paths=[str(tmp_path)], base_dir=str(tmp_path)))
    assert result.graph is not None
    docs = result.graph.values_documents()
    assert [d.file.path for d in docs] == ["values.yaml"]
