"""Where a run's reports go: several formats in one run, each to standard output or a file.

``-f FORMAT[:FILE]`` is repeatable; ``-o FILE`` names the file of the one report given
without a file (so ``-f sarif -o egresslint.sarif`` keeps working). At most one report goes
to standard output. When none does, the text findings still do (a CI log shows what the
SARIF file holds), unless ``--quiet``: quiet means standard output carries findings only,
and no findings at all when the reports go to files. Colour and the terminal's width apply
to text on standard output only; files never get either.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .formats import FORMATS
from .text import Style

Spec = tuple[str, str | None]  # (format, file or None for standard output)
STDOUT = "-"


class OutputError(ValueError):
    """A combination of output options that cannot work (a usage error, exit code 2)."""


@dataclass(frozen=True)
class Output:
    fmt: str
    file: str | None  # None: standard output
    style: Style


def parse_spec(value: str) -> Spec:
    """``sarif`` or ``sarif:egresslint.sarif`` (``-`` as the file: standard output)."""
    fmt, sep, file = value.partition(":")
    if fmt not in FORMATS:
        raise OutputError(
            f"'{fmt}' is not a format; choose from {', '.join(FORMATS)} (FORMAT or FORMAT:FILE)"
        )
    if sep and not file:
        raise OutputError(f"'{value}' names no file after ':' (FORMAT:FILE, or '-' for stdout)")
    return fmt, (None if file in ("", STDOUT) else file)


def use_color(choice: str, isatty: bool, env: Mapping[str, str]) -> bool:
    """``--color``: always, never, or auto (a terminal, and NO_COLOR unset or empty, as
    https://no-color.org asks; an explicit ``always`` wins over NO_COLOR)."""
    if choice in ("always", "never"):
        return choice == "always"
    return isatty and not env.get("NO_COLOR")


def console_width(isatty: bool) -> int | None:
    """The terminal's width (COLUMNS wins, as shutil reads it), or None when standard output
    is not a terminal: piped or redirected text keeps one line per finding."""
    return shutil.get_terminal_size().columns if isatty else None


def _assign_output(specs: list[Spec], output: str | None) -> list[Spec]:
    if output is None:
        return specs
    free = [i for i, (_, file) in enumerate(specs) if file is None]
    if len(free) != 1:
        raise OutputError(
            "--output names the file of one report; with several --format, give each its "
            "file as FORMAT:FILE"
        )
    fmt = specs[free[0]][0]
    specs[free[0]] = (fmt, None if output == STDOUT else output)
    return specs


def _check_targets(specs: Sequence[Spec]) -> None:
    to_stdout = [fmt for fmt, file in specs if file is None]
    if len(to_stdout) > 1:
        raise OutputError(
            f"only one report can go to standard output, not {', '.join(to_stdout)}; "
            "write the others to files (FORMAT:FILE)"
        )
    seen: set[str] = set()
    for _, file in specs:
        if file is None:
            continue
        real = os.path.realpath(file)
        if real in seen:
            raise OutputError(f"two reports would be written to {file}")
        seen.add(real)


def plan(
    given: Iterable[Spec],
    output: str | None,
    *,
    quiet: bool = False,
    color: str = "auto",
    show_suppressed: bool = False,
    isatty: bool = False,
    env: Mapping[str, str] | None = None,
) -> list[Output]:
    """The reports to write, in order: files first, standard output last."""
    specs = _assign_output(list(given) or [("text", None)], output)
    _check_targets(specs)
    if all(file is not None for _, file in specs) and not quiet:
        specs.append(("text", None))  # the console still shows the findings
    console = Style(
        color=use_color(color, isatty, os.environ if env is None else env),
        width=console_width(isatty),
        quiet=quiet,
        show_suppressed=show_suppressed,
    )
    plain = Style(show_suppressed=show_suppressed)
    outputs = [
        Output(fmt, file, console if file is None and fmt == "text" else plain)
        for fmt, file in specs
    ]
    return sorted(outputs, key=lambda o: o.file is None)


def key(outputs: Sequence[Output], fail_on: str) -> str:
    """What in the outputs shapes their reports, for the run cache (JUnit also depends on
    the --fail-on level)."""
    parts = [f"{o.fmt}>{o.file or STDOUT}>{o.style}" for o in outputs]
    if any(o.fmt == "junit" for o in outputs):
        parts.append(f"fail-on={fail_on}")
    return "|".join(parts)


def overwritten_input(outputs: Sequence[Output], inputs: Iterable[str]) -> Output | None:
    """The output whose file is one of the linted ``inputs`` (egresslint never writes to
    a file it reads), or None."""
    targets = {os.path.realpath(o.file): o for o in outputs if o.file is not None}
    names = {os.path.basename(t) for t in targets}
    for path in inputs:
        if os.path.basename(path) in names and os.path.realpath(path) in targets:
            return targets[os.path.realpath(path)]
    return None
