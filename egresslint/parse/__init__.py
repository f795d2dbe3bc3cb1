"""From bytes to resources with positions: the YAML loader on libyaml, its bounded node
builder, the parse cache, and the parallel parse that fills it.

Parsing knows Kubernetes object shapes (apiVersion, kind, metadata) and nothing of Istio.
May import: ``sources`` and the top-level shared modules.
"""
