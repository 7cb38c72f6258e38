"""``python -m simulations.report_all``: the tables and plots of docs/simulation.md, judged against issue 10's goal.

Runs every policy on each report trace with the default scenario, under each load-balancer
routing (``leastRequest``, ``prefillAware``), in parallel (one process per CPU). Writes
``docs/img/sim_<name>.png`` (the run under the scenario's routing) and rewrites docs/simulation.md
between the markers ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``: one block per
trace, the headline (``headline``) when every trace ran, and the same headline's
table of the scenario's routing in the README (``summary``), which ``tests/simulations/test_report.py``
checks against the doc.

The traces come in two sets. **Development** (Azure code x3, conversation x16): the default
spec is chosen on these. **Evaluation** (ServeGen m-large day 1 and the fortnight at x0.3,
Mooncake, and the generated held-out workloads of :mod:`simulations.traces.workloads`):
reported, never used to choose. Each policy gets a verdict against the goal
(:mod:`simulations.goal`). With them, **other seeds** (2 and 3) of each generated workload run
under the scenario's routing into the block ``seeds``: traffic of the same kinds that nobody
looked at while choosing (``--only seeds`` runs just those, about 30 s on two cores).

Options: ``--scenario S`` (e.g. while tuning ours), ``--only NAME,...``, ``--set development|evaluation``,
``--routing leastRequest|prefillAware|both`` (default both; the fortnight runs under
``leastRequest`` only, to keep the report under 15 minutes on two cores), ``--no-docs``
(print only), ``--doc FILE`` / ``--readme FILE`` (write elsewhere; the images go to
``img/`` beside the doc), ``--json FILE`` (the Contract 5 objects too), ``--jobs N``.
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
from dataclasses import dataclass, replace
from pathlib import Path

from simulations.compare import Comparison, format_goal_table
from simulations.engine import simulate
from simulations.errors import SimulationInputError
from simulations.goal import ORACLE, STATIC_PEAK, Scores, judge_all
from simulations.policies import Plan, build_policy, policy_names
from simulations.scenario import LEAST_REQUEST, PREFILL_AWARE, ROUTINGS, Scenario, load_scenario
from simulations.stats import PolicyResult
from simulations.traces import Trace, load_trace
from simulations.traces.workloads import KINDS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "simulation.md"
README = ROOT / "README.md"
DEVELOPMENT, EVALUATION = "development", "evaluation"
SUBJECT = "ours"
HEADLINE, SUMMARY = "headline", "summary"


@dataclass(frozen=True)
class Case:
    """One report trace: its block name, ``--trace`` spec, title, set, and the routings it runs under."""

    name: str
    trace: str
    title: str
    split: str
    routings: tuple[str, ...] = ROUTINGS


CASES = (
    Case("azure_code", "azure_llm_2023_code:scale=3", "Azure LLM 2023, code, rate x3 (57 min)", DEVELOPMENT),
    Case("azure_conv", "azure_llm_2023_conv:scale=16", "Azure LLM 2023, conversation, rate x16 (58 min)", DEVELOPMENT),
    Case("servegen_day1", "servegen_m_large:day=1,scale=0.3", "ServeGen m-large, day 1, rate x0.3", EVALUATION),
    Case(
        "servegen_fortnight",
        "servegen_m_large:days=1-14,scale=0.3",
        "ServeGen m-large, 14 days, rate x0.3",
        EVALUATION,
        routings=(LEAST_REQUEST,),
    ),
    Case("mooncake", "mooncake_synthetic.csv", "Mooncake synthetic, long prompts (17 min)", EVALUATION),
    Case(
        "onoff_mixed", "synthetic:kind=onoff_mixed", "Generated: mixed on/off, heavy-tailed prompts (2 h)", EVALUATION
    ),
    Case("long_prompt_swell", "synthetic:kind=long_prompt_swell", "Generated: long-prompt swell (2 h)", EVALUATION),
    Case("reasoning_swell", "synthetic:kind=reasoning_swell", "Generated: reasoning, long outputs (2 h)", EVALUATION),
    Case("chat_step", "synthetic:kind=chat_step", "Generated: chat with rate steps (2 h)", EVALUATION),
    Case("long_prompt_onoff", "synthetic:kind=long_prompt_onoff", "Generated: long-prompt bursts (2 h)", EVALUATION),
    Case(
        "short_bursts", "synthetic:kind=short_bursts", "Generated: bursts shorter than a model load (2 h)", EVALUATION
    ),
)


#: Other draws of the generated workloads (seed 1 is in CASES): traffic of the same kinds that no
#: one looked at while choosing, reported under the scenario's routing in the block ``seeds``.
OTHER_SEEDS = (2, 3)
SEEDS = "seeds"


def seed_cases() -> tuple[Case, ...]:
    """Each generated kind at each of :data:`OTHER_SEEDS`."""
    return tuple(
        Case(f"{kind}_seed{seed}", f"synthetic:kind={kind},seed={seed}", f"{kind}, seed {seed}", EVALUATION)
        for seed in OTHER_SEEDS
        for kind in KINDS
    )


#: How much older or younger than the scenario's ``metrics.delaySeconds`` the metrics are in the
#: phase runs, in seconds: -4, -3, ..., +4 (6 to 14 s around the default 10 s). What ``ours`` sees
#: is one scrape, one poll and one burst's timing; moving the age by a second moves where each
#: poll falls against the bursts, and on on/off traffic that alone moves the result by points.
PHASE_OFFSETS = (-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0)
PHASE = "phase"
#: Too long to run nine more times in the report (the fortnight runs only under leastRequest anyway).
_NO_PHASE = ("servegen_fortnight",)


def with_routing(scenario: Scenario, routing: str) -> Scenario:
    """The scenario with its load balancer's routing replaced (``model.routing``)."""
    return replace(scenario, model=replace(scenario.model, routing=routing))


