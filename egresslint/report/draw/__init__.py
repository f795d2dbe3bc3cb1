"""The egress topology: a small drawable model of a run (``topology``) and its renderers
(``dot``, ``mermaid``, ``html``), which only format that model."""
