"""egresslint: a static linter for Istio ambient-mesh egress configuration.

The packages follow the data: ``sources`` (which inputs) -> ``parse`` (resources with
positions) -> ``mesh`` (the graph and Istio's semantics) -> ``lint`` (the rule engine) ->
``report`` (formats and drawings); ``fix`` applies the edits rules offer. ``model`` holds the
shared data types, ``packaged`` finds the installation's files, ``runtime`` the machine's
cores and background writers; ``cli`` is the command line. CONTRIBUTING.md has the table of
what each package may import.
"""

__version__ = "0.1.0"
