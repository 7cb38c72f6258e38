"""The one list of metric types. A new type is one module and one line here."""

from __future__ import annotations

from autoscaler.metrics import (
    concurrency,
    gpu_health,
    gpu_utilization,
    kv_cache_usage,
    latency,
    prometheus,
    queue_depth,
    token_throughput,
)
from autoscaler.metrics.types import MetricDefinition, MetricType, SeriesSpec, Signal

DEFINITIONS: tuple[MetricDefinition, ...] = (
    queue_depth.DEFINITION,
    gpu_utilization.DEFINITION,
    prometheus.DEFINITION,
    token_throughput.DEFINITION,
    kv_cache_usage.DEFINITION,
    latency.DEFINITION,
    concurrency.DEFINITION,
)

_BY_TYPE = {d.type: d for d in DEFINITIONS}
#: Type names in spec order (the spec's ``type`` choices).
TYPE_NAMES: tuple[str, ...] = tuple(str(d.type) for d in DEFINITIONS)
#: Keys the built-in types own: a named metric may not take one.
FIXED_KEYS: frozenset[str] = frozenset(k for d in DEFINITIONS for k in d.keys)
#: Every per-pod signal of every type.
SIGNALS: tuple[Signal, ...] = tuple(s for d in DEFINITIONS for s in d.signals)
#: Every exporter that provides some signal: "ours" first, then by name.
EXPORTERS: tuple[str, ...] = ("ours", *sorted({e for d in DEFINITIONS for e in d.series} - {"ours"}))


def definition_of(metric_type: MetricType | str) -> MetricDefinition:
    return _BY_TYPE[MetricType(metric_type)]


def series_of(exporters: tuple[str, ...]) -> dict[Signal, SeriesSpec]:
    """The series behind every signal when the cluster runs ``exporters``: ours fill
    what the others lack (dcgm-exporter has no queue depth, vLLM no GPU activity), and
    a later exporter's series win."""
    table: dict[Signal, SeriesSpec] = dict(gpu_health.SERIES)  # ours only: see gpu_health
    for exporter in ("ours", *exporters):
        for d in DEFINITIONS:
            table.update(d.series.get(exporter, {}))
    return table
