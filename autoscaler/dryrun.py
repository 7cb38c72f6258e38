"""The dry-run: replay a recording (Contract 3) through the unchanged decision core.

Evaluation ticks fall every ``pollingIntervalSeconds`` from the first sample to the
last. At each tick a metric's value for a pod is its latest sample at or before the
tick, and counts as missing once it is two polling intervals old — the same staleness
rule the controller applies to Prometheus samples.

*Open loop* (the recording has ``replicas`` rows): the current count is what really ran,
the pods are those with fresh samples, and the core's recommendation is reported
beside it. Scale events the recording shows are fed into the memory, so rate policies
and cooldown see what really happened.

*Closed loop* (no ``replicas`` rows): the replay's own decisions take effect. It starts
with as many replicas as the recording has pods at its first tick; a new replica is
ready ``startupSeconds`` after it is created; a scale-down removes the newest replicas
first. The recording is read as the load on the whole Deployment: at each tick the sum
of the per-pod samples is spread evenly over the replay's ready replicas (GPU
utilization capped at 100 %). So 3 pods recorded at queue depth 6 each (18 waiting)
replay on 6 ready replicas as 3 each. This is a replay, not a queueing model: the
recorded total does not shrink because the replay added capacity (the simulator in
``simulations/`` models that).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from autoscaler.core import Decision, Memory, MetricObservation, Observation, PodState, decide
from autoscaler.core.decide import record_scale
from autoscaler.recording.reader import READY, REPLICAS, Recording, Series
from autoscaler.spec import GPU_UTILIZATION_KEY, GPUScalerSpec


@dataclass(frozen=True)
class Tick:
    """One evaluation: when, what the core saw, and what it decided."""

    timestamp: float
    observation: Observation
    decision: Decision


def ticks(spec: GPUScalerSpec, recording: Recording) -> Iterator[float]:
    step = spec.polling_interval_seconds
    t = recording.start
    while t <= recording.end + 1e-9:
        yield t
        t += step


def replay(spec: GPUScalerSpec, recording: Recording) -> Iterator[Tick]:
    """Yield one :class:`Tick` per polling interval; the clock is the recording's."""
    if recording.open_loop:
        yield from _open_loop(spec, recording)
    else:
        yield from _closed_loop(spec, recording)


class _Samples:
    """Per-tick lookups into a recording's series, with the staleness rule.

    Every series is resolved against the tick times once, up front, with numpy's
    ``searchsorted``: a week at 15 s is 40,320 ticks, and a lookup per series per tick
    in Python would cost more than the decisions themselves.
    """

    def __init__(self, spec: GPUScalerSpec, recording: Recording, times: list[float]):
        self.max_age = 2.0 * spec.polling_interval_seconds
        grid = np.asarray(times, dtype=float)
        self.per_pod: dict[str, list[tuple[str, list[float]]]] = {
            m.key: [(s.pod, self._resolve(s, grid)) for s in recording.of(m.key)] for m in spec.metrics if m.per_pod}
        # Per metric: pod names and, per tick, the row of values and whether it is
        # complete, so that a tick builds its sample dict with one dict(zip(...)).
        self.rows: dict[str, tuple[tuple[str, ...], list[list[float]], list[bool]]] = {}
        for key, group in self.per_pod.items():
            names = tuple(pod for pod, _ in group)
            table = np.array([col for _, col in group], dtype=float).reshape(len(group), len(times)).T
            self.rows[key] = (names, table.tolist(), (~np.isnan(table)).all(axis=1).tolist())
        self.wide: dict[str, list[float] | None] = {}
        for m in spec.metrics:
            if not m.per_pod:
                series = recording.of(m.key)
                self.wide[m.key] = self._resolve(series[0], grid) if series else None
        seen: dict[str, np.ndarray] = {}
        for group in self.per_pod.values():
            for pod, col in group:
                ok = ~np.isnan(np.asarray(col))
                seen[pod] = seen[pod] | ok if pod in seen else ok
        self.ready: dict[str, list[float]] = {}
        for s in recording.of(READY):
            col = self._resolve(s, grid, max_age=float("inf"))
            self.ready[s.pod] = col
            fresh = ~np.isnan(np.asarray(self._resolve(s, grid)))
            seen[s.pod] = seen[s.pod] | fresh if s.pod in seen else fresh
        pods = sorted(seen)
        matrix = np.array([seen[p] for p in pods]) if pods else np.zeros((0, len(times)), dtype=bool)
        ready = np.array([[self.is_ready(p, i) for i in range(len(times))] if p in self.ready
                          else [True] * len(times) for p in pods], dtype=bool).reshape(matrix.shape)
        # The pod list changes rarely: ticks share one tuple until who is there, or who
        # is ready, changes (a tick then only compares two small byte strings).
        state = (matrix.astype(np.uint8) + (matrix & ready).astype(np.uint8)).T
        self.pods_at: list[tuple[str, ...]] = []
        self.ready_at: list[tuple[bool, ...]] = []
        self.pods_changed: list[bool] = []
        previous = None
        for i in range(len(times)):
            key = state[i].tobytes()
            changed = key != previous
            if changed:
                present = np.flatnonzero(matrix[:, i])
                self.pods_at.append(tuple(pods[j] for j in present))
                self.ready_at.append(tuple(bool(ready[j, i]) for j in present))
            else:
                self.pods_at.append(self.pods_at[-1])
                self.ready_at.append(self.ready_at[-1])
            self.pods_changed.append(changed)
            previous = key
        self.first_seen: dict[str, float] = {}
        for s in recording.series:
            if s.pod:
                self.first_seen[s.pod] = min(self.first_seen.get(s.pod, s.times[0]), s.times[0])
        rep = recording.of(REPLICAS)
        self.replicas: list[float] | None = None
        if rep:
            col = self._resolve(rep[0], grid, max_age=float("inf"))
            first = rep[0].values[0]
            self.replicas = [first if v != v else v for v in col]

    def _resolve(self, s: Series, grid: np.ndarray, max_age: float | None = None) -> list[float]:
        """The series' value at each tick (its latest sample at or before it), NaN when
        there is none younger than ``max_age``. A recorded NaN stays NaN: missing."""
        limit = self.max_age if max_age is None else max_age
        times = np.asarray(s.times)
        idx = np.searchsorted(times, grid, side="right") - 1
        safe = np.maximum(idx, 0)
        ok = (idx >= 0) & (grid - times[safe] < limit)
        resolved: list[float] = np.where(ok, np.asarray(s.values)[safe], np.nan).tolist()
        return resolved

    def pod_values(self, key: str, i: int) -> dict[str, float]:
        names, rows, complete = self.rows[key]
        if complete[i]:
            return dict(zip(names, rows[i], strict=True))
        return {pod: v for pod, v in zip(names, rows[i], strict=True) if v == v}

    def wide_value(self, key: str, i: int) -> float | None:
        col = self.wide[key]
        if col is None or col[i] != col[i]:
            return None
        return col[i]

    def is_ready(self, pod: str, i: int) -> bool:
        col = self.ready.get(pod)
        return col is None or col[i] != col[i] or col[i] >= 0.5


