"""Recorded metrics (DESIGN.md Contract 3): the dry-run's input.

CSV with header ``timestamp,metric,pod,value``, one sample a row, long form.
``timestamp`` is Unix seconds or RFC 3339; ``metric`` is a scaler metric key
(``queue_depth``, ``gpu_utilization`` in percent, or a Prometheus metric's ``name``) or
one of the reserved keys ``replicas`` (pod empty: the target's replica count) and
``ready`` (per pod, 1 or 0; absent means ready). ``pod`` is empty for target-wide values.

Every problem is reported as ``FILE:LINE: what is wrong`` through :class:`RecordingError`
(the CLI exits 2 with it); a file is read whole before anything is decided.
"""
from __future__ import annotations

import csv
import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from autoscaler.spec import GPUScalerSpec

HEADER = ("timestamp", "metric", "pod", "value")
REPLICAS = "replicas"
READY = "ready"


class RecordingError(ValueError):
    """A recording that cannot be replayed; the message is ``FILE:LINE: what is wrong``."""


@dataclass(frozen=True)
class Series:
    """One (metric, pod) series: sorted timestamps and their values."""

    metric: str
    pod: str
    times: tuple[float, ...]
    values: tuple[float, ...]

    def at(self, t: float, max_age: float) -> float | None:
        """The latest value at or before ``t`` that is younger than ``max_age`` seconds."""
        i = bisect_right(self.times, t) - 1
        if i < 0 or t - self.times[i] >= max_age:
            return None
        return self.values[i]


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


def parse_timestamp(text: str) -> float:
    """Unix seconds (``1732860000.5``) or RFC 3339 (``2026-11-29T06:00:00Z``) to Unix seconds."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError("expected a finite Unix time")
        return value
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError("expected Unix seconds or an RFC 3339 time such as 2026-11-29T06:00:00Z") from None
    if dt.tzinfo is None:
        raise ValueError("an RFC 3339 time needs a zone offset (Z or +HH:MM)")
    return dt.timestamp()


def format_timestamp(t: float) -> str:
    """Unix seconds to RFC 3339 UTC, whole seconds unless there is a fraction."""
    dt = datetime.fromtimestamp(t, tz=timezone.utc)
    if t == int(t):
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def allowed_keys(spec: GPUScalerSpec) -> dict[str, bool]:
    """Metric key -> whether it is per pod, for this scaler (plus the reserved keys)."""
    keys = {m.key: m.per_pod for m in spec.metrics}
    keys[REPLICAS] = False
    keys[READY] = True
    return keys


def load_recording(path: str | Path, spec: GPUScalerSpec) -> Recording:
    """Read and check a Contract 3 CSV against the scaler it will be replayed with."""
    source = str(path)
    keys = allowed_keys(spec)
    try:
        handle = open(path, newline="")
    except OSError as e:
        raise RecordingError(f"{source}: cannot read: {e.strerror or e}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as e:
            raise RecordingError(f"{source}:1: not a CSV file: {e}") from None
        if header is None:
            raise RecordingError(f"{source}:1: empty file; expected the header {','.join(HEADER)}")
        if tuple(h.strip() for h in header) != HEADER:
            raise RecordingError(f"{source}:1: expected the header {','.join(HEADER)}, got {','.join(header)!r}")
        data: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        last_t = -math.inf
        seen_at_last: set[tuple[str, str]] = set()
        line = 1
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != 4:
                    raise RecordingError(f"{source}:{line}: expected 4 fields (timestamp,metric,pod,value), "
                                         f"got {len(row)}")
                ts_text, metric, pod, value_text = (c.strip() for c in row)
                try:
                    t = parse_timestamp(ts_text)
                except ValueError as e:
                    raise RecordingError(f"{source}:{line}: timestamp: {e}, got {ts_text!r}") from None
                if metric not in keys:
                    expected = ", ".join(sorted(keys))
                    raise RecordingError(f"{source}:{line}: metric: unknown metric key {metric!r} "
                                         f"(expected one of: {expected})")
                per_pod = keys[metric]
                if per_pod and not pod:
                    raise RecordingError(f"{source}:{line}: pod: {metric} is per pod; expected a pod name")
                if not per_pod and pod:
                    raise RecordingError(f"{source}:{line}: pod: {metric} is target-wide; expected it empty, "
                                         f"got {pod!r}")
                try:
                    value = float(value_text)
                except ValueError:
                    raise RecordingError(f"{source}:{line}: value: expected a number, got {value_text!r}") from None
                if metric == REPLICAS and (not math.isfinite(value) or value < 0 or value != int(value)):
                    raise RecordingError(f"{source}:{line}: value: replicas must be a whole number >= 0, "
                                         f"got {value_text!r}")
                if metric == READY and value not in (0.0, 1.0):
                    raise RecordingError(f"{source}:{line}: value: ready must be 1 or 0, got {value_text!r}")
                if t < last_t:
                    raise RecordingError(f"{source}:{line}: timestamp: rows must be sorted by time; "
                                         f"{ts_text} comes after {format_timestamp(last_t)}")
                if t > last_t:
                    last_t = t
                    seen_at_last = set()
                key = (metric, pod)
                if key in seen_at_last:
                    raise RecordingError(f"{source}:{line}: duplicate sample for metric {metric!r}"
                                         f"{' pod ' + repr(pod) if pod else ''} at {ts_text}")
                seen_at_last.add(key)
                times, values = data.setdefault(key, ([], []))
                times.append(t)
                values.append(value)
        except csv.Error as e:
            raise RecordingError(f"{source}:{line}: malformed CSV: {e}") from None
        except UnicodeDecodeError:
            raise RecordingError(f"{source}:{line}: not UTF-8 text") from None
    if not data:
        raise RecordingError(f"{source}:2: no samples after the header")
    series = tuple(Series(m, p, tuple(ts), tuple(vs)) for (m, p), (ts, vs) in sorted(data.items()))
    start = min(s.times[0] for s in series)
    end = max(s.times[-1] for s in series)
    return Recording(source=source, start=start, end=end, series=series)

