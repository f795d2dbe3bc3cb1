"""Regenerate egresslint's per-kind JSON Schemas (schemas/kinds/) from upstream CRDs.

Usage: python scripts/derive_schemas.py SHARED_SCHEMAS_DIR

SHARED_SCHEMAS_DIR holds the upstream CRD files under crds/ and the SARIF schema
(see schemas/SOURCES.md). The script writes schemas/kinds/<Kind>.<group>.json,
schemas/kinds/index.json and a byte copy of the SARIF schema. Output is
deterministic: sorted keys, indent=1, trailing newline.

CRD openAPIV3Schema nodes are converted as follows: descriptions, defaults, CEL
rules and x-kubernetes-* markers are dropped; int-or-string becomes an anyOf;
nullable also allows null; objects with declared properties reject unknown
fields unless they preserve unknown fields; patterns that Python's re cannot
compile and formats other than date-time/uri are dropped; oneOf/anyOf/allOf are
kept only when they merely say which fields may be set together.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

Json = dict[str, Any]
KindTable = dict[tuple[str, str], tuple[list[str], Json]]  # (group, Kind) -> (versions, schema)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
OUT_DIR = Path(__file__).resolve().parent.parent / "schemas"
SARIF = "sarif-schema-2.1.0.json"

COPIED_KEYS = (
    "type",
    "enum",
    "required",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
)
COMBINATORS = ("oneOf", "anyOf", "allOf")
PRESENCE_KEYS = {"required", "not", *COMBINATORS}
KEPT_FORMATS = {"date-time", "uri"}
INT_OR_STRING: list[Json] = [{"type": "integer"}, {"type": "string"}]

# CRD file (relative to SHARED_SCHEMAS_DIR) -> "group/Kind" taken from it.
CRD_KINDS: dict[str, tuple[str, ...]] = {
    "crds/istio-crd-all.gen.yaml": (
        "networking.istio.io/ServiceEntry",
        "networking.istio.io/DestinationRule",
        "networking.istio.io/VirtualService",
        "networking.istio.io/EnvoyFilter",
        "networking.istio.io/Sidecar",
        "networking.istio.io/WorkloadEntry",
        "security.istio.io/AuthorizationPolicy",
    ),
    "crds/gateway-api-gateways.yaml": ("gateway.networking.k8s.io/Gateway",),
    "crds/gateway-api-gatewayclasses.yaml": ("gateway.networking.k8s.io/GatewayClass",),
    "crds/gateway-api-httproutes.yaml": ("gateway.networking.k8s.io/HTTPRoute",),
    "crds/agentgateway-policies.yaml": ("agentgateway.dev/AgentgatewayPolicy",),
}

# Solo's EnterpriseAgentgatewayPolicy is documented to have the open-source shape.
ALIASES: dict[str, tuple[str, str, str]] = {
    "agentgateway.dev/AgentgatewayPolicy": (
        "enterpriseagentgateway.solo.io",
        "v1alpha1",
        "EnterpriseAgentgatewayPolicy",
    ),
}


# --- CRD openAPIV3Schema -> JSON Schema -------------------------------------


def is_presence_rule(node: Any) -> bool:
    """True for Istio's "at most one of these fields" rules (required/not/anyOf/...)."""
    if not isinstance(node, dict) or not set(node) <= PRESENCE_KEYS:
        return False
    subs = [node["not"]] if "not" in node else []
    for key in COMBINATORS:
        subs.extend(node.get(key, []))
    return all(is_presence_rule(sub) for sub in subs)


def presence_rules(node: Json) -> Json:
    """The node's combinators that only constrain which fields are set; others are dropped."""
    return {
        key: node[key] for key in COMBINATORS if key in node and is_presence_rule({key: node[key]})
    }


