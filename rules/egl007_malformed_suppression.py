"""A suppression that does not parse, or names no rule, suppresses nothing.

**Why it matters.** Whoever wrote `# egresslint ignore EGL101 -- approved in SEC-42` meant to
accept a finding; the comment does not parse, so the finding is still reported and the
decision is lost, or, worse, a reviewer reads the comment and believes the finding is
accepted. The same holds for a valid suppression naming something that is no rule: a tag
(`bypass`), a retired or mistyped id (`EGL1O1`).

**When it fires.** At the comment's line, for a comment that starts with the tool's name
followed by what looks like a directive but is not `egresslint: ignore`: a missing colon
(`# egresslint ignore EGL101`), another linter's word (`# egresslint: disable`,
`# egresslint-disable-next-line`, `noqa`, `nolint`, `skip`, `off`), a misspelling attached
to the name (`# egresslint:ignroe`, `# egresslint: supress`), capitals
(`# EgressLint: ignore`), or a rule id right after the name (`# egresslint EGL101 -- ...`).
Also at a suppression comment or an `egresslint.io/ignore` entry whose rule is no rule id or
name. A comment that merely mentions egresslint (`# checked by egresslint`,
`# egresslint ignores vendor/`) gets nothing. The level is note: the finding meant to be
suppressed is reported on its own.

**How to fix.** Write the suppression as egresslint reads it, naming rules by id or name,
with the reason after `--`:

```yaml
    istio.io/use-waypoint: none  # egresslint: ignore EGL101 -- approved in SEC-42
```

The engine reports this rule itself; `--no-inline-suppressions` ignores every suppression
(and this rule with it).
"""

from egresslint.lint.rule import Rule

RULE = Rule(
    id="EGL007",
    name="malformed-suppression",
    tag="invalid",
    level="note",
    summary="A comment looks like a suppression but does not parse, or a suppression names no "
    "rule, so it suppresses nothing.",
    precision="high",
)
