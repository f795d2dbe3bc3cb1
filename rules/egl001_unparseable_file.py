"""A file that cannot be read as YAML is not linted at all, so nothing in it is checked.

**Why it matters.** A manifest that `kubectl apply` rejects, or a Helm template committed
unrendered, silently drops every resource it holds from the audit.

**What triggers it.** Invalid YAML syntax, Helm/Go template markup (`{{ ... }}`) that does not
parse, files that are not UTF-8/UTF-16 text, binary files, Python-specific tags such as
`!!python/object/apply` (never constructed), and documents that are too deeply nested or
expand through aliases into more than 200,000 nodes ("billion laughs").

**How to fix.** Correct the YAML at the reported line. For templates, lint the rendered
output: `helm template my-release ./chart | egresslint check -`. Exclude generated or
binary files with `--exclude`.

The engine reports this rule itself while loading; the other files are still linted.
"""

from egresslint.lint.rule import Rule

RULE = Rule(
    id="EGL001",
    name="unparseable-file",
    tag="invalid",
    level="error",
    summary="The file or document cannot be parsed as YAML, so it is not linted.",
    precision="very-high",
)
