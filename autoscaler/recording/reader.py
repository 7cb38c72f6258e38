"""Recorded metrics (DESIGN.md Contract 3): the dry-run's input.

CSV with header ``timestamp,metric,pod,value``, one sample a row, long form.
``timestamp`` is Unix seconds or RFC 3339 (read by :mod:`autoscaler.times`: a time
without a zone is UTC, and times after year 9999 are refused); ``metric`` is a scaler metric key
(``queue_depth``, ``gpu_utilization`` in percent, or a Prometheus metric's ``name``) or
one of the reserved keys ``replicas`` (pod empty: the target's replica count) and
``ready`` (per pod, 1 or 0; absent means ready). ``pod`` is empty for target-wide values.

Every problem is reported as ``FILE:LINE: what is wrong`` through :class:`RecordingError`
(the CLI exits 2 with it). The file is read in two passes, a block at a time
(:mod:`autoscaler.recording.rows`), so memory grows with the series (pods x metrics),
never with the rows: :func:`load_recording` checks every row and keeps per series only
its first sample and its last time; the replay then streams the rows again with
:meth:`Recording.samples`. A file is checked whole before anything is decided, and one
that would span too many ticks is refused before the replay allocates anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from autoscaler.recording.rows import BLOCK_BYTES, HEADER, Columns, Quoted, RecordingError, columns
from autoscaler.spec import GPUScalerSpec
from autoscaler.times import MAX_UNIX_SECONDS, format_time, parse_time

REPLICAS = "replicas"
READY = "ready"


#: A recording of up to this many rows keeps them from the checking pass, as numbers (24
#: bytes a row: 24 MB at most), and the replay does not read the file again: a week of
#: 8 pods (685,440 rows) then replays 0.45 s sooner. A larger one is streamed twice, so
#: memory stays bounded by this, whatever the file's size.
KEEP_ROWS = 1_000_000

#: The most evaluation ticks a recording may span (one every pollingIntervalSeconds,
#: first sample to last): 500,000 is 86 days at 15 s, a week at ~1.2 s. The dry-run's
#: memory grows with ticks, not rows, so one row dated 9999 or a three-year gap would
#: otherwise exhaust memory; such a file is refused before anything is allocated.
MAX_TICKS = 500_000


@dataclass(frozen=True)
class Series:
    """One (metric, pod) series, as the checking pass found it: its first sample."""

    metric: str
    pod: str
    first_time: float
    first_value: float


@dataclass(frozen=True)
class Samples:
    """A block of rows in file (and so time) order: each row's time, series (an index
    into :attr:`Recording.series`) and value."""

    times: np.ndarray
    series: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Recording:
    """A checked recording: its span and its series (sorted by metric, then pod).
    The samples themselves stay in the file until :meth:`samples` streams them."""

    source: str
    start: float
    end: float
    series: tuple[Series, ...]
    rows: int
    _keys: dict[str, bool] = field(repr=False, compare=False)
    _quoted: bool = field(repr=False, compare=False)
    _stat: tuple[int, int] = field(repr=False, compare=False)
    _block_bytes: int = field(default=BLOCK_BYTES, repr=False, compare=False)
    _kept: tuple[Samples, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def open_loop(self) -> bool:
        """With ``replicas`` rows the replay recommends against what really ran."""
        return any(s.metric == REPLICAS for s in self.series)

    def of(self, metric: str) -> tuple[int, ...]:
        """The indices of ``metric``'s series, in pod order."""
        return tuple(i for i, s in enumerate(self.series) if s.metric == metric)

    def samples(self) -> Generator[Samples, None, None]:
        """The rows again, block by block, checked again as they are read (the file
        may have changed since :func:`load_recording`: then a :class:`RecordingError`),
        or the rows kept from the checking pass when there were at most :data:`KEEP_ROWS`."""
        if self._kept is not None:
            yield from self._kept
            return
        with _open(self.source) as handle:
            if _stat_of(handle) != self._stat:
                raise RecordingError(f"{self.source}: the file changed after it was checked; run again")
            index = {(s.metric, s.pod): i for i, s in enumerate(self.series)}
            checker = _Checker(self.source, self._keys, index)
            for cols in columns(handle, self.source, quoted=self._quoted, block_bytes=self._block_bytes):
                yield checker.check(cols)