def _run(
    case: Case, scenario_spec: str, routing: str, policy: str, delay: float | None = None
) -> tuple[str, str, str, PolicyResult, float]:
    """One policy on one case under one routing; ``delay``: the metrics' age instead of the scenario's."""
    t = time.perf_counter()
    scenario = with_routing(load_scenario(scenario_spec), routing)
    if delay is not None:
        scenario = replace(scenario, metrics_delay_s=delay)
    trace = load_trace(case.trace)
    plan = Plan(trace, scenario)
    r = simulate(trace, scenario, build_policy(policy, scenario, plan), plan)
    return case.name, routing, policy, r, time.perf_counter() - t


Results = dict[tuple[str, str], Comparison]


Phases = dict[str, list[tuple[float, PolicyResult]]]


def run_phases(cases: tuple[Case, ...], scenario_spec: str, routing: str, jobs: int) -> Phases:
    """``ours`` on each case at each metric age of :data:`PHASE_OFFSETS` around the scenario's."""
    base = load_scenario(scenario_spec).metrics_delay_s
    delays = [max(0.0, base + d) for d in PHASE_OFFSETS]
    tasks = [(c, d) for c in cases if c.name not in _NO_PHASE and routing in c.routings for d in delays]
    out: Phases = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [(c, d, pool.submit(_run, c, scenario_spec, routing, SUBJECT, d)) for c, d in tasks]
        for c, d, f in futures:
            out.setdefault(c.name, []).append((d, f.result()[3]))
    return out


