"""Recorded metrics (DESIGN.md Contract 3): the dry-run's input.

CSV with header ``timestamp,metric,pod,value``, one sample a row, long form.
``timestamp`` is Unix seconds or RFC 3339 (read by :mod:`autoscaler.times`: a time
without a zone is UTC, and times after year 9999 are refused); ``metric`` is a scaler metric key
(``queue_depth``, ``gpu_utilization`` in percent, or a Prometheus metric's ``name``) or
one of the reserved keys ``replicas`` (pod empty: the target's replica count) and
``ready`` (per pod, 1 or 0; absent means ready). ``pod`` is empty for target-wide values.

Every problem is reported as ``FILE:LINE: what is wrong`` through :class:`RecordingError`
(the CLI exits 2 with it); a file is read whole before anything is decided.
"""
from __future__ import annotations

import csv
import gc
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoscaler.spec import GPUScalerSpec
from autoscaler.times import MAX_UNIX_SECONDS, format_time, parse_time

HEADER = ("timestamp", "metric", "pod", "value")
REPLICAS = "replicas"
READY = "ready"


#: The most evaluation ticks a recording may span (one every pollingIntervalSeconds,
#: first sample to last): 500,000 is 86 days at 15 s, a week at ~1.2 s. The dry-run's
#: memory grows with ticks, not rows, so one row dated 9999 or a three-year gap would
#: otherwise exhaust memory; such a file is refused before anything is allocated.
MAX_TICKS = 500_000


class RecordingError(ValueError):
    """A recording that cannot be replayed; the message is ``FILE:LINE: what is wrong``."""


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


def allowed_keys(spec: GPUScalerSpec) -> dict[str, bool]:
    """Metric key -> whether it is per pod, for this scaler (plus the reserved keys)."""
    keys = {m.key: m.per_pod for m in spec.metrics}
    keys[REPLICAS] = False
    keys[READY] = True
    return keys


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
