"""The twin check: does ``simulate --policy ours`` behave like the controller a user deploys?

The same trace slice runs through the simulator's ``ours`` policy with the same spec,
the same fleet model and the playground's pipeline: ``metrics.delaySeconds`` is the
playground's mean metric age (:attr:`Settings.pipeline_delay_s`), polls every
``pollingIntervalSeconds`` from the trace's start (the playground starts its trace
clock at a controller poll), and new replicas load for ``startupSeconds``. The two
replica timelines must agree within :data:`TOLERANCES`: GPU-hours within 5 %, scale-ups
and scale-downs each within one, SLO attainment within one point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from simulations.engine import simulate
from simulations.playground.config import Settings
from simulations.playground.fleet import ScaleChange
from simulations.policies import FleetView, Plan, build_policy
from simulations.policies.base import Policy
from simulations.stats import PolicyResult

#: GPU-hours relative; scale-ups and scale-downs absolute; SLO attainment in points (percent).
TOLERANCES = {"gpu_hours": 0.05, "scale_ups": 1, "scale_downs": 1, "slo_points": 1.0}


class RecordingPolicy:
    """A policy that records each change its wrapped policy asks for (time, old, new)."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.name, self.interval_s, self.delay_s, self.every_step = (
            inner.name,
            inner.interval_s,
            inner.delay_s,
            inner.every_step,
        )
        self.changes: list[ScaleChange] = []

    def observe(self, t: float, in_system: float, ready_replicas: int) -> None:
        self.inner.observe(t, in_system, ready_replicas)

    def decide(self, view: FleetView) -> int:
        desired = self.inner.decide(view)
        if desired != view.current_replicas:
            self.changes.append(ScaleChange(view.now, view.current_replicas, desired))
        return desired


@dataclass(frozen=True)
class Figures:
    gpu_hours: float
    scale_ups: int
    scale_downs: int
    slo_attainment: float  # 0..1
    timeline: tuple[ScaleChange, ...] = ()

    @staticmethod
    def of(result: PolicyResult, changes: Sequence[ScaleChange], t_stop: float) -> Figures:
        within = [c for c in changes if c.t <= t_stop + 1e-9]
        return Figures(
            result.gpu_hours,
            sum(c.new > c.old for c in within),
            sum(c.new < c.old for c in within),
            result.slo_attainment,
            tuple(changes),
        )


@dataclass
class TwinReport:
    playground: Figures | None
    twin: Figures | None
    failures: list[str] = field(default_factory=list)

    @staticmethod
    def empty() -> TwinReport:
        return TwinReport(None, None)

    @property
    def agrees(self) -> bool:
        return self.playground is not None and not self.failures

    def lines(self) -> list[str]:
        p, t = self.playground, self.twin
        if p is None or t is None:
            return ["twin check: not run"]

        def tl(f: Figures) -> str:
            return " ".join(f"{c.t:.0f}s:{c.old}->{c.new}" for c in f.timeline) or "(no change)"

        return [
            f"twin check ({'agrees' if self.agrees else 'DIFFERS'}): playground vs simulate --policy ours",
            f"  GPU-hours      {p.gpu_hours:.4f} vs {t.gpu_hours:.4f} "
            f"({_rel(p.gpu_hours, t.gpu_hours):+.1%}, within 5 %)",
            f"  scale-ups      {p.scale_ups} vs {t.scale_ups} (within 1)",
            f"  scale-downs    {p.scale_downs} vs {t.scale_downs} (within 1)",
            f"  SLO attainment {100 * p.slo_attainment:.1f} % vs {100 * t.slo_attainment:.1f} % (within 1 point)",
            f"  playground timeline {tl(p)}",
            f"  twin timeline       {tl(t)}",
            *(f"  differs: {f}" for f in self.failures),
        ]


def _rel(a: float, b: float) -> float:
    return (a - b) / b if b else (0.0 if a == b else math.inf)


def run_twin(settings: Settings) -> tuple[PolicyResult, list[ScaleChange]]:
    """The simulator's ``ours`` on the playground's trace, scenario and pipeline delay."""
    scenario = settings.scenario()
    trace = settings.trace()
    plan = Plan(trace, scenario)
    policy = RecordingPolicy(build_policy("ours", scenario, plan))
    result = simulate(trace, scenario, policy, plan)
    return result, policy.changes


def compare_twin(settings: Settings, result: PolicyResult, changes: Sequence[ScaleChange]) -> TwinReport:
    twin_result, twin_changes = run_twin(settings)
    t_stop = settings.trace().end_s
    p = Figures.of(result, changes, t_stop)
    t = Figures.of(twin_result, twin_changes, t_stop)
    failures = []
    if abs(_rel(p.gpu_hours, t.gpu_hours)) > TOLERANCES["gpu_hours"]:
        failures.append(f"GPU-hours {p.gpu_hours:.4f} vs {t.gpu_hours:.4f}")
    if abs(p.scale_ups - t.scale_ups) > TOLERANCES["scale_ups"]:
        failures.append(f"scale-ups {p.scale_ups} vs {t.scale_ups}")
    if abs(p.scale_downs - t.scale_downs) > TOLERANCES["scale_downs"]:
        failures.append(f"scale-downs {p.scale_downs} vs {t.scale_downs}")
    if not abs(100 * (p.slo_attainment - t.slo_attainment)) <= TOLERANCES["slo_points"]:
        failures.append(f"SLO attainment {100 * p.slo_attainment:.1f} % vs {100 * t.slo_attainment:.1f} %")
    return TwinReport(p, t, failures)