def phase_table(phases: Phases, results: Results, cases: tuple[Case, ...], routing: str) -> str:
    """Per trace: ours' SLO met, GPU-hours (x the oracle's) and actions an hour as mean (min to max) over
    the metric ages, and at how many of them it meets the goal (against the same static peak, oracle
    and baselines as the headline, which run at the scenario's age)."""
    rows = [
        "| set | trace | ours: SLO met, mean (min to max) | GPU-h x oracle, mean (min to max) | "
        "actions/h, mean (max) | meets the goal at |",
        "|:--|:--|--:|--:|--:|--:|",
    ]
    for split in (DEVELOPMENT, EVALUATION):
        for case in cases:
            runs, c = phases.get(case.name), results.get((case.name, routing))
            if case.split != split or not runs or c is None:
                continue
            others = [Scores.of(r) for r in c.results if r.policy != SUBJECT]
            oracle = next(r.gpu_hours for r in c.results if r.policy == ORACLE)
            met = 0
            for _, r in runs:
                verdicts = judge_all([Scores.of(r), *others])
                met += bool(verdicts and verdicts[SUBJECT].meets)
            slo = [100 * r.slo_attainment for _, r in runs]
            cost = [r.gpu_hours / oracle if oracle > 0 else float("inf") for _, r in runs]
            acts = [r.scale_actions_per_hour for _, r in runs]
            rows.append(
                f"| {split} | {case.title} | {sum(slo) / len(slo):.2f} % ({min(slo):.2f} to {max(slo):.2f}) | "
                f"{sum(cost) / len(cost):.2f}x ({min(cost):.2f} to {max(cost):.2f}) | "
                f"{sum(acts) / len(acts):.1f} ({max(acts):.1f}) | {met} of {len(runs)} |"
            )
    return "\n".join(rows)


def run_all(cases: tuple[Case, ...], scenario_spec: str, routings: tuple[str, ...], jobs: int) -> Results:
    """Every policy on every case under every routing asked for (and the case allows)."""
    tasks = [(c, rt, p) for c in cases for rt in routings if rt in c.routings for p in policy_names()]
    tasks.sort(key=lambda t: 0 if "days=" in t[0].trace else 1)  # the long ones first
    out: dict[tuple[str, str], dict[str, PolicyResult]] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_run, c, scenario_spec, rt, p) for c, rt, p in tasks]
        for f in futures:
            name, routing, policy, r, secs = f.result()
            out.setdefault((name, routing), {})[policy] = r
            print(f"  {name:20s} {routing:13s} {policy:12s} {secs:6.1f} s", file=sys.stderr, flush=True)
    base = load_scenario(scenario_spec)
    traces: dict[str, Trace] = {}
    results: Results = {}
    for c in cases:
        for rt in routings:
            if (c.name, rt) in out:
                trace = traces.setdefault(c.name, load_trace(c.trace))
                results[(c.name, rt)] = Comparison(
                    c.trace,
                    scenario_spec,
                    trace,
                    with_routing(base, rt),
                    [out[(c.name, rt)][p] for p in policy_names()],
                )
    return results


# ---------------------------------------------------------------- the headline


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def headline_table(results: Results, cases: tuple[Case, ...], routing: str) -> str:
    """Ours against the goal on every trace, development first: SLO met (fixed, scaled), GPU-h, actions, verdict."""
    rows = [
        "| set | trace | ours: SLO met, scaled | ours: GPU-h (x oracle), actions/h | static peak: SLO met, "
        "scaled | oracle: SLO met, scaled, GPU-h | verdict for ours |",
        "|:--|:--|--:|--:|--:|--:|:--|",
    ]
    for split in (DEVELOPMENT, EVALUATION):
        for case in cases:
            c = results.get((case.name, routing))
            if case.split != split or c is None:
                continue
            by = {r.policy: r for r in c.results}
            if not {SUBJECT, STATIC_PEAK, ORACLE} <= set(by):
                continue
            o, sp, orc = by[SUBJECT], by[STATIC_PEAK], by[ORACLE]
            verdicts = judge_all([Scores.of(r) for r in c.results])
            verdict = verdicts[SUBJECT].text() if verdicts else "-"
            ratio = o.gpu_hours / orc.gpu_hours if orc.gpu_hours > 0 else float("inf")
            rows.append(
                f"| {split} | {case.title} | {_pct(o.slo_attainment)}, {_pct(o.slo_attainment_scaled)} | "
                f"{o.gpu_hours:,.1f} ({ratio:.2f}x), {o.scale_actions_per_hour:.1f} | "
                f"{_pct(sp.slo_attainment)}, {_pct(sp.slo_attainment_scaled)} | "
                f"{_pct(orc.slo_attainment)}, {_pct(orc.slo_attainment_scaled)}, {orc.gpu_hours:,.1f} | "
                f"{verdict} |"
            )
    return "\n".join(rows)


