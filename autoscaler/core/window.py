"""Per-metric averaging windows: a metric with ``window: 60s`` is decided on its mean
over the last 60 s, as Knative's KPA (its 60 s stable window) and Ray Serve
(``look_back_period_s``) smooth their load signals.

:func:`smooth` runs between the observe step and ``decide``, identically in the
controller, the dry-run and the simulator: ``(spec, observation, state, now) ->
Smoothed(observation, state)``. The observation's time is ``now`` (one poll, one point
per series); a point ``age`` seconds old counts while ``0 < age < window`` for the
points of earlier polls, so with a 15 s poll ``window: 60s`` averages this poll and the
three before it (ages 0, 15, 30, 45; the one at 60 s has left). A queue at 2, 2, 2, then
a burst of 14 reads (2 + 2 + 2 + 14) / 4 = 5 per pod: against a target of 4 that is
ceil(5 / 4 x pods) rather than ceil(14 / 4 x pods), and a single noisy poll moves the
count a quarter as far.

* **Per pod**: each pod's sample becomes the mean of that pod's samples in the window.
  A pod that left the target drops out (its points too). A replica not Ready has no
  window: its samples (a model still loading serves nothing) pass through as they are,
  and its window starts when it is Ready, so its idle loading time does not dilute the
  load it takes once it serves.
* **Target-wide** (a Prometheus query, a latency): the mean of its values.
* **Faults are never masked.** A metric that failed or is missing THIS poll stays failed
  or missing (old values never stand in for a fault: that could turn an outage into a
  scale-down); a pod without a usable sample this poll stays missing (the proposal's
  pessimistic fill applies). Its points stay until they age out, so the window
  carries on when the metric comes back.
* **Bounded**: points older than the window are dropped, a series keeps at most
  :data:`~autoscaler.core.points.MAX_POINTS` (with a 1 s poll and ``window: 1h`` the mean is over the last 1,024
  polls, 17 min), and only pods of the target and metrics of the spec are kept.

A metric without ``window`` passes through untouched; a spec without any ``window``
returns the very same observation (behaviour identical to no smoothing).

The state lives in the process that polls (the controller's per-scaler state), not in
the GPUScaler's status: a steady scaler writes no status, and a new leader starts with
an empty window. That is safe: with one point the mean is the raw value, so a new
leader is at worst as reactive as a scaler without a window for one window's length,
and a scale-down stays held by the stabilization memory, which status does persist.

Pure: ``now`` comes in; no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from autoscaler.core.lookahead import project
from autoscaler.core.points import NO_POINTS, Series, add, recent, usable
from autoscaler.core.types import MetricObservation, Observation
from autoscaler.spec import GPUScalerSpec


@dataclass(frozen=True)
class MetricWindow:
    """One metric's points in the window: per pod, or target-wide."""

    per_pod: Mapping[str, Series] = field(default_factory=dict)
    value: Series = Series()


@dataclass(frozen=True)
class WindowState:
    """Every windowed metric's points, by metric key; empty for a new scaler or leader."""

    metrics: Mapping[str, MetricWindow] = field(default_factory=dict)
    #: Each look-ahead metric's totals (``lookAhead``, :mod:`autoscaler.core.lookahead`), by key.
    trends: Mapping[str, Series] = field(default_factory=dict)

    @property
    def points(self) -> int:
        """How many points are held in all (what bounds the memory)."""
        windows = sum(len(w.value.times) + sum(len(s.times) for s in w.per_pod.values()) for w in self.metrics.values())
        return windows + sum(len(t.times) for t in self.trends.values())


class Smoothed(NamedTuple):
    """The observation to decide on, and the state for the next poll (a named tuple:
    the dry-run unpacks one per tick)."""

    observation: Observation
    state: WindowState


EMPTY = WindowState()
_NO_WINDOW = MetricWindow()


def windowed(spec: GPUScalerSpec) -> bool:
    """Whether any metric of ``spec`` has a ``window`` or a ``lookAhead`` (else :func:`smooth`
    changes nothing)."""
    return any(m.window_seconds is not None or m.look_ahead is not None for m in spec.metrics)


def smooth(spec: GPUScalerSpec, obs: Observation, state: WindowState, now: float) -> Smoothed:
    """Each windowed metric of ``obs`` as its mean over its window (see the module docstring),
    then each metric with a ``lookAhead`` as its projection (:mod:`autoscaler.core.lookahead`)."""
    if not windowed(spec):
        return Smoothed(obs, EMPTY)
    metrics = dict(obs.metrics)
    kept: dict[str, MetricWindow] = {}
    target = {p.name for p in obs.pods}
    not_ready = {p.name for p in obs.pods if not p.ready}
    trends: dict[str, Series] = {}
    for m in spec.metrics:
        if m.window_seconds is not None:
            result = _advance(
                state.metrics.get(m.key, _NO_WINDOW), metrics.get(m.key), target, not_ready, m.window_seconds, now
            )
            kept[m.key] = result.window
            if result.observation is not None:
                metrics[m.key] = result.observation
        if m.look_ahead is not None:  # after the window: a windowed metric's trend is its mean's
            la = m.look_ahead
            projected = project(
                state.trends.get(m.key, NO_POINTS), metrics.get(m.key), obs.pods, la.ahead_seconds, la.over_seconds, now
            )
            trends[m.key] = projected.points
            if projected.observation is not None:
                metrics[m.key] = projected.observation
    return Smoothed(replace(obs, metrics=metrics), WindowState(kept, trends))


class _Advanced(NamedTuple):
    window: MetricWindow
    observation: MetricObservation | None  # None: pass this poll's through unchanged


def _mean(series: Series) -> float:
    return math.fsum(series.values) / len(series.values)


def _advance(
    before: MetricWindow,
    mo: MetricObservation | None,
    target: set[str],
    not_ready: set[str],
    window: float,
    now: float,
) -> _Advanced:
    """One metric's next window and its smoothed observation.

    A failed or missing metric: the points age, nothing is added, and the failure passes
    through. Per pod, a pod of the target keeps its points while it has no sample (they
    may count again at the next poll); a pod no longer in the target loses them."""
    if mo is None or mo.error is not None:
        aged = {pod: kept for pod, series in before.per_pod.items() if (kept := recent(series, now, window)).times}
        return _Advanced(MetricWindow(aged, recent(before.value, now, window)), None)
    per_pod: dict[str, Series] = {}
    smoothed: dict[str, float] = {}
    for pod, series in before.per_pod.items():
        waiting = pod in target and pod not in not_ready and not usable(mo.per_pod.get(pod))  # no sample this poll
        if waiting and (kept := recent(series, now, window)).times:
            per_pod[pod] = kept
    for pod, v in mo.per_pod.items():
        if pod in not_ready or not usable(v):
            smoothed[pod] = v  # passes through: a replica still loading, or a value the proposal drops
            continue
        series = add(recent(before.per_pod.get(pod, NO_POINTS), now, window), v, now)
        per_pod[pod] = series
        smoothed[pod] = _mean(series)
    value_points = recent(before.value, now, window)
    value = mo.value
    if usable(value):
        assert value is not None
        value_points = add(value_points, value, now)
        value = _mean(value_points)
    return _Advanced(MetricWindow(per_pod, value_points), replace(mo, per_pod=smoothed, value=value))
