"""Inputs: which files a run reads (folders walked, never leaving the given roots; standard
input), and, later, what gets rendered from them.

May import: the top-level shared modules (``model``, ``packaged``, ``runtime``) only.
"""
