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
"""
from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
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

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class RangeSource(Protocol):
    def query_range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]: ...


@dataclass(frozen=True, order=True)
class Row:
    """One CSV row: Unix time, metric key, pod ("" for target-wide), value."""

    timestamp: float
    metric: str
    pod: str
    value: float


def parse_duration(text: str) -> float:
    """``15s`` -> 15, ``1m`` -> 60, ``1.5h`` -> 5400, ``30`` -> 30 (seconds)."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"expected a duration such as 15s, 1m or 30, got {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_time(text: str, now: float) -> float:
    """Unix seconds, RFC 3339 (``2026-11-29T06:00:00Z``), ``now`` or ``now-1h``."""
    t = text.strip()
    if t == "now":
        return now
    if t.startswith("now-"):
        return now - parse_duration(t[4:])
    try:
        return float(t)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t)
    except ValueError:
        raise ValueError(f"expected Unix seconds, an RFC 3339 time (2026-11-29T06:00:00Z) or now-1h, got {text!r}") \
            from None
    if dt.tzinfo is None:
        raise ValueError(f"an RFC 3339 time needs a zone (Z or +HH:MM), got {text!r}")
    return dt.timestamp()


def chunks(start: float, end: float, step: float) -> list[tuple[float, float]]:
    """Split ``[start, end]`` so each piece has at most :data:`MAX_POINTS` points and
    no timestamp is fetched twice: 1 day at 1 s (86,401 points) is 9 pieces."""
    out = []
    s = start
    while s <= end:
        e = min(end, s + (MAX_POINTS - 1) * step)
        out.append((s, e))
        s = e + step
    return out


def _fetch(source: RangeSource, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
    merged: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for s, e in chunks(start, end, step):
        for series in source.query_range(query, s, e, step):
            merged.setdefault(tuple(sorted(series.labels.items())), []).extend(series.points)
    return [RangeSeries(dict(k), tuple(v)) for k, v in merged.items()]


def _finite(points: Iterable[tuple[float, float]]) -> Iterable[tuple[float, float]]:
    return ((t, v) for t, v in points if math.isfinite(v))


def record_rows(source: RangeSource, scaler: GPUScaler, series: dict[Signal, SeriesSpec],
                start: float, end: float, step: float, rate_window: float | None = None) -> list[Row]:
    """Every row of the recording, sorted by time, metric, pod. Raises MetricsError.
    ``rate_window``: seconds of a counter's ``rate()`` (default: the controller's, 60 s)."""
    spec, ns = scaler.spec, scaler.namespace
    ref = spec.scale_target_ref
    pod_regex = promql.workload_pod_regex(ref.kind, ref.name)
    rows: list[Row] = []
    first_per_pod: list[Row] | None = None
    for m in spec.metrics:
        pair = m.definition.mean_of(m)
        if pair is not None:
            rates = [{(r.labels.get("pod", ""), t): v for r in
                      _fetch(source, promql.over_pods(series[s], ns, pod_regex, rate_window), start, end, step)
                      if r.labels.get("pod") for t, v in _finite(r.points)} for s in pair]
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
        metric_rows = [Row(t, m.key, r.labels.get("pod", ""), v)
                       for r in _fetch(source, query, start, end, step) if r.labels.get("pod")
                       for t, v in _finite(r.points)]
        rows += metric_rows
        if first_per_pod is None:
            first_per_pod = metric_rows
    rows += _replicas(source, scaler, start, end, step, first_per_pod)
    ready = promql.selector("kube_pod_status_ready", [promql.matcher("namespace", ns),
                                                      f"pod=~{promql.quote(pod_regex)}",
                                                      promql.matcher("condition", "true")])
    for r in _fetch(source, f"max by (pod) ({ready})", start, end, step):
        rows += [Row(t, READY, r.labels["pod"], 1.0 if v >= 1 else 0.0)
                 for t, v in _finite(r.points) if r.labels.get("pod")]
    return sorted(set(rows))


def _means(key: str, numerator: dict[tuple[str, float], float],
           denominator: dict[tuple[str, float], float]) -> list[Row]:
    """One target-wide row per time: the mean of the two per-pod rates at that time."""
    by_time: dict[float, tuple[dict[str, float], dict[str, float]]] = {}
    for index, part in enumerate((numerator, denominator)):
        for (pod, t), v in part.items():
            by_time.setdefault(t, ({}, {}))[index][pod] = v
    return [Row(t, key, "", mean) for t, (num, den) in by_time.items()
            if (mean := mean_of_rates(num, den)) is not None]


def _replicas(source: RangeSource, scaler: GPUScaler, start: float, end: float, step: float,
              per_pod: list[Row] | None) -> list[Row]:
    ref, ns = scaler.spec.scale_target_ref, scaler.namespace
    ksm = {"Deployment": ("kube_deployment_spec_replicas", "deployment"),
           "StatefulSet": ("kube_statefulset_replicas", "statefulset")}.get(ref.kind)
    if ksm is not None:
        query = f"max({promql.selector(ksm[0], [promql.matcher('namespace', ns), promql.matcher(ksm[1], ref.name)])})"
        found = [Row(t, REPLICAS, "", float(round(v))) for r in _fetch(source, query, start, end, step)
                 for t, v in _finite(r.points)]
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


def write_csv(rows: Iterable[Row], path: str | Path) -> int:
    """Write Contract 3 CSV (Unix-second timestamps); returns the number of rows."""
    n = 0
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle, lineterminator="\n")
        w.writerow(HEADER)
        for row in rows:
            w.writerow((format_number(row.timestamp), row.metric, row.pod, format_number(row.value)))
            n += 1
    return n
