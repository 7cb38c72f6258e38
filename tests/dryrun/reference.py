"""The dry-run as it was before it streamed (commit 34f0ec3): the whole file read and
split at once, every series resolved against every tick up front. Kept as the oracle
that :mod:`tests.dryrun.test_streaming` compares the streaming replay with, tick by tick.
"""
# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import csv
import gc
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoscaler.core import Memory, MetricObservation, Observation, PodState, decide
from autoscaler.core.decide import record_scale
from autoscaler.core.observe import Reading, Sample, is_fresh, max_age_of, observe
from autoscaler.dryrun import Tick
from autoscaler.recording.reader import HEADER, MAX_TICKS, READY, REPLICAS, RecordingError, allowed_keys
from autoscaler.spec import GPUScalerSpec
from autoscaler.times import MAX_UNIX_SECONDS, format_time, parse_time


@dataclass(frozen=True)
class Series:
    """One (metric, pod) series: sorted timestamps and their values."""

    metric: str
    pod: str
    times: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Recording:
    source: str
    start: float
    end: float
    series: tuple[Series, ...]

    @property
    def open_loop(self) -> bool:
        """With ``replicas`` rows the replay recommends against what really ran."""
        return any(s.metric == REPLICAS for s in self.series)

    def of(self, metric: str) -> tuple[Series, ...]:
        return tuple(s for s in self.series if s.metric == metric)


