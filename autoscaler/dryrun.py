"""The dry-run: replay a recording (Contract 3) through the unchanged decision core.

Evaluation ticks fall every ``pollingIntervalSeconds`` from the first sample to the
last. At each tick a metric's reading for a pod is its latest sample at or before the
tick, and the one observe step the controller uses (:mod:`autoscaler.core.observe`)
turns the readings into the observation: a sample two polling intervals old, NaN or
negative is missing.

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
from autoscaler.core.observe import Reading, Sample, is_fresh, max_age_of, observe
from autoscaler.recording.reader import READY, REPLICAS, Recording, Series
from autoscaler.spec import GPUScalerSpec


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
    """Per-tick readings from a recording's series.

    Every series is resolved against the tick times once, up front, with numpy's
    ``searchsorted`` (its latest sample at or before each tick, and that sample's time):
    a week at 15 s is 40,320 ticks, and a search per series per tick in Python would
    cost more than the decisions themselves. Which pods exist at a tick (those with a
    fresh sample) uses the observe step's own staleness rule, elementwise.
    """

    def __init__(self, spec: GPUScalerSpec, recording: Recording, times: list[float]):
        self.max_age = max_age_of(spec)
        grid = np.asarray(times, dtype=float)
        # Per per-pod metric: pod names, per tick the rows of values and of sample times,
        # and whether every pod has a sample by then (a tick then zips the rows as they are).
        self.rows: dict[str, tuple[tuple[str, ...], list[list[float]], list[list[float]], list[bool]]] = {}
        seen: dict[str, np.ndarray] = {}
        for m in spec.metrics:
            if not m.per_pod:
                continue
            group = recording.of(m.key)
            names = tuple(s.pod for s in group)
            resolved = [self._resolve(s, grid) for s in group]
            values = np.array([v for v, _ in resolved], dtype=float).reshape(len(group), len(times))
            stamps = np.array([t for _, t in resolved], dtype=float).reshape(len(group), len(times))
            self.rows[m.key] = (names, values.T.tolist(), stamps.T.tolist(),
                                (~np.isnan(stamps)).all(axis=0).tolist())
            for pod, (v, t) in zip(names, resolved, strict=True):
                ok = self._fresh(grid, v, t)
                seen[pod] = seen[pod] | ok if pod in seen else ok
        self.wide: dict[str, tuple[list[float], list[float]] | None] = {}
        for m in spec.metrics:
            if not m.per_pod:
                series = recording.of(m.key)
                if series:
                    v, t = self._resolve(series[0], grid)
                    self.wide[m.key] = (v.tolist(), t.tolist())
                else:
                    self.wide[m.key] = None
        self.ready: dict[str, list[float]] = {}
        for s in recording.of(READY):
            v, t = self._resolve(s, grid)
            self.ready[s.pod] = v.tolist()
            fresh = self._fresh(grid, v, t)
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
            col = self._resolve(rep[0], grid)[0].tolist()
            first = rep[0].values[0]
            self.replicas = [first if v != v else v for v in col]

    @staticmethod
    def _resolve(s: Series, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The series' latest sample at or before each tick: its value and its time,
        both NaN before the first sample. A recorded NaN stays NaN."""
        times = np.asarray(s.times, dtype=float)
        idx = np.searchsorted(times, grid, side="right") - 1
        safe = np.maximum(idx, 0)
        before = idx >= 0
        return (np.where(before, np.asarray(s.values, dtype=float)[safe], np.nan),
                np.where(before, times[safe], np.nan))

    def _fresh(self, grid: np.ndarray, values: np.ndarray, stamps: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            fresh: np.ndarray = ~np.isnan(values) & is_fresh(grid - stamps, self.max_age)
        return fresh

    def reading(self, key: str, i: int) -> Reading:
        names_rows = self.rows.get(key)
        if names_rows is not None:
            names, values, stamps, complete = names_rows
            if complete[i]:
                return Reading(per_pod=dict(zip(names, zip(values[i], stamps[i], strict=True), strict=True)))
            return Reading(per_pod={pod: (v, t) for pod, v, t in zip(names, values[i], stamps[i], strict=True)
                                    if t == t})
        wide = self.wide.get(key)
        if wide is None or wide[1][i] != wide[1][i]:
            return Reading()
        return Reading(value=Sample(wide[0][i], wide[1][i]))

    def is_ready(self, pod: str, i: int) -> bool:
        col = self.ready.get(pod)
        return col is None or col[i] != col[i] or col[i] >= 0.5


def _observe_at(spec: GPUScalerSpec, data: _Samples, i: int, t: float, current: int,
                pods: tuple[PodState, ...]) -> Observation:
    """The one observe step at tick ``i``, against the recording's pods at that tick."""
    return observe(spec, {m.key: data.reading(m.key, i) for m in spec.metrics}, current_replicas=current,
                   pods=pods, now=t)


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
        obs = _observe_at(spec, data, i, t, current, pods)
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
        recorded = tuple(PodState(name=name) for name in data.pods_at[i])
        metrics = dict(_observe_at(spec, data, i, t, len(replicas), recorded).metrics)
        for m in spec.metrics:
            observed = metrics[m.key]
            if m.per_pod and observed.error is None:
                share = sum(observed.per_pod.values()) / max(1, len(ready))
                ceiling = m.definition.ceiling
                if ceiling is not None:
                    share = min(ceiling, share)
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
