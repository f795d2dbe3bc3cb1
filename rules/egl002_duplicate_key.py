"""A mapping repeats a key.

**Why it matters.** YAML forbids duplicate keys, but clients disagree on what to do with them:
`kubectl` (strict decoding) rejects the object, while many tools silently keep the last value.
A duplicated `labels:` or `hosts:` block means part of the intended configuration is lost.

**How to fix.** Merge the two entries into one key.

Reported by the engine while loading, at the second occurrence of the key.
"""

from egresslint.lint.rule import Rule

RULE = Rule(
    id="EGL002",
    name="duplicate-key",
    tag="invalid",
    level="warning",
    summary="A YAML mapping repeats a key; one of the values is silently lost or the apply fails.",
    precision="very-high",
)