def load_recording(path: str | Path, spec: GPUScalerSpec) -> Recording:
    """Read and check a Contract 3 CSV against the scaler it will be replayed with.

    The rows are split, then checked column by column with numpy:
    a week of 8 pods at 15 s is 685,440 rows, and checking them one by one in Python
    cost more than replaying them. Each check reports the first offending line.
    """
    source = str(path)
    keys = allowed_keys(spec)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise RecordingError(f"{source}: cannot read: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise RecordingError(f"{source}:{line}: not UTF-8 text") from None
    with _collector_paused():
        return _parse(text, source, keys, spec.polling_interval_seconds)


def _parse(text: str, source: str, keys: dict[str, bool], polling_seconds: int) -> Recording:
    rows, lines = _rows(text, source)
    if not rows:
        raise RecordingError(f"{source}:2: no samples after the header")

    def fail(i: int, message: str) -> RecordingError:
        return RecordingError(f"{source}:{lines[i]}: {message}")

    for i, row in enumerate(rows):
        if len(row) != 4:
            raise fail(i, f"expected 4 fields (timestamp,metric,pod,value), got {len(row)}")
    ts_text, metrics, pods, value_text = ([row[k] for row in rows] for k in range(4))
    times = _column(ts_text, parse_time, fail, "timestamp")
    values = _column(value_text, float, fail, "value")

    known = set(keys)
    for i, metric in enumerate(metrics):
        if metric not in known:
            metric = metric.strip()
            if metric not in known:
                expected = ", ".join(sorted(keys))
                raise fail(i, f"metric: unknown metric key {metric!r} (expected one of: {expected})")
            metrics[i] = metric
    groups: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(zip(metrics, pods, strict=True)):
        group = groups.get(key)
        if group is None:
            group = groups[key] = []
        group.append(i)
    for (metric, pod), first_rows in groups.items():
        if pod != pod.strip():
            raise fail(first_rows[0], f"pod: unexpected spaces around {pod!r}")
        if keys[metric] and not pod:
            raise fail(first_rows[0], f"pod: {metric} is per pod; expected a pod name")
        if not keys[metric] and pod:
            raise fail(first_rows[0], f"pod: {metric} is target-wide; expected it empty, got {pod!r}")

    back = np.flatnonzero(np.diff(times) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise fail(i, f"timestamp: rows must be sorted by time; {ts_text[i].strip()} comes after "
                      f"{format_time(float(times[i - 1]))}")
    _check_span(times, polling_seconds, fail)
    series = []
    for (metric, pod), rows_of_series in sorted(groups.items()):
        idx = np.asarray(rows_of_series)
        t, v = times[idx], values[idx]
        dup = np.flatnonzero(np.diff(t) == 0)
        if dup.size:
            i = int(idx[dup[0] + 1])
            raise fail(i, f"duplicate sample for metric {metric!r}{' pod ' + repr(pod) if pod else ''} "
                          f"at {ts_text[i].strip()}")
        if metric == REPLICAS:
            bad = np.flatnonzero(~np.isfinite(v) | (v < 0) | (v != np.round(v)))
            if bad.size:
                i = int(idx[bad[0]])
                raise fail(i, f"value: replicas must be a whole number >= 0, got {value_text[i].strip()!r}")
        if metric == READY:
            bad = np.flatnonzero((v != 0) & (v != 1))
            if bad.size:
                i = int(idx[bad[0]])
                raise fail(i, f"value: ready must be 1 or 0, got {value_text[i].strip()!r}")
        series.append(Series(metric, pod, tuple(t.tolist()), tuple(v.tolist())))
    return Recording(source=source, start=float(times.min()), end=float(times.max()), series=tuple(series))


def _check_span(times: np.ndarray, polling_seconds: int, fail: Callable[[int, str], RecordingError]) -> None:
    """Refuse a recording whose ticks (first to last sample, one per polling interval)
    exceed :data:`MAX_TICKS`, naming the largest gap: 2 rows three years apart at 15 s
    would be 6.3 million ticks."""
    ticks = (float(times[-1]) - float(times[0])) // polling_seconds + 1
    if ticks <= MAX_TICKS:
        return
    gaps = np.diff(times)
    i = int(np.argmax(gaps)) + 1 if gaps.size else 0
    raise fail(i, f"timestamp: the recording spans {format_time(float(times[0]))} .. {format_time(float(times[-1]))}, "
                  f"{ticks:,.0f} ticks at pollingIntervalSeconds {polling_seconds}; the dry-run replays at most "
                  f"{MAX_TICKS:,}. The largest gap ({gaps[i - 1] if gaps.size else 0:,.0f} s) ends on this line")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the rows are split.

    685,440 small lists, all alive at once, make every generation-0 pass promote and
    every full pass walk them all: splitting took 2.1 s with the collector on and 0.2 s
    with it paused. Nothing here forms cycles, so nothing is missed.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _rows(text: str, source: str) -> tuple[list[list[str]], list[int]]:
    """The data rows and their line numbers in the file, header checked and blank lines
    skipped. Files without quotes (all we write) are split directly, three times faster
    than the csv module on 685,440 rows; any quote sends the file through csv."""
    if '"' not in text:
        all_lines = text.splitlines()
        parsed = [[]] if not all_lines else [line.split(",") for line in all_lines]
        numbered = list(range(1, len(parsed) + 1))
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
        parsed, numbered = [], []
        try:
            for row in reader:
                parsed.append(row)
                numbered.append(reader.line_num)
        except csv.Error as e:
            raise RecordingError(f"{source}:{reader.line_num}: malformed CSV: {e}") from None
    if not parsed or not any(c.strip() for c in parsed[0]):
        raise RecordingError(f"{source}:1: empty file; expected the header {','.join(HEADER)}")
    header = parsed[0]
    if tuple(h.strip() for h in header) != HEADER:
        raise RecordingError(f"{source}:1: expected the header {','.join(HEADER)}, got {','.join(header)!r}")
    rows, lines = [], []
    for row, line in zip(parsed[1:], numbered[1:], strict=True):
        if len(row) == 4 or any(c.strip() for c in row):
            rows.append(row)
            lines.append(line)
    return rows, lines


def _column(texts: list[str], parse: Callable[[str], float], fail: Callable[[int, str], RecordingError],
            field: str) -> np.ndarray:
    """A column of numbers: numpy parses plain numbers at once; anything else (RFC 3339
    times) is parsed one by one, and the first bad cell is reported."""
    try:
        out = np.array(texts, dtype=float)
        if field == "timestamp" and not ((out >= 0) & (out <= MAX_UNIX_SECONDS)).all():
            raise ValueError  # NaN, inf, milliseconds, year 10000: parse_time says which line and why
        return out
    except ValueError:
        pass
    out = np.empty(len(texts))
    for i, text in enumerate(texts):
        try:
            out[i] = parse(text)
        except ValueError as e:
            if field == "timestamp":
                raise fail(i, f"timestamp: {e}") from None
            raise fail(i, f"value: expected a number, got {_cut(text)}") from None
    return out


def _cut(text: str) -> str:
    t = text.strip()
    return repr(t) if len(t) <= 40 else repr(t[:37] + "...") + f" ({len(t)} characters)"


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


