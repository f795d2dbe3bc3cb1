"""An ambient label has a value Istio does not understand, or `use-waypoint-namespace` is set
without `use-waypoint`.

**Why it matters.** Istio ignores unknown values without an error: a namespace with
`istio.io/dataplane-mode: enabled` is not enrolled in ambient (its traffic is not captured at
all), a Gateway with `istio.io/waypoint-for: services` falls back to nothing useful, and
`istio.io/use-waypoint: egress/waypoint` is not parsed (the namespace belongs in
`istio.io/use-waypoint-namespace`; `/` is not even valid in a label value). A
`use-waypoint-namespace` label alone binds nothing.

**What is checked.** On every resource: `istio.io/dataplane-mode` in {`ambient`, `none`};
`istio.io/waypoint-for` in {`service`, `workload`, `all`, `none`}; `istio.io/use-waypoint`
without `/` or `#` (the old `#none` form is now `none`); `istio.io/use-waypoint-namespace` only
together with `istio.io/use-waypoint` on the same object.

**How to fix.** Use the documented values; put the waypoint's namespace in
`istio.io/use-waypoint-namespace`.

Sources: `istio/api` `label/labels.yaml`; `pilot/pkg/serviceregistry/ambient/waypoints.go`.
"""

from collections.abc import Iterator

from egresslint.lint.rule import Context, Rule
from egresslint.mesh.graph import DATAPLANE_MODE, USE_WAYPOINT, USE_WAYPOINT_NS, WAYPOINT_FOR
from egresslint.model import Finding, Resource

RULE = Rule(
    id="EGL504",
    name="ambient-label-invalid",
    tag="invalid",
    level="error",
    summary="Ambient label with an unknown value, or use-waypoint-namespace without use-waypoint.",
    kinds=("Namespace", "ServiceEntry", "Service", "Gateway", "GatewayClass", "Pod"),
)

_VALUES = {
    DATAPLANE_MODE: ("ambient", "none"),
    WAYPOINT_FOR: ("service", "workload", "all", "none"),
}


def _problems(res: Resource) -> Iterator[tuple[str, str]]:
    labels = res.labels
    for label, allowed in _VALUES.items():
        if label in labels and labels[label] not in allowed:
            yield label, f"label {label}: '{labels[label]}' is not one of {', '.join(allowed)}"
    value = labels.get(USE_WAYPOINT, "")
    if "/" in value or "#" in value:
        name = value.rsplit("/", 1)[-1].lstrip("#")
        yield (
            USE_WAYPOINT,
            (
                f"label {USE_WAYPOINT}: '{value}' is not a Gateway name; use '{name}' and put the "
                f"namespace in {USE_WAYPOINT_NS}"
            ),
        )
    if USE_WAYPOINT_NS in labels and USE_WAYPOINT not in labels:
        yield (
            USE_WAYPOINT_NS,
            (f"label {USE_WAYPOINT_NS} has no effect without {USE_WAYPOINT} on the same object"),
        )


def check(ctx: Context) -> Iterator[Finding]:
    for res in ctx.graph.resources:
        if not res.labels:
            continue
        for label, message in _problems(res):
            yield RULE.at(res, ("metadata", "labels", label), f"{res.ref}: {message}.")
