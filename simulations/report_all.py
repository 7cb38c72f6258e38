"""``python -m simulations.report_all``: the comparison tables and plots of docs/simulation.md.

Runs every policy on each report trace with the default scenario (in parallel, one
process per CPU), writes ``docs/img/sim_<name>.png`` and rewrites the tables in
``docs/simulation.md`` between the markers ``<!-- results:NAME -->`` and
``<!-- /results:NAME -->``. Prints the headline: ours against the oracle, hpa_util and
keda_queue.

Options: ``--scenario S`` (another scenario, e.g. while tuning ours), ``--only NAME,...``,
``--no-docs`` (print only), ``--json FILE`` (the Contract 5 objects too), ``--jobs N``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from simulations.compare import Comparison, format_table
from simulations.engine import simulate
from simulations.policies import Plan, build_policy, policy_names
from simulations.scenario import load_scenario
from simulations.stats import PolicyResult
from simulations.traces import load_trace

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "simulation.md"
IMG = ROOT / "docs" / "img"


@dataclass(frozen=True)
class Case:
    name: str
    trace: str
    title: str


CASES = (
    Case("azure_code", "azure_llm_2023_code:scale=3", "Azure LLM 2023, code, rate x3 (57 min)"),
    Case("azure_conv", "azure_llm_2023_conv:scale=16", "Azure LLM 2023, conversation, rate x16 (58 min)"),
    Case("servegen_day1", "servegen_m_large:day=1,scale=0.3", "ServeGen m-large, day 1, rate x0.3"),
    Case("servegen_fortnight", "servegen_m_large:days=1-14,scale=0.3", "ServeGen m-large, 14 days, rate x0.3"),
    Case("mooncake", "mooncake_synthetic.csv", "Mooncake synthetic, long prompts (17 min)"),
)


def _run(case: Case, scenario_spec: str, policy: str) -> tuple[str, str, PolicyResult, float]:
    t = time.perf_counter()
    scenario = load_scenario(scenario_spec)
    trace = load_trace(case.trace)
    plan = Plan(trace, scenario)
    r = simulate(trace, scenario, build_policy(policy, scenario, plan), plan)
    return case.name, policy, r, time.perf_counter() - t


def run_all(cases: tuple[Case, ...], scenario_spec: str, jobs: int) -> dict[str, Comparison]:
    tasks = [(c, p) for c in cases for p in policy_names()]
    tasks.sort(key=lambda cp: 0 if "days=" in cp[0].trace else 1)   # the long ones first
    out: dict[str, dict[str, PolicyResult]] = {c.name: {} for c in cases}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_run, c, scenario_spec, p) for c, p in tasks]
        for f in futures:
            name, policy, r, secs = f.result()
            out[name][policy] = r
            print(f"  {name:20s} {policy:12s} {secs:6.1f} s", file=sys.stderr, flush=True)
    scenario = load_scenario(scenario_spec)
    return {c.name: Comparison(c.trace, scenario_spec, load_trace(c.trace), scenario,
                               [out[c.name][p] for p in policy_names()]) for c in cases}


def _change(ours: float, other: float) -> str:
    pct = 100 * (ours / other - 1)
    return f"{pct:+.1f} %" if abs(pct) < 10 else f"{pct:+.0f} %"


def headline(c: Comparison) -> str:
    by = {r.policy: r for r in c.results}
    o = by["ours"]
    parts = [f"ours {100 * o.slo_attainment:.2f} % SLO, {o.gpu_hours:,.1f} GPU-h"]
    for other in ("oracle", "hpa_util", "keda_queue"):
        b = by[other]
        parts.append(f"{other} {100 * b.slo_attainment:.2f} %, {b.gpu_hours:,.1f} GPU-h "
                     f"(ours {_change(o.gpu_hours, b.gpu_hours)} GPU-h)")
    return "; ".join(parts)


def _constant(text: str) -> Callable[[re.Match[str]], str]:
    return lambda _: text


def headline_table(results: dict[str, Comparison], cases: tuple[Case, ...]) -> str:
    """Ours against the oracle, hpa_util and keda_queue: SLO met and GPU-hours per trace."""
    head = "| trace | ours | oracle | hpa_util | keda_queue |"
    rows = [head, "|:--|--:|--:|--:|--:|"]
    for case in cases:
        by = {r.policy: r for r in results[case.name].results}
        o = by["ours"]
        cells = [f"{100 * o.slo_attainment:.2f} %, {o.gpu_hours:,.1f} GPU-h"]
        for other in ("oracle", "hpa_util", "keda_queue"):
            b = by[other]
            cells.append(f"{100 * b.slo_attainment:.2f} %, {b.gpu_hours:,.1f} GPU-h "
                         f"(ours {_change(o.gpu_hours, b.gpu_hours)})")
        rows.append(f"| {case.title} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _replace_block(text: str, name: str, body: str) -> str:
    block = f"<!-- results:{name} -->\n{body}\n<!-- /results:{name} -->"
    pattern = re.compile(rf"<!-- results:{name} -->.*?<!-- /results:{name} -->", re.S)
    if pattern.search(text):
        return pattern.sub(_constant(block), text)
    return text + f"\n{block}\n"


def update_doc(results: dict[str, Comparison], cases: tuple[Case, ...]) -> None:
    text = DOC.read_text()
    if len(cases) == len(CASES):
        text = _replace_block(text, "headline", "SLO met (TTFT <= 2 s) and GPU-hours; in brackets, ours' GPU-hours "
                              "against that policy's.\n\n" + headline_table(results, cases))
    for case in cases:
        c = results[case.name]
        text = _replace_block(text, case.name,
                              f"`gpu-autoscaler simulate --trace {case.trace}` ({c.trace.describe()})\n\n"
                              f"{format_table(c)}\n\n![{case.title}](img/sim_{case.name}.png)")
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m simulations.report_all")
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--only", default="")
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--jobs", type=int, default=max(1, min(len(os.sched_getaffinity(0)), 8)))
    ap.add_argument("--json", default="", help="also write the Contract 5 objects, by case, to this file")
    args = ap.parse_args(argv)
    cases = tuple(c for c in CASES if not args.only or c.name in args.only.split(","))
    t = time.perf_counter()
    results = run_all(cases, args.scenario, args.jobs)
    for case in cases:
        c = results[case.name]
        print(f"\n## {case.title}: {c.trace_spec}\n\n{format_table(c)}\n\n{headline(c)}")
    print("\n" + headline_table(results, cases))
    if not args.no_docs:
        from simulations.plot import plot
        IMG.mkdir(parents=True, exist_ok=True)
        for case in cases:
            plot(results[case.name], IMG / f"sim_{case.name}.png", title=f"{case.title} — {case.trace}")
        update_doc(results, cases)
    if args.json:
        Path(args.json).write_text(json.dumps({c.name: results[c.name].to_json() for c in cases}, indent=1) + "\n")
    print(f"\n{time.perf_counter() - t:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
