"""The simulation loop: one trace, one scenario, one policy.

The stepper reads the clock once per step and passes it down (STYLE.md principle 2):
each step it loads the arrivals up to the step's end, lets the fleet finish, admit,
prefill and decode, records what happened, takes the metric snapshots the policy will
see ``delay_s`` later, and at the policy's polls applies its desired replica count.

Every policy starts from the same warm fleet (the oracle's plan for the first second,
all replicas ready), so a run measures how a policy follows the load, not how it
recovers from a cold start. After the trace ends the run continues without arrivals
(at most ``drainSeconds``) until the queued requests finish; GPU-hours, scale actions
and time at the maximum count only the trace's span.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import numpy as np

from simulations.errors import SimulationInputError
from simulations.fleet import Fleet, Snapshot
from simulations.frontqueue import FrontQueue
from simulations.policies import FleetView, Plan, Policy, StaticPolicy
from simulations.scenario import Scenario
from simulations.stats import PolicyResult, Recorder
from simulations.traces.base import Trace

Progress = Callable[[str, float], None]

#: The longest run the simulator takes. A run steps through every ``stepSeconds`` of the
#: trace's span (plus the drain) and the oracle plans every second of it, so memory and
#: time grow with the span, not with the requests: two requests a year apart would be
#: 31.5 million steps (about 2 GB of per-second arrays). 31 days at 1 s steps is the cap
#: (2,678,400 steps: about 200 MB at most); the report's fortnight is 1.2 million. Longer
#: traces are simulated in slices (``--trace NAME:days=1-14``, ``start=``/``end=``).
MAX_SPAN_S = 31 * 86400.0
MAX_STEPS = 2_678_400


def check_span(trace: Trace, scenario: Scenario, source: str = "--trace") -> None:
    """Refuse (exit 2 at the CLI) a run whose span or step count is over the caps, before
    anything of the span's size is allocated."""
    span = trace.end_s - trace.start_s
    steps = (span + scenario.simulation.drain_s) / scenario.simulation.step_s
    if not math.isfinite(span) or span > MAX_SPAN_S:
        raise SimulationInputError.one(
            source,
            0,
            "span",
            f"the trace spans {span / 86400:,.1f} days ({trace.describe()}); expected at most "
            f"{MAX_SPAN_S / 86400:g} days: simulate a slice (day=N, days=A-B or start=/end=)",
        )
    if steps > MAX_STEPS:
        raise SimulationInputError.one(
            source,
            0,
            "span",
            f"{span:,.0f} s plus {scenario.simulation.drain_s:g} s of drain at "
            f"{scenario.simulation.step_s:g} s steps is {steps:,.0f} steps; expected at most {MAX_STEPS:,}: "
            "simulate a slice or use longer steps (simulation.stepSeconds)",
        )


def plot_bin_s(span_s: float) -> float:
    """Bins for time series: at most 800 of them, at a round number of seconds."""
    for b in (10, 30, 60, 120, 300, 600, 1800, 3600):
        if span_s / b <= 800:
            return float(b)
    return 3600.0


def simulate(
    trace: Trace, scenario: Scenario, policy: Policy, plan: Plan, progress: Progress | None = None
) -> PolicyResult:
    check_span(trace, scenario)
    sim = scenario.simulation
    dt = sim.step_s
    t0, t_stop = trace.start_s, trace.end_s
    horizon = (t_stop - t0) + sim.drain_s
    fleet = Fleet(scenario.model, _initial(policy, scenario, plan), t0, dt, sim.seed)
    queue = FrontQueue(trace, dt, sim.max_groups_per_step)
    slo = scenario.slo
    rec = Recorder(
        t0,
        t_stop,
        dt,
        horizon,
        slo.latency,
        slo.threshold_s,
        plot_bin_s(t_stop - t0),
        scaled_factor=slo.scaled_factor,
        one_decode_step_s=scenario.model.step_time(1.0),
    )
    interval, delay = policy.interval_s, policy.delay_s
    next_poll = t0 + interval
    next_snap = next_poll - delay
    snaps: deque[tuple[float, Snapshot]] = deque()
    n_steps = int(math.ceil(horizon / dt))
    report_every = max(1, n_steps // 50)
    bound = scenario.max_replicas
    for i in range(n_steps):
        t = t0 + i * dt
        t_end = t + dt
        if t >= t_stop and queue.drained() and not fleet.busy():
            break
        queue.ensure(t_end)
        fleet.advance(t)
        at_start = fleet.in_system(queue)
        rec.admitted(fleet.admit(t, t_end, queue))
        # The exact integral of the number in system over the step, from the fleet's books:
        # those there at its start, plus arrivals from their arrival, less completions after theirs.
        rec.tick(
            fleet.target,
            fleet.held,
            queue.waiting,
            at_start * dt + queue.arrival_credit(t_end) - fleet.completion_credit(),
        )
        if policy.every_step:
            policy.observe(t_end, fleet.in_system(queue, at_step_end=True), fleet.n_ready)
        while next_snap <= t_end + 1e-9:
            snaps.append((next_snap + delay, fleet.snapshot(t_end, queue)))
            next_snap += interval
        if next_poll <= t_end + 1e-9:
            while snaps and snaps[0][0] < next_poll - 1e-9:
                snaps.popleft()
            seen = snaps.popleft()[1] if snaps and snaps[0][0] <= next_poll + 1e-9 else None
            serial, ready, start = fleet.pods()
            view = FleetView(
                now=t_end,
                current_replicas=fleet.target,
                ready_replicas=fleet.n_ready,
                pod_serial=serial,
                pod_ready=ready,
                pod_start=start,
                metrics=seen,
            )
            desired = policy.decide(view)
            if desired != fleet.target:
                if t_end <= t_stop:
                    rec.scale_actions += 1
                fleet.scale_to(desired, t_end)
            next_poll += interval
        if progress is not None and i % report_every == 0:
            progress(policy.name, min(1.0, (t_end - t0) / (t_stop - t0)))
    if progress is not None:
        progress(policy.name, 1.0)
    waiting_since, waiting = _still_queued(queue)
    rec.unserved_at_end(waiting_since, waiting, now=t0 + rec.steps * dt)
    return rec.result(policy.name, bound)


def _initial(policy: Policy, scenario: Scenario, plan: Plan) -> int:
    """The warm start: the oracle's plan for the first second (static: its own count)."""
    if isinstance(policy, StaticPolicy):
        return policy.replicas
    return plan.at(plan.origin)


def _still_queued(q: FrontQueue) -> tuple[np.ndarray, np.ndarray]:
    c = q.count[q.head :].copy()
    if c.shape[0]:
        c[0] -= q.head_used
    return q.time[q.head :], c
