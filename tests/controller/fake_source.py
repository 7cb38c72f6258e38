"""A map-backed :class:`~autoscaler.sources.base.MetricSource` (HPA's fake metrics
client, in spirit): the test sets per-pod samples and custom query answers, or takes
Prometheus "down"; every fetch is recorded so a test can count queries."""
from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass, field

from autoscaler.sources.base import MetricsError, Sample, Signal, SignalSnapshot


@dataclass
class FakeMetricSource:
    samples: dict[Signal, dict[tuple[str, str], Sample]] = field(default_factory=dict)
    values: dict[str, Sample] = field(default_factory=dict)
    down: bool = False
    fetches: list[tuple[frozenset[Signal], frozenset[str] | None]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    delay: dict[str, threading.Event] = field(default_factory=dict)  # query -> released when set

    def set(self, signal: Signal, namespace: str, pod: str, value: float, timestamp: float) -> None:
        self.samples.setdefault(signal, {})[(namespace, pod)] = Sample(value, timestamp)

    def fetch_signals(self, signals: Collection[Signal],
                      namespaces: Collection[str] | None) -> dict[Signal, SignalSnapshot]:
        self.fetches.append((frozenset(signals), None if namespaces is None else frozenset(namespaces)))
        if self.down:
            return {s: SignalSnapshot(s, error="cannot connect to Prometheus") for s in signals}
        return {s: SignalSnapshot(s, {k: v for k, v in self.samples.get(s, {}).items()
                                      if namespaces is None or k[0] in namespaces}) for s in signals}

    def query_value(self, query: str) -> Sample:
        self.queries.append(query)
        gate = self.delay.get(query)
        if gate is not None:
            gate.wait(10)
        if self.down:
            raise MetricsError("cannot connect to Prometheus")
        if query not in self.values:
            raise MetricsError("query returned no data")
        return self.values[query]
