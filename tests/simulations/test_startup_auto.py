"""``startupSeconds: auto`` in the simulator: the simulated pods carry creation and Ready
times, so ``ours`` measures the fleet's model load as the controller measures a cluster's."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from simulations.engine import simulate
from simulations.policies import FleetView, Plan
from simulations.policies.core import ours
from simulations.traces import Arrivals, PoissonTrace, RequestTrace, chunks
from tests.simulations.conftest import UNIT_MODEL, make_scenario, scaler_doc


def fleet(now: float, start: list[float], ready: list[bool]) -> FleetView:
    return FleetView(now=now, current_replicas=len(start), ready_replicas=sum(ready),
                     pod_serial=np.arange(len(start)), pod_ready=np.array(ready), pod_start=np.array(start),
                     metrics=None)


def test_a_new_replica_is_measured_once_from_creation_to_ready() -> None:
    policy = ours(make_scenario(policies={"ours": {"scaler": scaler_doc(startupSeconds="auto")}}))
    policy.decide(fleet(0.0, [0.0, 0.0], [True, True]))  # measuring begins: the two up already are not measured
    policy.decide(fleet(15.0, [0.0, 0.0, 10.0], [True, True, False]))  # created at 10, loading
    policy.decide(fleet(105.0, [0.0, 0.0, 10.0], [True, True, True]))  # first seen Ready at 105: 105 - 10 = 95
    policy.decide(fleet(120.0, [0.0, 0.0, 10.0], [True, True, True]))  # not again
    assert [(s.pod, s.seconds) for s in policy.memory.startups] == [("pod-2", 95.0)]


def test_the_fleets_model_load_is_what_auto_sees() -> None:
    """A burst makes ``ours`` scale up; the fleet loads a replica in 90 s, polled every 15 s:
    each measured startup is 90 s plus at most one polling interval."""
    parts, t0 = [], 0.0
    for i, (rate, span) in enumerate(((0.2, 120), (3.0, 400))):
        p = PoissonTrace(rate=rate, duration_s=span, prompt=1000, output=200, seed=3 + i)
        a = Arrivals.concat([x for _, _, x in chunks(p)])
        parts.append(Arrivals(a.time + t0, a.prompt, a.output, a.count))
        t0 += span
    trace = RequestTrace("burst", 0.0, t0, Arrivals.concat(parts))
    scenario = make_scenario(model=replace(UNIT_MODEL, startup_s=90.0),
                             policies={"ours": {"scaler": scaler_doc(startupSeconds="auto")}})
    plan = Plan(trace, scenario)
    policy = ours(scenario, plan)
    simulate(trace, scenario, policy, plan)
    measured = [s.seconds for s in policy.memory.startups]
    assert measured and all(90.0 <= s <= 105.0 for s in measured), measured