def convert(node: Json) -> Json:
    """Convert one CRD schema node (and its children) to JSON Schema."""
    out: Json = {key: node[key] for key in COPIED_KEYS if key in node}
    out.update(convert_children(node))
    out.update(convert_string_checks(node))
    out.update(presence_rules(node))
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = list(INT_OR_STRING)
    if closes_object(node):
        out["additionalProperties"] = False
    if node.get("nullable"):
        allow_null(out)
    return out


def convert_children(node: Json) -> Json:
    out: Json = {}
    if "properties" in node:
        out["properties"] = {name: convert(sub) for name, sub in node["properties"].items()}
    if "items" in node:
        out["items"] = convert(node["items"])
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = convert(extra)
    elif isinstance(extra, bool):
        out["additionalProperties"] = extra
    return out


def convert_string_checks(node: Json) -> Json:
    out: Json = {}
    if "pattern" in node and compiles(node["pattern"]):
        out["pattern"] = node["pattern"]
    if node.get("format") in KEPT_FORMATS:
        out["format"] = node["format"]
    return out


def compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def closes_object(node: Json) -> bool:
    """The API server prunes/rejects unknown fields of such objects."""
    return (
        node.get("type") == "object"
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    )


def allow_null(out: Json) -> None:
    if "type" in out:
        out["type"] = [out["type"], "null"]
    if "anyOf" in out:
        out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]


# --- whole-resource schemas ---------------------------------------------------


def string_map() -> Json:
    return {"type": "object", "additionalProperties": {"type": "string"}}


def object_meta() -> Json:
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "labels": string_map(),
            "annotations": string_map(),
        },
    }


def resource(title: str, comment: str, spec: Json, *, spec_required: bool) -> Json:
    required = ["apiVersion", "kind", *(["spec"] if spec_required else [])]
    return {
        "$schema": DIALECT,
        "$comment": comment,
        "title": title,
        "type": "object",
        "required": required,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": object_meta(),
            "spec": spec,
            "status": {},
        },
    }


# --- kinds derived from CRDs --------------------------------------------------


def load_crds(path: Path) -> dict[str, Json]:
    """Map "group/Kind" -> CRD document for every CRD in a YAML stream."""
    with path.open(encoding="utf-8") as stream:
        docs = [doc for doc in yaml.safe_load_all(stream) if doc]
    return {f"{doc['spec']['group']}/{doc['spec']['names']['kind']}": doc for doc in docs}


def version_rank(name: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA > beta > alpha, then the higher number."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", name)
    if not match:
        return (-1, 0, 0)
    major, level, minor = match.groups()
    return ({"alpha": 0, "beta": 1, None: 2}[level], int(major), int(minor or 0))


def newest_served(crd: Json) -> tuple[list[str], Json]:
    """Served version names (sorted) and the schema of the newest served version."""
    versions = [v for v in crd["spec"]["versions"] if v.get("served")]
    newest = max(versions, key=lambda v: version_rank(v["name"]))
    return sorted(v["name"] for v in versions), newest["schema"]["openAPIV3Schema"]


def crd_kind(crd_file: str, crd: Json) -> tuple[list[str], Json]:
    versions, root = newest_served(crd)
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    comment = (
        f"Generated by scripts/derive_schemas.py from {crd_file} (served versions: "
        f"{', '.join(versions)}; see schemas/SOURCES.md). Do not edit by hand."
    )
    spec = convert(root["properties"]["spec"])
    spec_required = "spec" in root.get("required", [])
    return versions, resource(f"{kind}.{group}", comment, spec, spec_required=spec_required)


def derived_kinds(shared: Path) -> KindTable:
    """(group, Kind) -> (versions, schema) for the CRD-derived kinds and aliases."""
    kinds: KindTable = {}
    for crd_file, wanted in CRD_KINDS.items():
        crds = load_crds(shared / crd_file)
        for key in wanted:
            group, kind = key.split("/")
            kinds[(group, kind)] = crd_kind(crd_file, crds[key])
            if key in ALIASES:
                kinds.update(alias_kind(ALIASES[key], kinds[(group, kind)][1], key))
    return kinds