def _missing(key: str, max_age: float) -> MetricObservation:
    return MetricObservation.failed(f"no sample for {key} in the last {max_age:g} s")


def _metrics_at(spec: GPUScalerSpec, data: _Samples, i: int) -> dict[str, MetricObservation]:
    metrics: dict[str, MetricObservation] = {}
    for m in spec.metrics:
        if m.per_pod:
            values = data.pod_values(m.key, i)
            metrics[m.key] = MetricObservation(per_pod=values) if values else _missing(m.key, data.max_age)
        else:
            v = data.wide_value(m.key, i)
            metrics[m.key] = MetricObservation(value=v) if v is not None else _missing(m.key, data.max_age)
    return metrics


def _open_loop(spec: GPUScalerSpec, recording: Recording) -> Iterator[Tick]:
    times = list(ticks(spec, recording))
    data = _Samples(spec, recording, times)
    assert data.replicas is not None
    memory = Memory()
    previous: int | None = None
    pods: tuple[PodState, ...] = ()
    for i, t in enumerate(times):
        current = int(data.replicas[i])
        if previous is not None and current != previous:
            memory = record_scale(memory, spec, previous, current, t)
        previous = current
        if data.pods_changed[i]:  # PodState is frozen: the same pods are shared between ticks
            pods = tuple(PodState(name=name, ready=ready, start_time=data.first_seen.get(name))
                         for name, ready in zip(data.pods_at[i], data.ready_at[i], strict=True))
        obs = Observation(current_replicas=current, pods=pods, metrics=_metrics_at(spec, data, i))
        decision = decide(spec, obs, memory, t)
        memory = decision.memory_if_not_applied
        yield Tick(t, obs, decision)


def _closed_loop(spec: GPUScalerSpec, recording: Recording) -> Iterator[Tick]:
    times = list(ticks(spec, recording))
    data = _Samples(spec, recording, times)
    memory = Memory()
    first = times[0]
    initial = max(1, len(data.pods_at[0]))
    # The replay's own replicas: (name, created at). Those at the start are ready.
    replicas = [(f"replica-{i}", first - spec.startup_seconds) for i in range(initial)]
    serial = initial
    for i, t in enumerate(times):
        pods = tuple(PodState(name=name, ready=t - created >= spec.startup_seconds, start_time=created)
                     for name, created in replicas)
        ready = [p.name for p in pods if p.ready]
        metrics = _metrics_at(spec, data, i)
        for m in spec.metrics:
            observed = metrics[m.key]
            if m.per_pod and observed.error is None:
                share = sum(observed.per_pod.values()) / max(1, len(ready))
                if m.key == GPU_UTILIZATION_KEY:
                    share = min(100.0, share)
                metrics[m.key] = MetricObservation(per_pod={p: share for p in ready})
        obs = Observation(current_replicas=len(replicas), pods=pods, metrics=metrics)
        decision = decide(spec, obs, memory, t)
        memory = decision.memory
        desired = decision.desired_replicas
        if desired > len(replicas):
            for _ in range(desired - len(replicas)):
                replicas.append((f"replica-{serial}", t))
                serial += 1
        elif desired < len(replicas):
            replicas = replicas[:desired]
        yield Tick(t, obs, decision)


__all__ = ["Tick", "replay", "ticks"]
