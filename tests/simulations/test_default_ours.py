"""The default scenario's ``ours`` is the recommended work-based spec, it reads the new
series from the simulated fleet, and it is the spec ``deploy/examples/llm-work-scaler.yaml``
hands a user (a spec chosen in simulation deploys unchanged)."""
from __future__ import annotations

from pathlib import Path

import yaml

from autoscaler.core import Decision
from autoscaler.spec import parse_scaler
from simulations.engine import simulate
from simulations.policies.base import FleetView
from simulations.policies.core import CorePolicy
from simulations.policies.plan import Plan
from simulations.replica_metrics import QUEUE_TIME_SUM
from simulations.scenario import Scenario
from simulations.traces import load_trace
from tests.simulations.conftest import shared_trace
from tests.simulations.test_engine import load_step


class Recorded(CorePolicy):
    """The default ``ours``, keeping every decision it makes."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__("ours", scenario.ours, scenario.metrics_delay_s)
        self.decisions: list[tuple[float, Decision]] = []
        #: Per pod serial, the queue-time ``_sum`` counter at every poll.
        self.queue_time_sums: dict[int, list[float]] = {}

    def decide(self, view: FleetView) -> int:
        if view.metrics is not None:
            sums = view.metrics.series[QUEUE_TIME_SUM]
            for serial, total in zip(view.metrics.serial.tolist(), list(sums), strict=True):
                self.queue_time_sums.setdefault(int(serial), []).append(float(total))
        n = super().decide(view)
        assert self.last is not None
        self.decisions.append((view.now, self.last))
        return n


EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "llm-work-scaler.yaml"


def test_the_default_ours_scales_on_work_concurrency_and_a_queue_time_guard(default_scenario: Scenario) -> None:
    assert default_scenario.model.routing == "prefillAware"
    tokens, running, guard = default_scenario.ours.metrics
    assert (tokens.type, tokens.signal, tokens.square_root_staffing, tokens.target.average_value) == (
        "TokenThroughput", "prompt", 2.0, 10_000.0)   # 1 / prefillSecondsPerToken (0.0001 s)
    assert (running.type, running.target.average_value) == ("Concurrency", 33.6)   # 70 % of 48 slots
    assert (guard.type, guard.signal, guard.target.value) == ("Latency", "queueTime", 0.3)


def test_the_example_is_the_default_scenarios_spec(default_scenario: Scenario) -> None:
    example = parse_scaler(yaml.safe_load(EXAMPLE.read_text())).spec
    spec = default_scenario.ours
    assert example.metrics == spec.metrics and example.behavior == spec.behavior
    assert (example.startup_seconds, example.polling_interval_seconds) == (spec.startup_seconds, 15)


def test_the_default_ours_reads_every_signal_from_the_fleet(default_scenario: Scenario) -> None:
    """5 -> 40 -> 5 requests/s of 1,000-token prompts: 5,000 -> 40,000 prompt tokens/s.
    At 40,000 R = 4: ceil(4 + 2 x 2) = 8 replicas at least; in the quiet tail no request
    waits, so the guard reads ~0 s (a float-noise dip in its ``_sum`` counter would read as
    a server restart: seconds of phantom queue time)."""
    trace = load_step(5.0, 40.0, (900, 900, 1500))
    plan = Plan(trace, default_scenario)
    policy = Recorded(default_scenario)
    result = simulate(trace, default_scenario, policy, plan)
    reps, per_bin = result.series.replicas, result.series.bin_s
    assert reps[int(1700 / per_bin)] >= 8
    assert policy.last is not None
    by_key = {p.key: p for p in policy.last.proposals}
    assert set(by_key) == {"prompt_tokens_rate", "running_requests", "queue_time_seconds"}
    assert all(p.error is None for p in by_key.values())
    assert by_key["running_requests"].usage is not None and by_key["running_requests"].usage > 0
    quiet = [next(p.usage for p in d.proposals if p.key == "queue_time_seconds")
             for t, d in policy.decisions if t >= 2400]
    assert quiet and all(q is not None and q < 0.01 for q in quiet), max(q or 0 for q in quiet)


def test_the_queue_time_counter_never_steps_down(default_scenario: Scenario) -> None:
    """A server's ``_sum`` counter only grows: a dip of float noise (a request that never
    waited read as -1e-16 s of queue time) reads as a restart, whose whole total becomes
    the rate, and the guard saw 10-25 s of queue time on idle replicas (Azure code x3
    went to 64 replicas). Every pod's counter, at every poll, over the bursty code trace."""
    shared_trace("azure_llm_2023_code.csv")
    trace = load_trace("azure_llm_2023_code:scale=3")
    plan = Plan(trace, default_scenario)
    policy = Recorded(default_scenario)
    simulate(trace, default_scenario, policy, plan)
    assert policy.queue_time_sums
    dips = [(s, b - a) for s, seq in policy.queue_time_sums.items() for a, b in zip(seq, seq[1:], strict=False)
            if b < a]
    assert dips == []
