"""The oracle's plan and static peak provisioning, from the future load.

The oracle knows every arrival. Two things bound a replica, so it computes two needs:

* slots: the requests in service at each second if each were served from its arrival
  (its prefill plus its decode at the batch the oracle aims for,
  ``target_occupancy x slots``), divided by ``slots x target_occupancy``;
* prefill: the prefill seconds arriving in a window of ``window_s`` around each second
  (default 2 s, the TTFT SLO: a burst must be prefilled about that fast), divided by
  ``window_s x prefill_utilization``.

``need = ceil(max(both))``. A replica takes ``startup_s`` to load, so at ``t`` the oracle
asks for the most any second in ``[t, t + startup_s + interval_s]`` needs: a replica it
starts now is ready when the load it was started for arrives, and it never lets go of one
it could not get back in time. Static peak provisioning runs the plan's maximum all along.
"""

from __future__ import annotations

import math

import numpy as np

from simulations.policies.base import FleetView
from simulations.policies.registry import register
from simulations.scenario import Scenario
from simulations.traces.base import Trace, chunks


class Plan:
    """Replicas the oracle wants at each second of the trace (index 0 = ``trace.start_s``)."""

    def __init__(self, trace: Trace, scenario: Scenario):
        m, o = scenario.model, scenario.oracle
        self.origin = trace.start_s
        n = max(1, int(math.ceil(trace.end_s - trace.start_s)))
        in_service = np.zeros(n + 1)
        pf_work = np.zeros(n)
        step = m.step_time(o.target_occupancy * m.slots)
        for _, _, a in chunks(trace):
            if not len(a):
                continue
            rel = a.time - self.origin
            pf = a.prompt * m.prefill_s_per_token
            service = pf + a.output * step
            begin = np.minimum(np.ceil(rel).astype(np.int64), n)
            end = np.minimum(np.ceil(rel + service).astype(np.int64), n)
            in_service += np.bincount(begin, weights=a.count, minlength=n + 1)
            in_service -= np.bincount(end, weights=a.count, minlength=n + 1)
            sec = np.minimum(rel.astype(np.int64), n - 1)
            pf_work += np.bincount(sec, weights=pf * a.count, minlength=n)
        conc = np.cumsum(in_service)[:n]
        w = max(1, int(round(o.window_s)))
        pf_load = _centred_mean(pf_work, w)
        need = np.ceil(np.maximum(conc / (m.slots * o.target_occupancy), pf_load / o.prefill_utilization) - 1e-9)
        self.need = np.clip(need, scenario.min_replicas, scenario.max_replicas).astype(np.int64)
        ahead = int(math.ceil(m.startup_s)) + o.interval_s
        self.plan = _forward_max(self.need, ahead + 1)
        self.peak = int(self.need.max())

    def at(self, t: float) -> int:
        i = int(min(max(0, int(t - self.origin)), self.plan.shape[0] - 1))
        return int(self.plan[i])


def _centred_mean(x: np.ndarray, w: int) -> np.ndarray:
    c = np.concatenate(([0.0], np.cumsum(x)))
    n = x.shape[0]
    lo = np.clip(np.arange(n) - w // 2, 0, n)
    hi = np.clip(np.arange(n) - w // 2 + w, 0, n)
    return (c[hi] - c[lo]) / w


def _forward_max(x: np.ndarray, w: int) -> np.ndarray:
    """``out[i] = max(x[i : i + w])`` (the window clipped at the end), by doubling the span."""
    out = x.astype(float)
    n = out.shape[0]
    span = 1
    while span < w and span < n:
        k = min(span, w - span)
        shifted = np.full(n, -np.inf)
        shifted[: n - k] = out[k:]
        out = np.maximum(out, shifted)
        span += k
    return out.astype(x.dtype)


class OraclePolicy:
    name = "oracle"
    every_step = False
    delay_s = 0.0

    def __init__(self, plan: Plan, scenario: Scenario):
        self.plan = plan
        self.interval_s = float(scenario.oracle.interval_s)

    def observe(self, t: float, in_system: float, ready_replicas: int) -> None:
        return None

    def decide(self, view: FleetView) -> int:
        return self.plan.at(view.now)


class StaticPolicy:
    name = "static_peak"
    every_step = False
    delay_s = 0.0
    interval_s = 3600.0

    def __init__(self, replicas: int):
        self.replicas = replicas

    def observe(self, t: float, in_system: float, ready_replicas: int) -> None:
        return None

    def decide(self, view: FleetView) -> int:
        return self.replicas


@register("static_peak", "#7f7f7f")
def static_peak(scenario: Scenario, plan: Plan) -> StaticPolicy:
    """The scenario's ``policies.static_peak.replicas``, else the plan's peak within the bounds."""
    if scenario.static_replicas is not None:
        return StaticPolicy(scenario.static_replicas)
    return StaticPolicy(min(max(plan.peak, scenario.min_replicas), scenario.max_replicas))


@register("oracle", "#2ca02c")
def oracle(scenario: Scenario, plan: Plan) -> OraclePolicy:
    return OraclePolicy(plan, scenario)
