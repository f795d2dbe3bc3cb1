"""A suppression that gives no reason suppresses nothing and is reported instead.

**Why it matters.** A silenced finding is a decision someone took about egress control, such
as "this host may bypass the waypoint until the migration ends". Without the reason, the next
reviewer cannot tell a deliberate exception from a way to make the linter quiet, and nobody
knows when it may be removed.

**When it fires.** A comment `# egresslint: ignore EGL101` without ` -- <reason>`, a comment
that names no rule, or an entry of the annotation `egresslint.io/ignore` without
`=<reason>` (for example `egresslint.io/ignore: "EGL101"`).

**How to fix.** Add the reason:

```yaml
metadata:
  annotations:
    egresslint.io/ignore: "EGL101=owned by team payments, bound to a waypoint in 2027-01"
```

or `# egresslint: ignore EGL101 -- owned by team payments until 2027-01`. The engine reports
this rule itself; `--no-inline-suppressions` ignores every suppression (and this rule with it).
"""

from egresslint.lint.rule import Rule

RULE = Rule(
    id="EGL004",
    name="suppression-without-reason",
    tag="invalid",
    level="warning",
    summary="A suppression comment or annotation has no reason, so it suppresses nothing.",
    precision="very-high",
)
