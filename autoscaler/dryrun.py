"""The dry-run: replay a recording (Contract 3) through the unchanged decision core.

Evaluation ticks fall every ``pollingIntervalSeconds`` from the first sample to the
last. At each tick a metric's reading for a pod is its latest sample at or before the
tick, and the one observe step the controller uses (:mod:`autoscaler.core.observe`)
turns the readings into the observation: a sample two polling intervals old, NaN or
negative is missing. (A tick at which every pod has a usable sample of every metric,
most ticks of a healthy recording, is observed directly, by the same rule checked for a
block of ticks at once: see :func:`_observe_at`.)

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

The rows stream in blocks (:meth:`Recording.samples`), and ticks are resolved a block at
a time, each series' latest sample carried from one block to the next: what the replay
holds grows with the pods, the metrics and the stabilization window, not with the file.
A 4-million-row recording (100 pods, 3.5 days at 15 s) replays in ~145 MB.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from autoscaler.core import Decision, Memory, MetricObservation, Observation, PodState, decide
from autoscaler.core.decide import record_scale
from autoscaler.core.observe import Reading, Sample, is_fresh, is_usable, max_age_of, observe
from autoscaler.core.window import EMPTY, smooth, windowed
from autoscaler.recording.reader import READY, REPLICAS, Recording
from autoscaler.spec import GPUScalerSpec


class Tick(NamedTuple):
    """One evaluation: when, what the core saw, and what it decided (a named tuple:
    immutable as a frozen dataclass, and built every tick at less cost)."""

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


class _Layout:
    """Which series hold what, fixed for the whole replay (it grows with the pods).

    ``pods`` are the pods with a per-pod series (a scaler metric or ``ready``);
    ``first_seen`` the time of each pod's first sample, its start time in open loop."""

    def __init__(self, spec: GPUScalerSpec, recording: Recording):
        self.max_age = max_age_of(spec)
        series = recording.series
        self.per_pod: dict[str, tuple[tuple[str, ...], list[int]]] = {}
        self.wide: dict[str, int | None] = {}
        present: set[str] = set()
        for m in spec.metrics:
            # By pod name, as the pods of a tick are (so that they usually are the same tuple)
            group = sorted(recording.of(m.key), key=lambda i: series[i].pod)
            if m.per_pod:
                self.per_pod[m.key] = (tuple(series[i].pod for i in group), group)
                present.update(series[i].pod for i in group)
            else:
                self.wide[m.key] = group[0] if group else None
        self.ready = {series[i].pod: i for i in recording.of(READY)}
        present.update(self.ready)
        self.pods = sorted(present)
        self.first_seen: dict[str, float] = {}
        for s in series:
            if s.pod:
                self.first_seen[s.pod] = min(self.first_seen.get(s.pod, s.first_time), s.first_time)
        rep = recording.of(REPLICAS)
        self.replicas = rep[0] if rep else None
        self.first_replicas = series[rep[0]].first_value if rep else math.nan


