"""The rule engine: the rule API (``rule``, ``edits``), the registry of the catalogue in
``rules/``, the run itself (``engine``) with its rule-splitting helper and run cache,
suppressions, baselines, configuration, and linting files against a context tree.

Rules (``rules/eglNNN_*.py``) import only ``lint.rule``, ``lint.edits``, ``mesh`` and
``model``. The engine knows nothing of output formats or the command line.
May import: ``mesh``, ``parse``, ``sources`` and the top-level shared modules.
"""
