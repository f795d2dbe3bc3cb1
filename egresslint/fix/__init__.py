"""Applying the mechanical fixes rules offer (``lint.edits``), keeping every other byte of
the edited files.

May import: ``lint``, ``mesh``, ``parse``, ``sources`` and the top-level shared modules.
"""