def routing_section(results: Results, cases: tuple[Case, ...], routing: str) -> str:
    """One routing's headline: how many traces ours meets the goal on, then the table. The README's summary is
    the one of the scenario's routing, verbatim."""
    ran = [c for c in cases if (c.name, routing) in results]
    met = sum(1 for c in ran if _meets(results[(c.name, routing)]))
    return (
        f"**Routing `{routing}`**: ours meets the goal on {met} of {len(ran)} traces.\n\n"
        f"{headline_table(results, cases, routing)}"
    )


def headline_block(results: Results, cases: tuple[Case, ...], routings: tuple[str, ...]) -> str:
    return "\n\n".join(routing_section(results, cases, rt) for rt in routings)


def _meets(c: Comparison) -> bool:
    verdicts = judge_all([Scores.of(r) for r in c.results])
    return bool(verdicts and SUBJECT in verdicts and verdicts[SUBJECT].meets)


# ---------------------------------------------------------------- the documents


def _constant(text: str) -> Callable[[re.Match[str]], str]:
    return lambda _: text


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"<!-- results:{re.escape(name)} -->\n?(.*?)\n?<!-- /results:{re.escape(name)} -->", re.S)


def read_block(text: str, name: str) -> str | None:
    """What sits between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``, or None."""
    m = _pattern(name).search(text)
    return m.group(1) if m else None


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the block ``name`` holding ``body``; a block not there yet goes at the end."""
    block = f"<!-- results:{name} -->\n{body}\n<!-- /results:{name} -->"
    if _pattern(name).search(text):
        return _pattern(name).sub(_constant(block), text)
    return text + f"\n{block}\n"


def case_block(results: Results, case: Case) -> str:
    parts = []
    for rt in ROUTINGS:
        c = results.get((case.name, rt))
        if c is not None:
            parts.append(f"Routing `{rt}`:\n\n{format_goal_table(c)}")
    c0 = next(results[(case.name, rt)] for rt in ROUTINGS if (case.name, rt) in results)
    return (
        f"`gpu-autoscaler simulate --trace {case.trace}` ({c0.trace.describe()}); {case.split} set.\n\n"
        + "\n\n".join(parts)
        + f"\n\n![{case.title}](img/sim_{case.name}.png)"
    )


def update_docs(
    results: Results,
    cases: tuple[Case, ...],
    routings: tuple[str, ...],
    doc: Path,
    readme: Path | None,
    headline: bool,
    summary_routing: str = PREFILL_AWARE,
) -> None:
    """Rewrite each case's block; with ``headline`` (every case ran), the headline and the README's summary,
    which is the headline's section for the scenario's own routing (``summary_routing``; the default
    scenario's is ``prefillAware``) verbatim."""
    text = doc.read_text()
    for case in cases:
        if any((case.name, rt) in results for rt in ROUTINGS):
            text = replace_block(text, case.name, case_block(results, case))
    if headline:
        text = replace_block(text, HEADLINE, headline_block(results, cases, routings))
    doc.write_text(text)
    if headline and readme is not None:
        summary = routing_section(results, cases, summary_routing)
        readme.write_text(replace_block(readme.read_text(), SUMMARY, summary))


def _parse_routings(text: str) -> tuple[str, ...]:
    if text == "both":
        return ROUTINGS
    if text in ROUTINGS:
        return (text,)
    raise argparse.ArgumentTypeError(f"expected both, {' or '.join(ROUTINGS)}, got {text!r}")


def select_cases(only: str, split: str) -> tuple[Case, ...]:
    """The cases ``--only`` and ``--set`` name; an unknown name is an error naming the known ones
    (``seeds``, the other draws of the generated workloads, is one of them)."""
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in {c.name for c in CASES} | {SEEDS}]
    if unknown:
        raise SimulationInputError.one(
            "--only",
            0,
            unknown[0],
            "unknown report trace; expected one of " + ", ".join([*(c.name for c in CASES), SEEDS]),
        )
    return tuple(c for c in CASES if (not names or c.name in names) and (not split or c.split == split))