def allowed_keys(spec: GPUScalerSpec) -> dict[str, bool]:
    """Metric key -> whether it is per pod, for this scaler (plus the reserved keys)."""
    keys = {m.key: m.per_pod for m in spec.metrics}
    keys[REPLICAS] = False
    keys[READY] = True
    return keys


def load_recording(
    path: str | Path, spec: GPUScalerSpec, *, block_bytes: int = BLOCK_BYTES, keep_rows: int = KEEP_ROWS
) -> Recording:
    """Read and check a Contract 3 CSV against the scaler it will be replayed with.

    One pass over the file, a block at a time; each block's columns are checked with
    numpy (a week of 8 pods at 15 s is 685,440 rows: checking them one by one in
    Python cost more than replaying them). Each check reports the first offending line.
    ``block_bytes`` is how much of the file is read at a time and ``keep_rows`` the most
    rows kept for the replay (tests make them tiny, to stream a small file twice).
    """
    source = str(path)
    keys = allowed_keys(spec)
    try:
        return _check_file(
            source, keys, spec.polling_interval_seconds, quoted=False, block_bytes=block_bytes, keep_rows=keep_rows
        )
    except Quoted:
        return _check_file(
            source, keys, spec.polling_interval_seconds, quoted=True, block_bytes=block_bytes, keep_rows=keep_rows
        )


def _open(source: str) -> BinaryIO:
    try:
        return open(source, "rb")
    except OSError as e:
        raise RecordingError(f"{source}: cannot read: {e.strerror or e}") from None


def _stat_of(handle: BinaryIO) -> tuple[int, int]:
    st = os.fstat(handle.fileno())
    return st.st_size, st.st_mtime_ns


def _check_file(
    source: str, keys: dict[str, bool], polling_seconds: int, *, quoted: bool, block_bytes: int, keep_rows: int
) -> Recording:
    checker = _Checker(source, keys, None)
    kept: list[Samples] | None = []
    with _open(source) as handle:
        stat = _stat_of(handle)
        for cols in columns(handle, source, quoted=quoted, block_bytes=block_bytes):
            block = checker.check(cols)
            if kept is not None:
                if checker.rows <= keep_rows:
                    kept.append(block)
                else:
                    kept = None
    if not checker.rows:
        raise RecordingError(f"{source}:2: no samples after the header")
    checker.check_span(polling_seconds)
    order = sorted(range(len(checker.keys)), key=lambda i: checker.keys[i])
    series = tuple(
        Series(checker.keys[i][0], checker.keys[i][1], checker.first_time[i], checker.first_value[i]) for i in order
    )
    if kept is not None:  # series numbered as first seen -> sorted by (metric, pod)
        rank = np.empty(len(order), dtype=np.intp)
        rank[order] = np.arange(len(order))
        kept = [Samples(b.times, rank[b.series], b.values) for b in kept]
    return Recording(
        source=source,
        start=checker.start,
        end=checker.last,
        series=series,
        rows=checker.rows,
        _keys=keys,
        _quoted=quoted,
        _stat=stat,
        _block_bytes=block_bytes,
        _kept=None if kept is None else tuple(kept),
    )


