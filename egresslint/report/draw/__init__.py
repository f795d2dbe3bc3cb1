"""Drawings of the reachability model: the drawing model (``topology``) and its renderers
(``dot``, ``mermaid``, ``html`` with the page's script and libraries in ``assets/``), which
only format that model."""
