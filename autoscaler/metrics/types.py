"""What one metric type is, as data: :class:`MetricDefinition`.

A definition says everything the rest of the code asks of a type, so that no module
switches on the type's name:

* the spec: its own fields beside ``type`` and ``target`` and how they are validated
  (``parse``), which target kinds it takes, and its key in observations and recordings;
* the observation: per pod (one sample per replica, joined to the target's pods) or
  target-wide (one number), and the signal behind it — or, for a target-wide mean such
  as a latency, the two per-pod counter signals it is the ratio of (``mean_of``);
* the sources: for each exporter (``--signal-source`` part), the Prometheus series
  behind each of its signals, with the per-pod folding and the scale to its unit;
* the core: per-pod metrics take HPA's per-pod rules (average value or utilization over
  ready pods, or their sum for a ``value`` target); target-wide metrics take HPA's
  Object/External rules (:mod:`autoscaler.core.proposal`); a ``guard`` (a latency SLO)
  takes the guard rule there.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from autoscaler.fields import FieldReader

if TYPE_CHECKING:
    from autoscaler.spec import MetricSpec


class MetricType(enum.StrEnum):
    """The ``type`` of a metric in a GPUScaler spec (a str, so YAML and JSON read it as is)."""

    QUEUE_DEPTH = "QueueDepth"
    GPU_UTILIZATION = "GPUUtilization"
    PROMETHEUS = "Prometheus"
    TOKEN_THROUGHPUT = "TokenThroughput"
    KV_CACHE_USAGE = "KVCacheUsage"
    LATENCY = "Latency"
    CONCURRENCY = "Concurrency"


@dataclass(frozen=True)
class Signal:
    """A per-pod signal fetched in one batched query per tick for every scaler; its unit
    after conversion is fixed whatever the series (``queue_depth``: waiting requests of
    one pod; ``sm_active``: percent 0..100 averaged over the pod's GPUs)."""

    value: str

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SeriesSpec:
    """One Prometheus series and how to turn it into the signal's unit.

    A ``counter`` is read as its per-pod rate per second over the source's rate window,
    never as its running total: ``inference_prompt_tokens_total`` at 1.2e9 says nothing
    about load; going from 1,200,000 to 1,290,000 in 60 s says 1,500 prompt tokens/s.
    Every source hands the core the rate (Prometheus: ``rate(NAME[W])``; the simulator:
    :func:`autoscaler.core.observe.counter_rates` between two polls; a recording holds the
    rate itself), so a counter signal has the same unit wherever it is observed.

    ``alternatives`` are older names of the same series, read where the main one is absent
    (vLLM renamed ``vllm:gpu_cache_usage_perc`` to ``vllm:kv_cache_usage_perc``).
    """

    metric: str
    aggregation: str  # "max" | "avg" | "sum": how a pod's series fold into one number
    scale: float  # multiply after folding (ratio 0..1 -> percent: 100)
    counter: bool = False
    alternatives: tuple[str, ...] = ()

    @property
    def metrics(self) -> tuple[str, ...]:
        """The main name, then the older ones."""
        return (self.metric, *self.alternatives)


#: What a definition's ``parse`` returns: MetricSpec keyword fields (``signal``, ``name``, ``query``).
Fields = Mapping[str, Any]


def _no_fields(r: FieldReader, obj: Mapping[str, Any], path: str) -> Fields | None:
    return {}


def _no_signal(metric: MetricSpec) -> Signal | None:
    return None


def _no_mean(metric: MetricSpec) -> tuple[Signal, Signal] | None:
    return None


def fixed_signal(signal: Signal) -> Callable[[MetricSpec], Signal]:
    """``signal_of`` for a type that reads one signal whatever its spec says."""

    def signal_of(metric: MetricSpec) -> Signal:
        return signal

    return signal_of


T = TypeVar("T")


@dataclass(frozen=True)
class SignalChoice(Generic[T]):
    """A type's ``signal`` field: one of ``choices`` by its spec name, the first the
    default (GPUUtilization: ``smActive`` or ``utilization``; TokenThroughput: ``prompt``
    or ``generation``). ``T`` is what a choice reads: a signal, or a (numerator,
    denominator) pair of them for a mean."""

    choices: Mapping[str, T]

    @property
    def default(self) -> str:
        return next(iter(self.choices))

    def parse(self, r: FieldReader, obj: Mapping[str, Any], path: str) -> str:
        """The chosen name (errors go to the reader; the default stands in for a bad one)."""
        return r.string(obj, "signal", path, self.default, choices=tuple(self.choices)) or self.default

    def of(self, metric: MetricSpec) -> T:
        """What the spec's choice reads."""
        return self.choices.get(metric.signal, self.choices[self.default])


@dataclass(frozen=True)
class MetricDefinition:
    """One metric type (see the module docstring for what each part is for)."""

    type: MetricType
    #: Target kinds it accepts: ``averageValue``, ``averageUtilization``, ``value``.
    target_kinds: tuple[str, ...]
    #: One sample per pod (True) or one target-wide number (False).
    per_pod: bool
    #: Its key in observations and recordings; None: the spec's ``name`` (or ``signal_keys``).
    key: str | None = None
    #: Keys by the spec's ``signal`` where the key depends on it (TokenThroughput:
    #: ``prompt`` -> ``prompt_tokens_rate``); the first is the default.
    signal_keys: Mapping[str, str] = field(default_factory=dict)
    #: Its own spec fields beside ``type`` and ``target``.
    fields: tuple[str, ...] = ()
    #: Reads and validates those fields (errors go to the reader); None when invalid.
    parse: Callable[[FieldReader, Mapping[str, Any], str], Fields | None] = _no_fields
    #: The per-pod signal behind a spec of this type (None for a target-wide query).
    signal_of: Callable[[MetricSpec], Signal | None] = _no_signal
    #: Per exporter (``ours``, ``dcgm``, ``vllm``), the series behind each of its signals.
    series: Mapping[str, Mapping[Signal, SeriesSpec]] = field(default_factory=dict)
    #: The largest meaningful per-pod value (100 for a percent), or None: the closed-loop
    #: replay caps a spread share there.
    ceiling: float | None = None
    #: A target-wide mean read from two per-pod counter signals, ``(numerator,
    #: denominator)``: the metric's value is the sum of the numerator's rates over the
    #: target's pods divided by the sum of the denominator's (``rate(_sum) / rate(_count)``
    #: of a latency histogram: seconds of TTFT per second / first tokens per second = the
    #: mean TTFT over the window). None for every other type.
    mean_of: Callable[[MetricSpec], tuple[Signal, Signal] | None] = _no_mean
    #: A guard on an SLO rather than a load signal: it asks for more replicas above its
    #: target and for none of its own at or below it (:mod:`autoscaler.core.proposal`).
    guard: bool = False

    def key_of(self, metric: MetricSpec) -> str:
        """The metric's key: the fixed one, the one of its ``signal``, or its ``name``."""
        if self.signal_keys:
            return self.signal_keys.get(metric.signal, next(iter(self.signal_keys.values())))
        if self.key is not None:
            return self.key
        assert metric.name is not None
        return metric.name

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key this type owns (none for a named type)."""
        return tuple(self.signal_keys.values()) or ((self.key,) if self.key is not None else ())

    def signals_of(self, metric: MetricSpec) -> tuple[Signal, ...]:
        """Every per-pod signal the sources fetch for ``metric`` (none for a custom query)."""
        pair = self.mean_of(metric)
        if pair is not None:
            return pair
        one = self.signal_of(metric)
        return () if one is None else (one,)

    @property
    def signals(self) -> tuple[Signal, ...]:
        """Every signal some exporter provides for this type, in table order."""
        seen: dict[Signal, None] = {}
        for table in self.series.values():
            seen.update(dict.fromkeys(table))
        return tuple(seen)
