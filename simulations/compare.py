"""One comparison: a trace, a scenario, the chosen policies, their results.

This is the library call behind ``gpu-autoscaler simulate`` and the report script.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from simulations.engine import Progress, check_span, simulate
from simulations.goal import ORACLE, Scores, judge_all
from simulations.policies import Plan, build_policy, policy_names
from simulations.scenario import Scenario, load_scenario
from simulations.stats import CONTRACT_FIELDS, PolicyResult
from simulations.traces import Trace, load_trace


@dataclass
class Comparison:
    trace_spec: str
    scenario_spec: str
    trace: Trace
    scenario: Scenario
    results: list[PolicyResult]

    def to_json(self) -> dict[str, object]:
        """DESIGN.md Contract 5: ``{"trace", "scenario", "results": [...]}``."""
        rows = []
        for r in self.results:
            d = r.to_json()
            d["latency"] = self.scenario.slo.latency
            d["slo_threshold_s"] = self.scenario.slo.threshold_s
            d["slo_scaled_factor"] = self.scenario.slo.scaled_factor
            rows.append(d)
        return {"trace": self.trace_spec, "scenario": self.scenario_spec, "results": rows}


def parse_policies(text: str) -> tuple[str, ...]:
    """``all`` or a comma-separated list of policy names, in the order given."""
    known = policy_names()
    if text.strip() == "all":
        return known
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(
            f"unknown policy {', '.join(unknown) or repr(text)}; expected all or a comma-separated "
            f"list of {', '.join(known)}"
        )
    return names


def compare(
    trace_spec: str,
    scenario_spec: str,
    policies: tuple[str, ...] | None = None,
    progress: Progress | None = None,
    on_trace: Callable[[Trace, Scenario], None] | None = None,
) -> Comparison:
    """Load the inputs (raising :class:`SimulationInputError` on bad ones) and run each policy."""
    scenario = load_scenario(scenario_spec)
    trace = load_trace(trace_spec)
    check_span(trace, scenario, trace_spec)
    if on_trace is not None:
        on_trace(trace, scenario)
    plan = Plan(trace, scenario)
    names = policy_names() if policies is None else policies
    results = [simulate(trace, scenario, build_policy(n, scenario, plan), plan, progress) for n in names]
    return Comparison(trace_spec, scenario_spec, trace, scenario, results)


def format_table(c: Comparison) -> str:
    """The comparison as a fixed-width text table (also valid Markdown)."""
    slo = c.scenario.slo
    lat = "TTFT" if slo.latency == "ttft" else "latency"
    head = [
        "policy",
        f"SLO met ({lat} <= {slo.threshold_s:g} s)",
        f"scaled SLO met ({lat} <= max({slo.threshold_s:g} s, {slo.scaled_factor:g} x unloaded))",
        f"p50 {lat}",
        f"p95 {lat}",
        f"p99 {lat}",
        "GPU-hours",
        "scale actions/h",
        "max replicas",
        "time at max",
        "requests",
    ]
    rows = []
    for r in c.results:
        rows.append(
            [
                r.policy,
                _pct(r.slo_attainment),
                _pct(r.slo_attainment_scaled),
                _secs(r.p50_latency_s),
                _secs(r.p95_latency_s),
                _secs(r.p99_latency_s),
                f"{r.gpu_hours:,.1f}",
                f"{r.scale_actions_per_hour:.1f}",
                str(r.max_replicas),
                _duration(r.time_at_max_replicas_s),
                f"{r.requests:,}",
            ]
        )
    return _markdown(head, rows, right=[False] + [True] * (len(head) - 1))


def format_goal_table(c: Comparison) -> str:
    """The comparison against issue 10's goal (simulations/goal.py): both SLOs, cost against the oracle, churn,
    and each policy's verdict, saying by how much it falls short."""
    slo = c.scenario.slo
    lat = "TTFT" if slo.latency == "ttft" else "latency"
    verdicts = judge_all([Scores.of(r) for r in c.results])
    oracle = next((r for r in c.results if r.policy == ORACLE), None)
    head = [
        "policy",
        f"SLO met ({lat} <= {slo.threshold_s:g} s)",
        f"scaled SLO met (k = {slo.scaled_factor:g})",
        f"p95 {lat}",
        "GPU-hours",
        "x oracle",
        "scale actions/h",
        "max replicas",
        "verdict",
    ]
    rows = []
    for r in c.results:
        ratio = "-" if oracle is None or oracle.gpu_hours <= 0 else f"{r.gpu_hours / oracle.gpu_hours:.2f}x"
        rows.append(
            [
                r.policy,
                _pct(r.slo_attainment),
                _pct(r.slo_attainment_scaled),
                _secs(r.p95_latency_s),
                f"{r.gpu_hours:,.1f}",
                ratio,
                f"{r.scale_actions_per_hour:.1f}",
                str(r.max_replicas),
                verdicts[r.policy].text() if verdicts else "-",
            ]
        )
    return _markdown(head, rows, right=[False] + [True] * (len(head) - 2) + [False])


def _markdown(head: list[str], rows: list[list[str]], right: list[bool]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True))
        return "| " + " | ".join(padded) + " |"

    rules = (("-" * (w + 1) + ":") if r else (":" + "-" * (w + 1)) for w, r in zip(widths, right, strict=True))
    sep = "|" + "|".join(rules) + "|"
    return "\n".join([line(head), sep] + [line(row) for row in rows])


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:.2f} %"


def _secs(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:.2f} s" if x < 100 else f"{x:,.0f} s"


def _duration(s: float) -> str:
    if s <= 0:
        return "0"
    if s < 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


__all__ = ["CONTRACT_FIELDS", "Comparison", "compare", "format_goal_table", "format_table", "parse_policies"]
