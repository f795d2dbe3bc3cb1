"""Output of a finished run: text, JSON, SARIF, GitHub, GitLab Code Quality and JUnit reports
(``formats`` picks one, ``outputs`` says where each of a run's reports goes),
topology drawings (``draw``), the generated rule reference, and progress on a terminal.

Reporters only format; they never decide anything.
May import: ``lint``, ``mesh``, ``parse``, ``sources`` and the top-level shared modules.
"""
