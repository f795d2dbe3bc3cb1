"""A kustomization cannot be rendered, so nothing it applies is linted.

**Why it matters.** egresslint lints what a cluster gets: a Kustomize entry point is rendered
with the real engine (`kustomize build`, else `kubectl kustomize`) and its output is linted.
When the render fails, none of the resources it would apply are checked, while the repository
still looks linted.

**When it fires.**
- The engine fails: its own message is quoted (a patch that matches no resource, a missing
  file, two resources with the same name, `helmCharts`, which egresslint never enables
  inside kustomize, a generator that reads a file outside the kustomization's folder under
  kustomize's default load restrictor). Level error, at the entry point's kustomization.
- egresslint refuses to render, before running anything: the kustomization names a remote
  base (fetched only with `--render-remote`), or a path or a symlink that resolves outside the
  linted tree (the git work tree of the linted paths). Linting a pull request from anyone must
  not reach the network or read the machine's files. Level warning, at the reference.

A kustomization whose own files do not parse gets EGL001 at those files instead, once.

**How to fix.** Run `kubectl kustomize DIR` and fix what it reports. Vendor remote bases
into the repository, or pass `--render-remote` in pipelines that may fetch them. Lint from
the repository root so that bases in sibling folders are inside the linted tree.

Reported by the engine while rendering; the rest of the repository is still linted.
"""

from egresslint.lint.rule import Rule

RULE = Rule(
    id="EGL005",
    name="render-failed",
    tag="invalid",
    level="error",
    summary="A kustomization does not render (or is refused), so what it applies is not linted.",
    precision="very-high",
)
