"""The rule catalogue: one module per rule, named ``egl<NNN>_<rule_name>.py``.

Each module's docstring is the rule's help (markdown); ``RULE`` holds its metadata and
``check(ctx)`` yields its findings. Fixtures live in ``fixtures/EGL<NNN>/``.
"""