def wants_seeds(only: str, split: str) -> bool:
    """The other seeds run with the whole report, or alone with ``--only seeds``."""
    names = {n.strip() for n in only.split(",") if n.strip()}
    return (not names and split != DEVELOPMENT) or SEEDS in names


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m simulations.report_all")
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--only", default="", help="comma-separated report traces, e.g. azure_code,azure_conv")
    ap.add_argument("--set", dest="split", default="", choices=["", DEVELOPMENT, EVALUATION])
    ap.add_argument(
        "--routing", type=_parse_routings, default=ROUTINGS, help="both (default), leastRequest or prefillAware"
    )
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--doc", type=Path, default=DOC)
    ap.add_argument("--readme", type=Path, default=None, help="default: README.md when --doc is the default")
    ap.add_argument("--jobs", type=int, default=max(1, min(len(os.sched_getaffinity(0)), 8)))
    ap.add_argument("--json", default="", help="also write the Contract 5 objects, by case and routing, to this file")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    try:
        cases = select_cases(args.only, args.split)
        routing = load_scenario(args.scenario).model.routing  # the scenario's own: the README's and the plots'
        for case in cases:  # bad input fails here, before any worker starts
            load_trace(case.trace)
    except SimulationInputError as e:
        for p in e.problems:
            print(str(p), file=sys.stderr)
        sys.exit(2)
    results = run_all(cases, args.scenario, args.routing, args.jobs)
    phases = run_phases(cases, args.scenario, routing, args.jobs) if routing in args.routing else {}
    if phases:
        print(f"\nmetric ages, routing {routing}\n" + phase_table(phases, results, cases, routing))
    seeds = seed_cases() if wants_seeds(args.only, args.split) else ()
    seed_results = run_all(seeds, args.scenario, (routing,), args.jobs) if seeds else {}
    if seeds:
        print(f"\nother seeds, routing {routing}\n" + headline_table(seed_results, seeds, routing))
    for (name, rt), comparison in results.items():
        print(f"\n## {name}, routing {rt}: {comparison.trace_spec}\n\n{format_goal_table(comparison)}")
    for rt in args.routing:
        print(f"\nrouting {rt}\n" + headline_table(results, cases, rt))
    if not args.no_docs:
        from simulations.plot import plot

        img = args.doc.parent / "img"
        img.mkdir(parents=True, exist_ok=True)
        for case in cases:
            shown = results.get((case.name, routing)) or next(
                (results[(case.name, rt)] for rt in ROUTINGS if (case.name, rt) in results), None
            )
            if shown is not None:
                plot(
                    shown,
                    img / f"sim_{case.name}.png",
                    title=f"{case.title} — {case.trace} ({case.split}; routing {shown.scenario.model.routing})",
                )
        readme = args.readme if args.readme is not None else (README if args.doc == DOC else None)
        update_docs(
            results,
            cases,
            args.routing,
            args.doc,
            readme,
            headline=len(cases) == len(CASES) and routing in args.routing,
            summary_routing=routing,
        )
        if phases and len(cases) == len(CASES):
            args.doc.write_text(
                replace_block(args.doc.read_text(), PHASE, phase_table(phases, results, cases, routing))
            )
        if seeds:
            args.doc.write_text(
                replace_block(args.doc.read_text(), SEEDS, routing_section(seed_results, seeds, routing))
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps({f"{n}/{rt}": c.to_json() for (n, rt), c in results.items()}, indent=1) + "\n"
        )
    print(f"\n{time.perf_counter() - t:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
