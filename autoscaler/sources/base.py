"""The metric-source seam: what the control loop asks of Prometheus, in our own types.

Built-in signals (queue depth, SM activity, plain utilization) are fetched once per
tick for every scaler together, as a :class:`SignalSnapshot` keyed by
``(namespace, pod)``; each scaler then joins the snapshot to its own pods with
:meth:`SignalSnapshot.for_pods`. A custom ``Prometheus`` metric is one query per scaler
returning one number (:meth:`MetricSource.query_value`).

Missing data is never a number: a failed fetch becomes ``MetricObservation(error=...)``
and a stale, NaN or infinite sample drops out, so the decision core can hold instead of
scaling down on a zero that was never measured.
"""
from __future__ import annotations

import enum
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from autoscaler.core.types import MetricObservation
from autoscaler.spec import MetricSpec


class MetricsError(Exception):
    """A metric could not be fetched (Prometheus down, timed out, bad query, bad answer)."""


class Signal(enum.Enum):
    """A built-in per-pod signal; its unit after conversion is fixed whatever the series."""

    QUEUE_DEPTH = "queue_depth"  # waiting requests of one pod
    SM_ACTIVE = "sm_active"      # percent 0..100, averaged over the pod's GPUs
    UTILIZATION = "utilization"  # percent 0..100, NVML's plain counter, averaged likewise


def signal_of(metric: MetricSpec) -> Signal | None:
    """The built-in signal behind a metric spec, or None for a custom ``Prometheus`` query."""
    if metric.type == "QueueDepth":
        return Signal.QUEUE_DEPTH
    if metric.type == "GPUUtilization":
        return Signal.SM_ACTIVE if metric.signal == "smActive" else Signal.UTILIZATION
    return None


@dataclass(frozen=True)
class Sample:
    """One value and the Unix time of the newest sample it was computed from."""

    value: float
    timestamp: float


@dataclass(frozen=True)
class SignalSnapshot:
    """One batched query's answer for one signal: a sample per ``(namespace, pod)``,
    or the error that made the whole signal unavailable this tick."""

    signal: Signal
    samples: Mapping[tuple[str, str], Sample] = field(default_factory=dict)
    error: str | None = None

    def for_pods(self, namespace: str, pods: Iterable[str], max_age: float, now: float) -> MetricObservation:
        """The target's slice of the snapshot, with stale, NaN and infinite samples dropped.

        A target whose pods all lack a usable sample gets an error that says why (3 stale,
        1 NaN), not an empty map: "Prometheus has nothing fresh" is an outage, not a
        measurement of zero load.
        """
        if self.error is not None:
            return MetricObservation.failed(self.error)
        per_pod: dict[str, float] = {}
        stale = bad = absent = 0
        names = list(pods)
        for pod in names:
            sample = self.samples.get((namespace, pod))
            if sample is None:
                absent += 1
            elif not math.isfinite(sample.value):
                bad += 1
            elif now - sample.timestamp > max_age:
                stale += 1
            else:
                per_pod[pod] = sample.value
        if names and not per_pod:
            parts = [f"{n} {what}" for n, what in ((stale, f"older than {max_age:g} s"), (bad, "NaN or Inf"),
                                                    (absent, "without samples")) if n]
            return MetricObservation.failed(f"no usable {self.signal.value} samples for the "
                                            f"{len(names)} pods ({', '.join(parts)})")
        return MetricObservation(per_pod=per_pod)


class MetricSource(Protocol):
    """What the loop needs from a metrics backend."""

    def fetch_signals(self, signals: Collection[Signal],
                      namespaces: Collection[str] | None) -> dict[Signal, SignalSnapshot]:
        """One batched fetch per signal for every pod in ``namespaces`` (all when None).
        Never raises: a failed signal comes back as a snapshot with ``error`` set."""

    def query_value(self, query: str) -> Sample:
        """A custom query that must return exactly one number; raises :class:`MetricsError`."""


def observe_value(source: MetricSource, query: str, max_age: float, now: float) -> MetricObservation:
    """A custom query as the core wants it: a value, or the error in words."""
    try:
        sample = source.query_value(query)
    except MetricsError as e:
        return MetricObservation.failed(str(e))
    if not math.isfinite(sample.value):
        return MetricObservation.failed(f"query returned {sample.value}")
    if now - sample.timestamp > max_age:
        return MetricObservation.failed(f"query result is {now - sample.timestamp:.0f} s old "
                                        f"(more than {max_age:g} s)")
    return MetricObservation(value=sample.value)
