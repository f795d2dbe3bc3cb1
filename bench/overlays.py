#!/usr/bin/env python3
"""Benchmark of ``egresslint check`` on a Kustomize repository: many overlays over a base tree.

Generates (into ``bench/corpora/``, git-ignored) a repository whose base tree holds
``--resources`` resources in ``--overlays`` team bases (a waypoint, ServiceEntries bound to
it, AuthorizationPolicies, workloads and NetworkPolicies), and one overlay per team base that
sets the namespace, a name prefix and the ambient label and patches one ServiceEntry. Then,
as whole processes, in the same run:

- cold: ``check --no-cache`` (every overlay rendered by kustomize, nothing cached);
- first: the same with an empty cache folder (fills the render, parse and run caches);
- cached: the same again (the run cache answers);
- renders cached: another report format, so the run is computed again but every render comes
  from the render cache.

A ``kubectl``/``kustomize`` shim first on PATH counts the engine's starts in each run (the
version is asked once per binary and remembered). Prints a markdown table.

    python bench/overlays.py                       # 200 overlays over 10,000 resources
    python bench/overlays.py --overlays 20 --resources 1000 --runs 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SHIM = """#!/bin/sh
echo "$@" >> "{log}"
exec "{real}" "$@"
"""


def _team_base(team: int, size: int) -> str:
    docs = [
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: waypoint\n"
        "  labels: {istio.io/waypoint-for: service}\nspec:\n  gatewayClassName: istio-waypoint\n"
        "  listeners:\n  - {name: mesh, port: 15008, protocol: HBONE}\n"
    ]
    i = 0
    while len(docs) < size:
        kind = i % 5
        if kind in (0, 1):
            docs.append(
                f"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
                f"  name: vendor-{i}\n  labels: {{istio.io/use-waypoint: waypoint}}\nspec:\n"
                f"  hosts: [api{i}.team{team}.example.org]\n"
                f"  ports: [{{number: 443, name: tls, protocol: TLS}}]\n  resolution: DNS\n"
            )
        elif kind == 2:
            docs.append(
                f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
                f"  name: vendor-{i - 1}\nspec:\n  targetRefs:\n"
                f"  - {{kind: ServiceEntry, group: networking.istio.io, name: vendor-{i - 1}}}\n"
                f"  rules:\n  - from:\n    - source:\n"
                f"        principals: [cluster.local/ns/team-{team}/sa/app-{i}]\n"
            )
        elif kind == 3:
            docs.append(
                f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\nspec:\n"
                f"  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n"
                f"    metadata: {{labels: {{app: app-{i}}}}}\n    spec:\n"
                f"      serviceAccountName: app-{i}\n"
                f"      containers: [{{name: app, image: example/app:{i}}}]\n"
            )
        else:
            docs.append(
                f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
                f"  name: lockdown-{i}\nspec:\n  podSelector: {{matchLabels: {{app: app-{i - 1}}}}}\n"
                f"  policyTypes: [Egress]\n  egress:\n  - to: [{{ipBlock: {{cidr: 10.0.0.0/8}}}}]\n"
            )
        i += 1
    return "---\n".join(docs)


def generate(folder: Path, overlays: int, resources: int) -> None:
    if (folder / "done").is_file():
        return
    shutil.rmtree(folder, ignore_errors=True)
    per_team = max(2, resources // overlays)
    for team in range(overlays):
        base = folder / "base" / f"team-{team:03d}"
        base.mkdir(parents=True)
        (base / "resources.yaml").write_text(_team_base(team, per_team))
        (base / "kustomization.yaml").write_text("resources: [resources.yaml]\n")
        over = folder / "overlays" / f"team-{team:03d}"
        over.mkdir(parents=True)
        (over / "kustomization.yaml").write_text(
            f"namespace: team-{team:03d}\nnamePrefix: t{team}-\nlabels:\n"
            "- pairs: {istio.io/dataplane-mode: ambient}\n"
            f"resources: [../../base/team-{team:03d}]\npatches:\n- path: patch.yaml\n"
        )
        (over / "patch.yaml").write_text(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
            "  name: vendor-0\n  labels: {team: payments}\n"
        )
    (folder / "done").write_text("")


def _shims(log: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for name in ("kubectl", "kustomize"):
        real = shutil.which(name)
        if real is None:
            continue
        shim = into / name
        shim.write_text(SHIM.format(log=log, real=real))
        shim.chmod(0o755)


def _run(args: list[str], env: dict[str, str], log: Path) -> tuple[float, int]:
    before = len(log.read_text().splitlines()) if log.exists() else 0
    start = time.perf_counter()
    subprocess.run(args, env=env, stdout=subprocess.DEVNULL, check=False)
    took = time.perf_counter() - start
    after = len(log.read_text().splitlines()) if log.exists() else 0
    return took, after - before


def measure(folder: Path, runs: int) -> dict[str, list[tuple[float, int]]]:
    out: dict[str, list[tuple[float, int]]] = {"cold": [], "first": [], "cached": [], "renders": []}
    base_args = [sys.executable, "-m", "egresslint", "check", "--fail-on", "never"]
    with tempfile.TemporaryDirectory() as scratch:
        log, shims = Path(scratch) / "starts.log", Path(scratch) / "bin"
        _shims(log, shims)
        env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}"}
        sarif = ["--quiet", "-f", f"sarif:{Path(scratch) / 'out.sarif'}", str(folder)]
        json_ = ["--quiet", "-f", f"json:{Path(scratch) / 'out.json'}", str(folder)]
        for _ in range(runs):
            cache = Path(tempfile.mkdtemp(dir=scratch))
            env["XDG_CACHE_HOME"] = str(cache)
            out["cold"].append(_run([*base_args, "--no-cache", *sarif], env, log))
            out["first"].append(_run([*base_args, *sarif], env, log))
            out["cached"].append(_run([*base_args, *sarif], env, log))
            out["renders"].append(_run([*base_args, *json_], env, log))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overlays", type=int, default=200)
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpora", type=Path, default=HERE / "corpora")
    args = parser.parse_args()
    if shutil.which("kubectl") is None and shutil.which("kustomize") is None:
        sys.exit("needs kubectl or kustomize on PATH")
    folder = args.corpora / f"overlays-{args.overlays}-{args.resources}"
    generate(folder, args.overlays, args.resources)
    results = measure(folder, args.runs)
    print(f"{args.overlays} overlays over {args.resources:,} resources, median of {args.runs}\n")
    print("| run | time | engine starts |\n|---|---|---|")
    labels = {
        "cold": "cold (`--no-cache`: every overlay rendered)",
        "first": "first run (fills the caches)",
        "cached": "cached run (same command)",
        "renders": "another format (renders from the render cache)",
    }
    for key, label in labels.items():
        times = [t for t, _ in results[key]]
        starts = max(n for _, n in results[key])
        print(f"| {label} | {statistics.median(times):.2f} s | {starts} |")


if __name__ == "__main__":
    main()
