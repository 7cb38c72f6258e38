"""``python -m simulations.sweep``: variants of the default spec on the development traces,
each averaged over the metric ages of the report's phase table: how the default was chosen.

A single run at the scenario's 10 s metric age is one draw: on Azure code the same spec
meets 91.9 % to 97.1 % of requests depending on where the polls fall against the bursts
(docs/simulation.md, "How much of a result is the polls' timing"). So each variant here is
run at every age of :data:`simulations.report_all.PHASE_OFFSETS` around the scenario's, on
each development trace, and reported as mean SLO met (worst age), mean GPU-hours x the
oracle's (which knows the future, so it runs once) and mean actions an hour::

    python -m simulations.sweep 'guard-0.5:metrics.2.target={"value": 0.5}' \\
        'lookahead:metrics.1.lookAhead={"ahead": "30s"}'

A variant is ``NAME:PATH=JSON[;PATH=JSON...]``; ``PATH`` is dotted into ``policies.ours.scaler.spec``
of the scenario (list items by index), ``JSON`` the value put there. The scenario's own spec
runs first as ``default``. ``--routing`` runs under another load balancer's routing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simulations.report_all import CASES, DEVELOPMENT, PHASE_OFFSETS, SUBJECT, Case, _run
from simulations.scenario import ROUTINGS, load_scenario, parse_scenario, resolve_scenario
from simulations.stats import PolicyResult
from simulations.yamlsource import load_with_lines, read_source


@dataclass(frozen=True)
class Variant:
    name: str
    patches: tuple[tuple[str, Any], ...]


def parse_variant(text: str) -> Variant:
    """``guard:metrics.2.target={"value": 0.3};behavior.scaleDown.cooldownSeconds=600``."""
    name, sep, rest = text.partition(":")
    if not sep or not name:
        raise ValueError(f"expected NAME:PATH=JSON[;PATH=JSON...], got {text!r}")
    patches = []
    for part in filter(None, (p.strip() for p in rest.split(";"))):
        path, eq, value = part.partition("=")
        if not eq or not path:
            raise ValueError(f"{name}: expected PATH=JSON, got {part!r}")
        try:
            patches.append((path, json.loads(value)))
        except json.JSONDecodeError as e:
            raise ValueError(f"{name}: {path}: the value is not JSON: {e.msg}") from None
    return Variant(name, tuple(patches))


def patched(doc: dict[str, Any], variant: Variant) -> dict[str, Any]:
    """The scenario document with ``variant``'s values put into ours' spec."""
    out: dict[str, Any] = json.loads(json.dumps(doc))
    for path, value in variant.patches:
        node: Any = out["policies"]["ours"]["scaler"]["spec"]
        keys = path.split(".")
        try:
            for k in keys[:-1]:
                node = node[int(k)] if isinstance(node, list) else node[k]
            last = keys[-1]
            if isinstance(node, list):
                node[int(last)] = value
            else:
                node[last] = value
        except (KeyError, IndexError, ValueError, TypeError):
            raise ValueError(f"{variant.name}: no {path!r} in the spec") from None
    return out


@dataclass(frozen=True)
class Row:
    variant: str
    trace: str
    slo_mean: float
    slo_min: float
    cost: float  # mean GPU-hours x the oracle's
    actions: float  # mean actions an hour


def summarize(variant: str, trace: str, runs: list[PolicyResult], oracle_gpu_hours: float) -> Row:
    slo = [100 * r.slo_attainment for r in runs]
    return Row(
        variant,
        trace,
        sum(slo) / len(slo),
        min(slo),
        sum(r.gpu_hours for r in runs) / len(runs) / oracle_gpu_hours,
        sum(r.scale_actions_per_hour for r in runs) / len(runs),
    )


def scenario_document(scenario: str) -> dict[str, Any]:
    """The scenario's YAML as data, through the project's one safe loader."""
    path = resolve_scenario(scenario)
    doc, _ = load_with_lines(read_source(path, str(path)), str(path))
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a scenario mapping")
    return doc


def sweep(variants: list[Variant], scenario: str, routing: str, jobs: int) -> list[Row]:
    """Every variant (each already checked by :func:`check`) on each development trace at each age."""
    doc = scenario_document(scenario)
    base = load_scenario(scenario).metrics_delay_s
    ages = [max(0.0, base + d) for d in PHASE_OFFSETS]
    cases: list[Case] = [c for c in CASES if c.split == DEVELOPMENT]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(max_workers=jobs) as pool:
        oracle = {c.name: pool.submit(_run, c, scenario, routing, "oracle") for c in cases}
        oracle_gpu_hours = {name: f.result()[3].gpu_hours for name, f in oracle.items()}
        for v in variants:
            path = Path(tmp) / f"{len(rows)}.yaml"
            path.write_text(yaml.safe_dump(patched(doc, v)))
            futures = {c.name: [pool.submit(_run, c, str(path), routing, SUBJECT, a) for a in ages] for c in cases}
            for c in cases:
                runs = [f.result()[3] for f in futures[c.name]]
                rows.append(summarize(v.name, c.name, runs, oracle_gpu_hours[c.name]))
    return rows


def check(variants: list[Variant], scenario: str) -> None:
    """Each variant's scenario parses (a bad path or value raises ``ValueError`` naming it)."""
    doc = scenario_document(scenario)
    for v in variants:
        try:
            parse_scenario(patched(doc, v), f"{scenario} + {v.name}")
        except ValueError as e:
            raise ValueError(f"{v.name}: {e}") from None


def format_rows(rows: list[Row]) -> str:
    lines = ["| variant | trace | SLO met, mean (worst) | GPU-h x oracle | actions/h |", "|:--|:--|--:|--:|--:|"]
    lines += [
        f"| {r.variant} | {r.trace} | {r.slo_mean:.2f} % ({r.slo_min:.2f}) | {r.cost:.2f}x | {r.actions:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m simulations.sweep", description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="*", help="NAME:PATH=JSON[;PATH=JSON...]")
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--routing", choices=ROUTINGS, default=None, help="default: the scenario's")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        variants = [Variant("default", ()), *(parse_variant(t) for t in args.variants)]
        check(variants, args.scenario)
    except (ValueError, OSError) as e:
        print(f"simulations.sweep: {e}", file=sys.stderr)
        sys.exit(2)
    routing = args.routing or load_scenario(args.scenario).model.routing
    print(format_rows(sweep(variants, args.scenario, routing, args.jobs)))


if __name__ == "__main__":
    main()
