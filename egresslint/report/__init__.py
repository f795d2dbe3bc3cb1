"""Output of a finished run: text, JSON, SARIF and GitHub reports (``formats`` picks one),
topology drawings (``draw``), the generated rule reference, and progress on a terminal.

Reporters only format; they never decide anything.
May import: ``lint``, ``mesh``, ``parse``, ``sources`` and the top-level shared modules.
"""
