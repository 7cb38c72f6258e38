"""Look-ahead: a metric with ``lookAhead: {ahead: 30s, over: 2m}`` is decided on the value
its recent linear trend reaches ``ahead`` seconds from now, when that is higher than
today's. A replica ordered now serves only after its model loads, so on a climb a purely
reactive count is always one load time behind; the trend asks for part of the climb
before it is seen. (llm-d's and Dynamo's planners predict traffic for the same reason;
this is the smallest predictor that can be explained in one sentence.)

Worked example: running requests summed over the ready pods read 200, 212, 226, 238, 251
at 15 s polls (one minute). The least-squares slope is 0.853 a second, so 30 s ahead the
total is 251 + 0.853 x 30 = 276.6, and each of 6 ready pods' samples is raised by
25.6 / 6 = 4.27: against a target of 33.6 a replica that asks ceil(276.6 / 33.6) = 9
where today's 251 asks 8.

* **What is projected** is the metric's total: per pod, the sum over the ready pods; a
  target-wide metric's value as it is. A poll where a ready pod has no usable sample
  (a new replica's first counter rate, a NaN) adds no point: its total would read as a
  fall, and the next one as a rise that is not there.
* **Only up.** A falling or flat trend changes nothing: a look-ahead never lowers a value,
  so it can never cause or hasten a scale-down (the stabilization window and the rate
  policies still govern those).
* **At most double.** The lift is capped at the total itself (the latency guard's x2 per
  step): a burst out of idle minutes is a slope of thousands a second for one poll, and
  projecting it unbounded would order the whole fleet at once.
* **Fit.** Ordinary least squares over this poll's point and those of earlier polls with
  age < ``over``; fewer than 3 points (a new scaler, a new leader, a metric just back
  from a failure) is no trend.
* **Faults are never masked**, as in :mod:`autoscaler.core.window`: a metric that failed
  or has no usable sample this poll passes through unchanged and adds no point; its
  points age out.
* **Bounded**: points older than ``over`` are dropped and a series keeps at most
  :data:`autoscaler.core.points.MAX_POINTS`.

It runs after the averaging window (a windowed metric's trend is the trend of its mean)
inside :func:`autoscaler.core.window.smooth`, so the controller, the dry-run and the
simulator apply it identically; its points live in the same per-process state.

Pure: ``now`` comes in; no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import NamedTuple

from autoscaler.core.points import Series, add, recent, usable
from autoscaler.core.types import MetricObservation, PodState

#: Fewer points than this in the fit is no trend (two points are a difference, not a trend).
MIN_POINTS = 3


class Projected(NamedTuple):
    """The observation with the lift applied (None: unchanged; the lift is in its ``lift``) and the
    metric's next points."""

    observation: MetricObservation | None
    points: Series


def slope(points: Series) -> float:
    """The least-squares slope of ``values`` over ``times`` (per second); 0 when the times
    do not spread. 200, 212, 226, 238, 251 at 0, 15, 30, 45, 60 s: 0.8533 a second."""
    n = len(points.times)
    t0 = points.times[0]
    ts = [t - t0 for t in points.times]
    mean_t = math.fsum(ts) / n
    mean_v = math.fsum(points.values) / n
    var = math.fsum((t - mean_t) ** 2 for t in ts)
    if var <= 0:
        return 0.0
    return math.fsum((t - mean_t) * (v - mean_v) for t, v in zip(ts, points.values, strict=True)) / var


def project(
    before: Series,
    mo: MetricObservation | None,
    pods: tuple[PodState, ...],
    ahead: float,
    over: float,
    now: float,
) -> Projected:
    """One metric's look-ahead at ``now`` (see the module docstring)."""
    aged = recent(before, now, over)
    if mo is None or mo.error is not None:
        return Projected(None, aged)
    if mo.per_pod:
        target = {p.name for p in pods if p.ready}
        samples = [mo.per_pod.get(pod) for pod in target]
        if not target or not all(usable(v) for v in samples):
            return Projected(None, aged)
        total = math.fsum(v for v in samples if v is not None)
    elif usable(mo.value):
        assert mo.value is not None
        total = mo.value
    else:
        return Projected(None, aged)
    points = add(aged, total, now)
    if len(points.times) < MIN_POINTS:
        return Projected(None, points)
    lift = min(slope(points) * ahead, total)
    if not lift > 0:
        return Projected(None, points)
    if mo.per_pod:
        share = lift / len(target)
        per_pod: Mapping[str, float] = {pod: v + share if pod in target else v for pod, v in mo.per_pod.items()}
        return Projected(replace(mo, per_pod=per_pod, lift=lift), points)
    assert mo.value is not None
    return Projected(replace(mo, value=mo.value + lift, lift=lift), points)