class _Samples:
    """Per-tick readings for one block of ticks, from each series' latest sample at or
    before each tick (resolved for the whole block at once by :func:`_blocks`: a search
    per series per tick in Python would cost more than the decisions themselves).

    Which pods exist at a tick (those with a fresh sample) uses the observe step's own
    staleness rule, elementwise. ``previous`` is the last tick's pod state of the block
    before, so that ticks share one pod tuple across blocks too.
    """

    def __init__(
        self, layout: _Layout, times: list[float], values: np.ndarray, stamps: np.ndarray, previous: bytes | None
    ):
        self.times = times
        n = len(times)
        grid = np.asarray(times, dtype=float)
        # Per per-pod metric: pod names and per tick the row of values (the sample times
        # are kept below, as the ticks that need them want them).
        self.rows: dict[str, tuple[tuple[str, ...], list[list[float]]]] = {}
        times_of: dict[str, np.ndarray] = {}
        seen: dict[str, np.ndarray] = {}
        usable: dict[str, np.ndarray] = {}  # per metric, whether each sample is usable
        for key, (names, group) in layout.per_pod.items():
            v, t = values[group], stamps[group]
            self.rows[key] = (names, v.T.tolist())
            times_of[key] = t
            with np.errstate(invalid="ignore"):
                usable[key] = is_usable(v, grid - t, layout.max_age)
            for pod, ok in zip(names, self._fresh(layout, grid, v, t), strict=True):
                seen[pod] = seen[pod] | ok if pod in seen else ok
        self.wide: dict[str, tuple[list[float], list[float]] | None] = {}
        for key, i in layout.wide.items():
            self.wide[key] = None if i is None else (values[i].tolist(), stamps[i].tolist())
        ready_of: dict[str, np.ndarray] = {}
        for pod, i in layout.ready.items():
            ready_of[pod] = np.isnan(values[i]) | (values[i] >= 0.5)  # absent or NaN: ready
            fresh = self._fresh(layout, grid, values[i], stamps[i])
            seen[pod] = seen[pod] | fresh if pod in seen else fresh
        pods = layout.pods
        matrix = np.array([seen[p] for p in pods]) if pods else np.zeros((0, n), dtype=bool)
        # The ticks at which every pod there has a usable sample of every metric (only
        # per-pod metrics: a target-wide one always goes through observe).
        direct = np.full(n, not layout.wide)
        row_of = {pod: j for j, pod in enumerate(pods)}
        for key, (names, _) in layout.per_pod.items():
            ok = np.zeros(matrix.shape, dtype=bool)
            ok[[row_of[pod] for pod in names]] = usable[key]
            direct &= (ok | ~matrix).all(axis=0)
        ready = np.array([ready_of[p] if p in ready_of else np.ones(n, dtype=bool) for p in pods], dtype=bool).reshape(
            matrix.shape
        )
        # The pod list changes rarely: ticks share one tuple until who is there, or who
        # is ready, changes (found for the whole block at once; the first tick compares
        # with the last of the block before, as a small byte string).
        state = (matrix.astype(np.uint8) + (matrix & ready).astype(np.uint8)).T
        changed = np.zeros(n, dtype=bool)
        changed[1:] = (state[1:] != state[:-1]).any(axis=1)
        changed[0] = state[0].tobytes() != previous
        self.pods_changed: list[bool] = changed.tolist()
        self.pods_at: list[tuple[str, ...]] = []
        self.ready_at: list[tuple[bool, ...]] = []
        # Whether a tick's observation is its samples as they are (see _observe_at), and
        # per metric which of its pods' samples those are (None: all, in the same order).
        self.all_usable: list[bool] = direct.tolist()
        # The ticks that go through observe need their samples' times: with a few, each
        # takes its own column of the array; with many, the rows are made once for all,
        # with whether every pod has a sample by then (a Reading then zips the rows).
        self.stamps: dict[str, np.ndarray] = {}
        self.stamp_rows: dict[str, tuple[list[list[float]], list[bool]]] = {}
        if (n - int(direct.sum())) * 4 < n:
            self.stamps = times_of
        else:
            self.stamp_rows = {key: (t.T.tolist(), (~np.isnan(t)).all(axis=0).tolist()) for key, t in times_of.items()}
        self.columns_at: list[dict[str, list[int] | None]] = []
        cuts = (np.flatnonzero(changed[1:]) + 1).tolist()  # each run of ticks with the same pods shares them
        for start, stop in zip([0, *cuts], [*cuts, n], strict=True):
            present = np.flatnonzero(matrix[:, start])
            there = tuple(pods[j] for j in present)
            run = stop - start
            self.pods_at += [there] * run
            self.ready_at += [tuple(bool(ready[j, start]) for j in present)] * run
            self.columns_at += [{key: _columns(names, there) for key, (names, _) in layout.per_pod.items()}] * run
        self.last_state = state[n - 1].tobytes()
        self.first_seen = layout.first_seen
        self.replicas: list[float] | None = None
        if layout.replicas is not None:
            first = layout.first_replicas
            self.replicas = [first if v != v else v for v in values[layout.replicas].tolist()]

    @staticmethod
    def _fresh(layout: _Layout, grid: np.ndarray, values: np.ndarray, stamps: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            fresh: np.ndarray = ~np.isnan(values) & is_fresh(grid - stamps, layout.max_age)
        return fresh

    def observed_at(self, i: int) -> dict[str, MetricObservation]:
        """Every metric at tick ``i``, where each pod there has a usable sample of each
        (``all_usable``): the samples as they are, by pod in the pods' order."""
        columns, pods = self.columns_at[i], self.pods_at[i]
        metrics = {}
        for key, (names, values) in self.rows.items():
            picks, row = columns[key], values[i]
            if picks is None:
                metrics[key] = MetricObservation.sampled(dict(zip(names, row, strict=True)))
            else:
                metrics[key] = MetricObservation.sampled(dict(zip(pods, [row[c] for c in picks], strict=True)))
        return metrics

    def reading(self, key: str, i: int) -> Reading:
        names_rows = self.rows.get(key)
        if names_rows is not None:
            names, values = names_rows
            if key in self.stamps:  # a few such ticks in the block: this one's column
                stamps_i: list[float] = self.stamps[key][:, i].tolist()
                complete_i = not any(t != t for t in stamps_i)
            else:
                stamps, complete = self.stamp_rows[key]
                stamps_i, complete_i = stamps[i], complete[i]
            if complete_i:  # zip the rows as they are
                return Reading(per_pod=dict(zip(names, zip(values[i], stamps_i, strict=True), strict=True)))
            return Reading(
                per_pod={pod: (v, t) for pod, v, t in zip(names, values[i], stamps_i, strict=True) if t == t}
            )
        wide = self.wide.get(key)
        if wide is None or wide[1][i] != wide[1][i]:
            return Reading()
        return Reading(value=Sample(wide[0][i], wide[1][i]))


def _columns(names: tuple[str, ...], pods: tuple[str, ...]) -> list[int] | None:
    """Where each of ``pods`` is among a metric's ``names`` (both by name); None when they
    are the same pods, and [] when one of the pods has no series of the metric (its
    ticks then never take the direct path)."""
    if names == pods:
        return None
    where = {name: c for c, name in enumerate(names)}
    return [where[pod] for pod in pods] if all(pod in where for pod in pods) else []


#: The most ticks resolved at once: the resolved arrays are (series x ticks), so sparse
#: rows (one sample a day, 5,760 ticks apart) must not make a block of the whole span.
TICKS_PER_BLOCK = 4096


def _blocks(spec: GPUScalerSpec, recording: Recording) -> Iterator[_Samples]:
    """The ticks in blocks, as the rows stream in: a tick is resolved once a row later
    than it has been read (rows are in time order, so no later row can change it), and
    each series' latest sample so far is carried from block to block. What is held is
    one block of rows and at most :data:`TICKS_PER_BLOCK` ticks, plus a sample per series."""
    layout = _Layout(spec, recording)
    n = len(recording.series)
    carry_t, carry_v = np.full(n, np.nan), np.full(n, np.nan)
    rows_t, rows_s, rows_v = np.empty(0), np.empty(0, dtype=np.intp), np.empty(0)
    grid = ticks(spec, recording)
    pending = next(grid, None)
    previous: bytes | None = None
    blocks = recording.samples()
    while pending is not None:
        block = next(blocks, None)
        if block is not None:
            rows_t = np.concatenate([rows_t, block.times])
            rows_s = np.concatenate([rows_s, block.series])
            rows_v = np.concatenate([rows_v, block.values])
        while pending is not None and (block is None or (rows_t.size and pending < rows_t[-1])):
            times: list[float] = []
            while pending is not None and len(times) < TICKS_PER_BLOCK and (block is None or pending < rows_t[-1]):
                times.append(pending)
                pending = next(grid, None)
            values, stamps = _resolve(rows_t, rows_s, rows_v, n, np.asarray(times), carry_t, carry_v)
            used = int(np.searchsorted(rows_t, times[-1], side="right"))
            carry_t, carry_v = stamps[:, -1].copy(), values[:, -1].copy()
            rows_t, rows_s, rows_v = rows_t[used:], rows_s[used:], rows_v[used:]
            samples = _Samples(layout, times, values, stamps, previous)
            previous = samples.last_state
            yield samples
    blocks.close()  # rows after the last tick (at the very end) are not needed


def _resolve(
    rows_t: np.ndarray,
    rows_s: np.ndarray,
    rows_v: np.ndarray,
    n: int,
    grid: np.ndarray,
    carry_t: np.ndarray,
    carry_v: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each series' latest sample at or before each tick of ``grid``: its value and its
    time, ``(series, tick)`` arrays, from the rows (in time order) or else the carried
    sample; NaN before a series' first sample. A recorded NaN stays NaN.

    The rows at or before tick ``g`` are the first ``cut[g]`` rows; within one series'
    rows (sorted by series, stably) the latest of those is found with one
    ``searchsorted`` over (series, row) keys for every series and tick at once."""
    cut = np.searchsorted(rows_t, grid, side="right")
    order = np.argsort(rows_s, kind="stable")
    width = rows_t.size + 1
    keys = rows_s[order] * width + order
    ask = np.arange(n)[:, None] * width + cut[None, :]
    pos = np.searchsorted(keys, ask, side="left") - 1
    safe = np.maximum(pos, 0)
    found = (pos >= 0) & (rows_s[order][safe] == np.arange(n)[:, None]) if keys.size else np.zeros(ask.shape, bool)
    row = order[safe] if keys.size else safe
    values = np.where(found, rows_v[row] if keys.size else np.nan, carry_v[:, None])
    stamps = np.where(found, rows_t[row] if keys.size else np.nan, carry_t[:, None])
    return values, stamps


def _observe_at(
    spec: GPUScalerSpec, data: _Samples, i: int, t: float, current: int, pods: tuple[PodState, ...]
) -> Observation:
    """The one observe step at tick ``i``, against the recording's pods at that tick.

    At a tick where every pod has a usable sample of every metric (checked for the whole
    block with :func:`is_usable`, the rule :func:`observe_per_pod` applies to each), the
    step keeps every sample as it is: the observation is built from them directly, the
    same one as ``observe`` would return, without a Reading per metric first (most ticks
    of a healthy recording: the Readings and the observe step were a quarter of a week's
    replay in ``python -m benchmarks.dryrun``)."""
    if data.all_usable[i]:
        return Observation.of(current, pods, data.observed_at(i))
    return observe(
        spec, {m.key: data.reading(m.key, i) for m in spec.metrics}, current_replicas=current, pods=pods, now=t
    )


def _open_loop(spec: GPUScalerSpec, recording: Recording) -> Iterator[Tick]:
    memory = Memory()
    window = EMPTY if windowed(spec) else None  # the metrics' averaging windows, as the controller's
    previous: int | None = None
    pods: tuple[PodState, ...] = ()
    for data in _blocks(spec, recording):
        assert data.replicas is not None
        counts, pods_changed = data.replicas, data.pods_changed
        for i, t in enumerate(data.times):
            current = int(counts[i])
            if previous is not None and current != previous:
                memory = record_scale(memory, spec, previous, current, t)
            previous = current
            if pods_changed[i]:  # PodState is frozen: the same pods are shared between ticks
                pods = tuple(
                    PodState(name=name, ready=ready, start_time=data.first_seen.get(name))
                    for name, ready in zip(data.pods_at[i], data.ready_at[i], strict=True)
                )
            obs = _observe_at(spec, data, i, t, current, pods)
            if window is not None:
                obs, window = smooth(spec, obs, window, t)
            decision = decide(spec, obs, memory, t)
            memory = decision.memory_if_not_applied
            yield Tick(t, obs, decision)


def _closed_loop(spec: GPUScalerSpec, recording: Recording) -> Iterator[Tick]:
    memory = Memory()
    window = EMPTY if windowed(spec) else None  # the recorded load's averaging windows
    replicas: list[tuple[str, float]] = []  # the replay's own replicas: (name, created at)
    serial = 0
    for data in _blocks(spec, recording):
        if not serial:  # those at the start are ready
            serial = max(1, len(data.pods_at[0]))
            replicas = [(f"replica-{i}", data.times[0] - spec.startup_seconds) for i in range(serial)]
        for i, t in enumerate(data.times):
            pods = tuple(
                PodState(name=name, ready=t - created >= spec.startup_seconds, start_time=created)
                for name, created in replicas
            )
            ready = [p.name for p in pods if p.ready]
            recorded = tuple(PodState(name=name) for name in data.pods_at[i])
            seen = _observe_at(spec, data, i, t, len(replicas), recorded)
            if window is not None:
                seen, window = smooth(spec, seen, window, t)
            metrics = dict(seen.metrics)
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
