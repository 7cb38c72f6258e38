"""What one metric type is, as data: :class:`MetricDefinition`.

A definition says everything the rest of the code asks of a type, so that no module
switches on the type's name:

* the spec: its own fields beside ``type`` and ``target`` and how they are validated
  (``parse``), which target kinds it takes, and its key in observations and recordings;
* the observation: per pod (one sample per replica, joined to the target's pods) or
  target-wide (one number), and the signal behind it;
* the sources: for each exporter (``--signal-source`` part), the Prometheus series
  behind each of its signals, with the per-pod folding and the scale to its unit;
* the core: per-pod metrics take HPA's per-pod rules (average value or utilization over
  ready pods, or their sum for a ``value`` target); target-wide metrics take HPA's
  Object/External rules (:mod:`autoscaler.core.proposal`).
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autoscaler.fields import FieldReader

if TYPE_CHECKING:
    from autoscaler.spec import MetricSpec


class MetricType(enum.StrEnum):
    """The ``type`` of a metric in a GPUScaler spec (a str, so YAML and JSON read it as is)."""

    QUEUE_DEPTH = "QueueDepth"
    GPU_UTILIZATION = "GPUUtilization"
    PROMETHEUS = "Prometheus"


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
    """One Prometheus series and how to turn it into the signal's unit."""

    metric: str
    aggregation: str  # "max" | "avg" | "sum": how a pod's series fold into one number
    scale: float      # multiply after folding (ratio 0..1 -> percent: 100)


#: What a definition's ``parse`` returns: MetricSpec keyword fields (``signal``, ``name``, ``query``).
Fields = Mapping[str, Any]


def _no_fields(r: FieldReader, obj: Mapping[str, Any], path: str) -> Fields | None:
    return {}


def _no_signal(metric: MetricSpec) -> Signal | None:
    return None


@dataclass(frozen=True)
class MetricDefinition:
    """One metric type (see the module docstring for what each part is for)."""

    type: MetricType
    #: Target kinds it accepts: ``averageValue``, ``averageUtilization``, ``value``.
    target_kinds: tuple[str, ...]
    #: One sample per pod (True) or one target-wide number (False).
    per_pod: bool
    #: Its key in observations and recordings; None: the spec's ``name``.
    key: str | None = None
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

    @property
    def signals(self) -> tuple[Signal, ...]:
        """Every signal some exporter provides for this type, in table order."""
        seen: dict[Signal, None] = {}
        for table in self.series.values():
            seen.update(dict.fromkeys(table))
        return tuple(seen)
