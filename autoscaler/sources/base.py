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

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from autoscaler.core.observe import Reading, Sample, observe_per_pod
from autoscaler.core.observe import observe_value as observe_reading
from autoscaler.core.types import MetricObservation
from autoscaler.metrics.types import Signal
from autoscaler.spec import MetricSpec

__all__ = [
    "MetricSource",
    "MetricsError",
    "Sample",
    "Signal",
    "SignalSnapshot",
    "observe_value",
    "query_reading",
    "read_metric",
    "signal_of",
    "signals_of",
]


class MetricsError(Exception):
    """A metric could not be fetched (Prometheus down, timed out, bad query, bad answer)."""


def signal_of(metric: MetricSpec) -> Signal | None:
    """The per-pod signal behind a metric spec (its type's definition says), or None
    for a target-wide query or mean."""
    return metric.definition.signal_of(metric)


def signals_of(metric: MetricSpec) -> tuple[Signal, ...]:
    """Every per-pod signal a metric needs fetched: one, two for a mean (a latency's
    ``_sum`` and ``_count`` rates), none for a custom query."""
    return metric.definition.signals_of(metric)


@dataclass(frozen=True)
class SignalSnapshot:
    """One batched query's answer for one signal: a sample per ``(namespace, pod)``,
    or the error that made the whole signal unavailable this tick."""

    signal: Signal
    samples: Mapping[tuple[str, str], Sample] = field(default_factory=dict)
    error: str | None = None

    def reading(self, namespace: str, pods: Iterable[str]) -> Reading:
        """The target's slice of the snapshot, as the observe step takes it."""
        if self.error is not None:
            return Reading(error=self.error)
        return Reading(per_pod={pod: s for pod in pods if (s := self.samples.get((namespace, pod))) is not None})

    def for_pods(self, namespace: str, pods: Iterable[str], max_age: float, now: float) -> MetricObservation:
        """The target's slice through the one observe rule (:mod:`autoscaler.core.observe`):
        stale, NaN, infinite and negative samples drop out, and pods that all lack a usable
        sample give an error that says why (3 stale, 1 NaN), not an empty map."""
        names = list(pods)
        return observe_per_pod(self.reading(namespace, names), names, max_age, now, self.signal.value)


class MetricSource(Protocol):
    """What the loop needs from a metrics backend."""

    def fetch_signals(
        self, signals: Collection[Signal], namespaces: Collection[str] | None
    ) -> dict[Signal, SignalSnapshot]:
        """One batched fetch per signal for every pod in ``namespaces`` (all when None).
        Never raises: a failed signal comes back as a snapshot with ``error`` set."""

    def query_value(self, query: str) -> Sample:
        """A custom query that must return exactly one number; raises :class:`MetricsError`."""


def read_metric(
    metric: MetricSpec,
    snapshots: Mapping[Signal, SignalSnapshot],
    source: MetricSource,
    namespace: str,
    pods: list[str],
) -> Reading:
    """One metric's reading for one target: its custom query, its signal's slice of the
    tick's snapshot, or for a mean both signals' slices (numerator in ``per_pod``,
    denominator in ``counts``)."""
    signals = signals_of(metric)
    if not signals:
        assert metric.query is not None
        return query_reading(source, metric.query)
    missing = [s for s in signals if s not in snapshots]
    if missing:
        return Reading(error=f"signal {missing[0]} was not fetched")
    parts = [snapshots[s].reading(namespace, pods) for s in signals]
    failed = next((p for p in parts if p.error is not None), None)
    if failed is not None:
        return failed
    if metric.definition.mean_of(metric) is not None:
        return Reading(per_pod=parts[0].per_pod, counts=parts[1].per_pod)
    return parts[0]


def query_reading(source: MetricSource, query: str) -> Reading:
    """A custom query's answer as the observe step takes it: its sample, or the error."""
    try:
        return Reading(value=source.query_value(query))
    except MetricsError as e:
        return Reading(error=str(e))


def observe_value(source: MetricSource, query: str, max_age: float, now: float) -> MetricObservation:
    """A custom query as the core wants it: a value, or the error in words."""
    return observe_reading(query_reading(source, query), max_age, now)
