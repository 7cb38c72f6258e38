"""``gpu-autoscaler record``: Contract 3 CSV from a live Prometheus, for ``dry-run``.

For one GPUScaler over ``[start, end]`` every ``step`` seconds, range queries fetch:

- each built-in metric per pod, in the signal's unit (queue depth; GPU activity in
  percent 0..100; a counter as its per-pod rate per second over ``rate_window``, so
  ``prompt_tokens_rate`` rows are tokens/s and replay unchanged), for the target's
  pods. Without the API server we know the pods by name: a Deployment ``llm`` has
  pods ``llm-<hash>-<suffix>``, a StatefulSet ``db`` has ``db-0``, ``db-1`` (see
  :func:`autoscaler.sources.promql.workload_pod_regex`);
- each ``Prometheus`` metric's own query, as one target-wide value (pod empty);
- each mean of two counters (``Latency``: ``ttft_seconds``) as one target-wide value,
  from the per-pod rates of both by the observe step's own rule
  (:func:`autoscaler.core.observe.mean_of_rates`: 0 s when no request reached its first
  token, none when no pod has both);
- ``replicas``: kube-state-metrics' ``kube_deployment_spec_replicas`` (or
  ``kube_statefulset_replicas``) when Prometheus has it; otherwise the number of pods
  with a sample of the first per-pod metric at that time (a pod that serves is a
  replica; one still loading its model may not report yet, so this can undercount).
  With either, the replay is open-loop (it recommends against what really ran). A
  scaler with only ``Prometheus`` metrics and no kube-state-metrics gets no
  ``replicas`` rows, and the replay is closed-loop;
- ``ready`` per pod from ``kube_pod_status_ready{condition="true"}`` when present.

NaN and infinite samples are left out (missing, as the controller treats them). A
range longer than Prometheus's 11,000 points per series is fetched in chunks; so that
chunk boundaries fall on the same grid (the client rounds start and end to whole
seconds), ``start`` and ``end`` are whole seconds and ``step`` is whole seconds too.

Long ranges are fetched and written one chunk at a time (:func:`record_chunks`), so
memory holds one chunk however long the range; :func:`plan` says beforehand what a
range will cost, and the CLI refuses an expensive one without ``--force``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from autoscaler.core.observe import mean_of_rates
from autoscaler.recording.reader import HEADER, READY, REPLICAS
from autoscaler.sources import promql
from autoscaler.sources.base import MetricsError, Signal, signal_of
from autoscaler.sources.prometheus import RangeSeries
from autoscaler.sources.signals import SeriesSpec
from autoscaler.spec import GPUScaler

#: Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS = 10_000


class RangeSource(Protocol):
    def query_range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]: ...


@dataclass(frozen=True, order=True)
class Row:
    """One CSV row: Unix time, metric key, pod ("" for target-wide), value."""

    timestamp: float
    metric: str
    pod: str
    value: float


def chunks(start: float, end: float, step: float) -> list[tuple[float, float]]:
    """Split ``[start, end]`` so each piece has at most :data:`MAX_POINTS` points and
    no timestamp is fetched twice: 1 day at 1 s (86,401 points) is 9 pieces."""
    return list(iter_chunks(start, end, step))


def iter_chunks(start: float, end: float, step: float) -> Iterator[tuple[float, float]]:
    """:func:`chunks`, one piece at a time (a year at 1 s is 3,154 pieces)."""
    s = start
    while s <= end:
        e = min(end, s + (MAX_POINTS - 1) * step)
        yield s, e
        s = e + step


def _fetch(source: RangeSource, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
    merged: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for s, e in chunks(start, end, step):
        for series in source.query_range(query, s, e, step):
            merged.setdefault(tuple(sorted(series.labels.items())), []).extend(series.points)
    return [RangeSeries(dict(k), tuple(v)) for k, v in merged.items()]


def _finite(points: Iterable[tuple[float, float]]) -> Iterable[tuple[float, float]]:
    return ((t, v) for t, v in points if math.isfinite(v))


@dataclass(frozen=True)
class RecordPlan:
    """What a recording will cost, said before it starts: ``record --start 0 --step 1s``
    is 1.8 billion points per series, 180,000 chunks of 10,000, and about 720,000 range
    queries for one metric (metric, replicas, ready per chunk)."""

    points: int  #: samples per series, (end - start) / step + 1
    chunks: int  #: range queries per series, ceil(points / MAX_POINTS)
    queries: int  #: range queries in all: chunks x series queried per chunk


def plan(scaler: GPUScaler, start: float, end: float, step: float) -> RecordPlan:
    """The cost of recording ``scaler`` over ``[start, end]``; arithmetic only.

    1 day at 15 s: 5,761 points per series, 1 chunk; with two metrics on a Deployment,
    4 queries (two metrics, replicas, ready)."""
    points = int((end - start) // step) + 1
    n_chunks = -(-points // MAX_POINTS)
    ksm = 1 if scaler.spec.scale_target_ref.kind in ("Deployment", "StatefulSet") else 0
    return RecordPlan(points, n_chunks, n_chunks * (len(scaler.spec.metrics) + ksm + 1))


def record_chunks(
    source: RangeSource,
    scaler: GPUScaler,
    series: dict[Signal, SeriesSpec],
    start: float,
    end: float,
    step: float,
    rate_window: float | None = None,
) -> Iterator[list[Row]]:
    """The recording one chunk of at most :data:`MAX_POINTS` timestamps at a time, each
    sorted by time, metric, pod: memory holds one chunk, however long the range.
    Chunks share no timestamp, so their concatenation is sorted. Raises MetricsError.

    ``replicas`` come from kube-state-metrics where a chunk has them, else from the
    count of pods with a sample of the first per-pod metric in that chunk."""
    for s, e in iter_chunks(start, end, step):
        yield _chunk_rows(source, scaler, series, s, e, step, rate_window)


def record_rows(
    source: RangeSource,
    scaler: GPUScaler,
    series: dict[Signal, SeriesSpec],
    start: float,
    end: float,
    step: float,
    rate_window: float | None = None,
) -> list[Row]:
    """Every row of the recording, sorted by time, metric, pod. Raises MetricsError.
    ``rate_window``: seconds of a counter's ``rate()`` (default: the controller's, 60 s)."""
    return [row for chunk in record_chunks(source, scaler, series, start, end, step, rate_window) for row in chunk]


def _chunk_rows(
    source: RangeSource,
    scaler: GPUScaler,
    series: dict[Signal, SeriesSpec],
    start: float,
    end: float,
    step: float,
    rate_window: float | None,
) -> list[Row]:
    spec, ns = scaler.spec, scaler.namespace
    ref = spec.scale_target_ref
    pod_regex = promql.workload_pod_regex(ref.kind, ref.name)
    rows: list[Row] = []
    first_per_pod: list[Row] | None = None
    for m in spec.metrics:
        pair = m.definition.mean_of(m)
        if pair is not None:
            rates = [
                {
                    (r.labels.get("pod", ""), t): v
                    for r in _fetch(source, promql.over_pods(series[s], ns, pod_regex, rate_window), start, end, step)
                    if r.labels.get("pod")
                    for t, v in _finite(r.points)
                }
                for s in pair
            ]
            rows += _means(m.key, rates[0], rates[1])
            continue
        signal = signal_of(m)
        if signal is None:
            assert m.query is not None
            result = _fetch(source, m.query, start, end, step)
            if len(result) > 1:
                raise MetricsError(f"metric {m.key}: query returned {len(result)} series; expected one number")
            rows += [Row(t, m.key, "", v) for r in result for t, v in _finite(r.points)]
            continue
        query = promql.over_pods(series[signal], ns, pod_regex, rate_window)
        metric_rows = [
            Row(t, m.key, r.labels.get("pod", ""), v)
            for r in _fetch(source, query, start, end, step)
            if r.labels.get("pod")
            for t, v in _finite(r.points)
        ]
        rows += metric_rows
        if first_per_pod is None:
            first_per_pod = metric_rows
    rows += _replicas(source, scaler, start, end, step, first_per_pod)
    ready = promql.selector(
        "kube_pod_status_ready",
        [promql.matcher("namespace", ns), f"pod=~{promql.quote(pod_regex)}", promql.matcher("condition", "true")],
    )
    for r in _fetch(source, f"max by (pod) ({ready})", start, end, step):
        rows += [
            Row(t, READY, r.labels["pod"], 1.0 if v >= 1 else 0.0) for t, v in _finite(r.points) if r.labels.get("pod")
        ]
    return sorted(set(rows))


def _means(
    key: str, numerator: dict[tuple[str, float], float], denominator: dict[tuple[str, float], float]
) -> list[Row]:
    """One target-wide row per time: the mean of the two per-pod rates at that time."""
    by_time: dict[float, tuple[dict[str, float], dict[str, float]]] = {}
    for index, part in enumerate((numerator, denominator)):
        for (pod, t), v in part.items():
            by_time.setdefault(t, ({}, {}))[index][pod] = v
    return [Row(t, key, "", mean) for t, (num, den) in by_time.items() if (mean := mean_of_rates(num, den)) is not None]


def _replicas(
    source: RangeSource, scaler: GPUScaler, start: float, end: float, step: float, per_pod: list[Row] | None
) -> list[Row]:
    ref, ns = scaler.spec.scale_target_ref, scaler.namespace
    ksm = {
        "Deployment": ("kube_deployment_spec_replicas", "deployment"),
        "StatefulSet": ("kube_statefulset_replicas", "statefulset"),
    }.get(ref.kind)
    if ksm is not None:
        query = f"max({promql.selector(ksm[0], [promql.matcher('namespace', ns), promql.matcher(ksm[1], ref.name)])})"
        found = [
            Row(t, REPLICAS, "", float(round(v)))
            for r in _fetch(source, query, start, end, step)
            for t, v in _finite(r.points)
        ]
        if found:
            return found
    if not per_pod:
        return []
    counts: dict[float, int] = {}
    for row in per_pod:
        counts[row.timestamp] = counts.get(row.timestamp, 0) + 1
    return [Row(t, REPLICAS, "", float(n)) for t, n in counts.items()]


def format_number(v: float) -> str:
    """Whole numbers without a fraction (``1795934475``, ``3``), others to 12 digits."""
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else format(v, ".12g")


@dataclass(frozen=True)
class Written:
    rows: int
    timestamps: int


def write_csv(rows: Iterable[Row], path: str | Path) -> Written:
    """Write Contract 3 CSV (Unix-second timestamps) row by row, as ``rows`` yields them."""
    n = stamps = 0
    last: float | None = None
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle, lineterminator="\n")
        w.writerow(HEADER)
        for row in rows:
            w.writerow((format_number(row.timestamp), row.metric, row.pod, format_number(row.value)))
            n += 1
            if row.timestamp != last:
                stamps += 1
                last = row.timestamp
    return Written(n, stamps)