def alias_kind(alias: tuple[str, str, str], schema: Json, source: str) -> KindTable:
    group, version, kind = alias
    comment = (
        f"Generated by scripts/derive_schemas.py: same shape as {source} "
        "(documented to match; see schemas/SOURCES.md). Do not edit by hand."
    )
    aliased = {**schema, "$comment": comment, "title": f"{kind}.{group}"}
    return {(group, kind): ([version], aliased)}


# --- hand-written, loose core kinds -------------------------------------------

HAND_WRITTEN = (
    "Generated by scripts/derive_schemas.py from hand-written definitions: loose, "
    "declares only the fields egresslint reads; unknown fields are allowed."
)


def array_of(items: Json) -> Json:
    return {"type": "array", "items": items}


def loose_object(properties: Json, required: list[str] | None = None) -> Json:
    schema: Json = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def label_selector() -> Json:
    expression = loose_object(
        {
            "key": {"type": "string"},
            "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
            "values": array_of({"type": "string"}),
        },
        required=["key", "operator"],
    )
    return loose_object({"matchLabels": string_map(), "matchExpressions": array_of(expression)})


def pod_spec() -> Json:
    return loose_object(
        {
            "hostNetwork": {"type": "boolean"},
            "serviceAccountName": {"type": "string"},
            "serviceAccount": {"type": "string"},
        }
    )


def workload_spec() -> Json:
    template = loose_object({"metadata": object_meta(), "spec": pod_spec()})
    return loose_object({"selector": label_selector(), "template": template})


def network_policy_peer() -> Json:
    ip_block = loose_object(
        {"cidr": {"type": "string"}, "except": array_of({"type": "string"})},
        required=["cidr"],
    )
    return loose_object(
        {
            "podSelector": label_selector(),
            "namespaceSelector": label_selector(),
            "ipBlock": ip_block,
        }
    )


def network_policy_port() -> Json:
    return loose_object(
        {
            "protocol": {"enum": ["TCP", "UDP", "SCTP"]},
            "port": {"anyOf": list(INT_OR_STRING)},
            "endPort": {"type": "integer"},
        }
    )


def network_policy_spec() -> Json:
    peers = array_of(network_policy_peer())
    ports = array_of(network_policy_port())
    return loose_object(
        {
            "podSelector": label_selector(),
            "policyTypes": array_of({"enum": ["Ingress", "Egress"]}),
            "ingress": array_of(loose_object({"from": peers, "ports": ports})),
            "egress": array_of(loose_object({"to": peers, "ports": ports})),
        }
    )


def core_kinds() -> KindTable:
    specs: dict[tuple[str, str], Json] = {
        ("core", "Namespace"): loose_object({}),
        ("core", "ServiceAccount"): loose_object({}),
        ("core", "Pod"): pod_spec(),
        ("apps", "Deployment"): workload_spec(),
        ("apps", "StatefulSet"): workload_spec(),
        ("apps", "DaemonSet"): workload_spec(),
        ("networking.k8s.io", "NetworkPolicy"): network_policy_spec(),
    }
    return {
        (group, kind): (
            ["v1"],
            resource(f"{kind}.{group}", HAND_WRITTEN, spec, spec_required=False),
        )
        for (group, kind), spec in specs.items()
    }


# --- output -------------------------------------------------------------------


def dump(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


def write_kinds(kinds: KindTable, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.json"):
        stale.unlink()
    index: dict[str, str] = {}
    for (group, kind), (versions, schema) in kinds.items():
        file_name = f"{kind}.{group}.json"
        dump(out / file_name, schema)
        index.update({f"{group}/{version}/{kind}": file_name for version in versions})
    dump(out / "index.json", index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", type=Path, metavar="SHARED_SCHEMAS_DIR")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="default: schemas/")
    args = parser.parse_args()
    write_kinds({**derived_kinds(args.shared), **core_kinds()}, args.out / "kinds")
    shutil.copyfile(args.shared / SARIF, args.out / SARIF)


if __name__ == "__main__":
    main()
