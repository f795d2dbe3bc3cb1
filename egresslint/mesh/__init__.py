"""The mesh graph and Istio's semantics: resources linked by the references Istio follows,
the egress modes, label selectors and host names, NetworkPolicy reach, API facts and
schemas, and the shared judgements rules build on (bypass, reachability).

The mesh knows nothing of rules, findings' levels or output formats.
May import: ``parse``, ``sources`` and the top-level shared modules.
"""
