"""Views: the sets of resources applied to one cluster together, built the way the cluster
gets them. Kustomize entry points and configured Helm releases are rendered by the real
engines (``render``, ``helm``, ``tools``), their resources placed back at the source lines a
person edits (``origins``); Argo CD and Flux entry points, configured views, sibling folders
that define the same objects, and everything else (one default view) are put together in
``assemble``.

May import: ``parse``, ``sources`` and the top-level shared modules. Knows nothing of Istio.
"""