class _Checker:
    """The checks of every row, a block at a time; what it keeps grows with the series.

    Sorted times, duplicates and the span need the neighbours of a row: the last time
    seen (and per series), the largest gap so far and where it ended."""

    def __init__(self, source: str, keys: dict[str, bool], index: dict[tuple[str, str], int] | None):
        self.source, self.allowed = source, keys
        self.fixed = index is not None  # the second pass: the series are known
        self.index: dict[tuple[str, str], int] = dict(index or {})
        self.keys: list[tuple[str, str]] = sorted(self.index, key=self.index.__getitem__)
        self.first_time: list[float] = []
        self.first_value: list[float] = []
        self.kind = np.array([_kind(m) for m, _ in self.keys], dtype=np.int8)
        self.last_time = np.full(len(self.keys), np.nan)
        self.rows = 0
        self.start = self.last = self.gap = 0.0
        self.gap_line = 0
        self.last_text = ""

    def check(self, cols: Columns) -> Samples:
        lines = cols.lines

        def fail(i: int, message: str) -> RecordingError:
            return RecordingError(f"{self.source}:{int(lines[i])}: {message}")

        times = _column(cols.timestamp, parse_time, fail, "timestamp")
        values = _column(cols.value, float, fail, "value")
        sid = self._series(cols, times, values, fail)
        if self.rows:
            if times[0] < self.last:
                raise fail(
                    0,
                    f"timestamp: rows must be sorted by time; {cols.timestamp[0].strip()} comes after "
                    f"{format_time(self.last)}",
                )
            gap0 = times[0] - self.last
        else:
            self.start, gap0 = float(times[0]), 0.0
        steps = np.diff(times)
        back = np.flatnonzero(steps < 0)
        if back.size:
            i = int(back[0]) + 1
            raise fail(
                i,
                f"timestamp: rows must be sorted by time; {cols.timestamp[i].strip()} comes after "
                f"{format_time(float(times[i - 1]))}",
            )
        self._duplicates(times, sid, cols, fail)
        self._values(sid, values, cols, fail)
        if gap0 > self.gap:
            self.gap, self.gap_line = float(gap0), int(lines[0])
        if steps.size:
            j = int(np.argmax(steps))
            if steps[j] > self.gap:
                self.gap, self.gap_line = float(steps[j]), int(lines[j + 1])
        self.rows += len(times)
        self.last = float(times[-1])
        self.last_text = cols.timestamp[-1]
        return Samples(times, sid, values)

    def check_span(self, polling_seconds: int) -> None:
        """Refuse a recording whose ticks (first to last sample, one per polling interval)
        exceed :data:`MAX_TICKS`, naming the largest gap: 2 rows three years apart at 15 s
        would be 6.3 million ticks."""
        ticks = (self.last - self.start) // polling_seconds + 1
        if ticks <= MAX_TICKS:
            return
        raise RecordingError(
            f"{self.source}:{self.gap_line}: timestamp: the recording spans {format_time(self.start)} .. "
            f"{format_time(self.last)}, {ticks:,.0f} ticks at pollingIntervalSeconds {polling_seconds}; the dry-run "
            f"replays at most {MAX_TICKS:,}. The largest gap ({self.gap:,.0f} s) ends on this line"
        )

    def _series(
        self, cols: Columns, times: np.ndarray, values: np.ndarray, fail: Callable[[int, str], RecordingError]
    ) -> np.ndarray:
        """Each row's series index; a new (metric, pod) pair is checked once, on its first row."""
        index = self.index
        try:
            return np.fromiter(
                map(index.__getitem__, zip(cols.metric, cols.pod, strict=True)), dtype=np.intp, count=len(cols.metric)
            )
        except KeyError:
            pass
        out = np.empty(len(cols.metric), dtype=np.intp)
        for i, key in enumerate(zip(cols.metric, cols.pod, strict=True)):
            found = index.get(key)
            if found is None:
                found = index[key] = self._new_series(i, key, float(times[i]), float(values[i]), fail)
            out[i] = found
        return out

    def _new_series(
        self, i: int, key: tuple[str, str], time: float, value: float, fail: Callable[[int, str], RecordingError]
    ) -> int:
        metric, pod = key
        if metric not in self.allowed:
            metric = metric.strip()
            if metric not in self.allowed:
                expected = ", ".join(sorted(self.allowed))
                raise fail(i, f"metric: unknown metric key {metric!r} (expected one of: {expected})")
            known = self.index.get((metric, pod))
            if known is not None:
                return known
        if pod != pod.strip():
            raise fail(i, f"pod: unexpected spaces around {pod!r}")
        if self.allowed[metric] and not pod:
            raise fail(i, f"pod: {metric} is per pod; expected a pod name")
        if not self.allowed[metric] and pod:
            raise fail(i, f"pod: {metric} is target-wide; expected it empty, got {pod!r}")
        if self.fixed:
            raise fail(i, f"{metric} {pod!r}: the file changed after it was checked; run again")
        self.index[(metric, pod)] = len(self.keys)
        self.keys.append((metric, pod))
        self.first_time.append(time)
        self.first_value.append(value)
        n = len(self.keys)
        if n > self.kind.size:  # doubled, not grown by one: 20,000 series would copy 200 million
            self.kind = np.concatenate([self.kind, np.zeros(n, dtype=np.int8)])
            self.last_time = np.concatenate([self.last_time, np.full(n, np.nan)])
        self.kind[n - 1] = _kind(metric)
        return n - 1

    def _duplicates(
        self, times: np.ndarray, sid: np.ndarray, cols: Columns, fail: Callable[[int, str], RecordingError]
    ) -> None:
        order = np.argsort(sid, kind="stable")  # by series, in time order within each
        s, t = sid[order], times[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        dup = order[1:][(s[1:] == s[:-1]) & (t[1:] == t[:-1])]
        across = order[starts][t[starts] == self.last_time[s[starts]]]  # the last sample of the block before
        bad = np.concatenate([dup, across])
        if bad.size:
            i = int(bad.min())
            metric, pod = self.keys[int(sid[i])]
            raise fail(
                i,
                f"duplicate sample for metric {metric!r}{' pod ' + repr(pod) if pod else ''} "
                f"at {cols.timestamp[i].strip()}",
            )
        ends = np.r_[starts[1:], s.size] - 1
        self.last_time[s[ends]] = t[ends]

    def _values(
        self, sid: np.ndarray, values: np.ndarray, cols: Columns, fail: Callable[[int, str], RecordingError]
    ) -> None:
        kind = self.kind[sid]
        if (kind == _REPLICAS).any():
            with np.errstate(invalid="ignore"):
                bad = np.flatnonzero(
                    (kind == _REPLICAS) & (~np.isfinite(values) | (values < 0) | (values != np.round(values)))
                )
            if bad.size:
                i = int(bad[0])
                raise fail(i, f"value: replicas must be a whole number >= 0, got {cols.value[i].strip()!r}")
        if (kind == _READY).any():
            bad = np.flatnonzero((kind == _READY) & (values != 0) & (values != 1))
            if bad.size:
                i = int(bad[0])
                raise fail(i, f"value: ready must be 1 or 0, got {cols.value[i].strip()!r}")


_OTHER, _REPLICAS, _READY = 0, 1, 2


def _kind(metric: str) -> int:
    return _REPLICAS if metric == REPLICAS else _READY if metric == READY else _OTHER


def _column(
    texts: list[str], parse: Callable[[str], float], fail: Callable[[int, str], RecordingError], field: str
) -> np.ndarray:
    """A column of numbers: numpy parses plain numbers at once; anything else (RFC 3339
    times) is parsed one distinct text at a time, and the first bad cell is reported."""
    try:
        out = np.array(texts, dtype=float)
        if field == "timestamp" and not ((out >= 0) & (out <= MAX_UNIX_SECONDS)).all():
            raise ValueError  # NaN, inf, milliseconds, year 10000: parse_time says which line and why
        return out
    except ValueError:
        pass
    out = np.empty(len(texts))
    seen: dict[str, float] = {}  # the rows of one tick share their time: RFC 3339 is parsed once a tick
    for i, text in enumerate(texts):
        try:
            value = seen.get(text)
            if value is None:
                value = seen[text] = parse(text)
            out[i] = value
        except ValueError as e:
            if field == "timestamp":
                raise fail(i, f"timestamp: {e}") from None
            raise fail(i, f"value: expected a number, got {_cut(text)}") from None
    return out


def _cut(text: str) -> str:
    t = text.strip()
    return repr(t) if len(t) <= 40 else repr(t[:37] + "...") + f" ({len(t)} characters)"


__all__ = [
    "HEADER",
    "MAX_TICKS",
    "READY",
    "REPLICAS",
    "Recording",
    "RecordingError",
    "Samples",
    "Series",
    "allowed_keys",
    "load_recording",
]
