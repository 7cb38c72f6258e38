"""``Latency``: a guard on the SLO itself, the mean time to first token (or queue time)
over the poll window against ``target: {value: SECONDS}``.

``signal: ttft`` (the default) reads the time-to-first-token histogram, ``signal:
queueTime`` the time requests waited before their prefill began. Both come as a
histogram's ``_sum`` and ``_count`` counters; their per-pod rates (seconds of latency per
second, first tokens per second) are summed over the target's pods and divided: one
target-wide number, the mean over the window weighted by requests. Pods serving 10 and
30 first tokens/s with TTFT sums rising 5 s/s and 60 s/s read ``(5 + 60) / (10 + 30) =
1.625 s``; a plain mean of the pods' means (0.5 s and 2 s) would read 1.25 s.

A guard, not a load signal (:func:`autoscaler.core.proposal.propose`, the guard rule):

* above the tolerance band (1.625 s against 1 s: ratio 1.625 > 1.1) it asks
  ``ceil(ready x min(ratio, 2))`` replicas: 4 ready -> ``ceil(4 x 1.625) = 7``; the ratio
  is capped at 2 a poll, because latency grows without bound once a queue builds (a 20 s
  TTFT against 1 s would ask 20x) while capacity on its way needs ``startupSeconds`` to
  show; the next poll asks again if it is still high;
* inside the band above target it holds at current; at or below target it asks for
  ``minReplicas``, which never beats the other metrics: a guard never holds replicas up.
* no requests reached their first token in the window (``rate(_count) = 0`` with the
  series fresh) reads 0 s: nothing waited. A server that emits no first token while
  requests wait is seen by QueueDepth, not here. Series missing or stale: the metric is
  unavailable, as any metric (hold, never a scale-down).

Use it beside a load metric (QueueDepth, TokenThroughput): alone, it scales down to
``minReplicas`` whenever the SLO holds and back up when it breaks.

Series: ours, ``inference_time_to_first_token_seconds_{sum,count}`` and
``inference_queue_time_seconds_{sum,count}`` (``max`` per pod, as for the queue);
vLLM's ``vllm:time_to_first_token_seconds`` and ``vllm:request_queue_time_seconds``
histograms (``vllm/v1/metrics/loggers.py``), ``sum`` per pod over its engines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from autoscaler.fields import FieldReader
from autoscaler.metrics.types import Fields, MetricDefinition, MetricType, SeriesSpec, Signal, SignalChoice

if TYPE_CHECKING:
    pass

TTFT_SUM = Signal("ttft_seconds_sum_rate")
TTFT_COUNT = Signal("ttft_seconds_count_rate")
QUEUE_TIME_SUM = Signal("queue_time_seconds_sum_rate")
QUEUE_TIME_COUNT = Signal("queue_time_seconds_count_rate")
#: The spec's ``signal`` choices and the (numerator, denominator) each reads; the first is the default.
SIGNALS = SignalChoice({"ttft": (TTFT_SUM, TTFT_COUNT), "queueTime": (QUEUE_TIME_SUM, QUEUE_TIME_COUNT)})
#: Keys in observations and recordings (seconds, target-wide).
KEYS = {"ttft": "ttft_seconds", "queueTime": "queue_time_seconds"}


def _parse(r: FieldReader, obj: Mapping[str, Any], path: str) -> Fields | None:
    return {"signal": SIGNALS.parse(r, obj, path)}


def _counter(metric: str, aggregation: str) -> SeriesSpec:
    return SeriesSpec(metric, aggregation, 1.0, counter=True)


DEFINITION = MetricDefinition(
    type=MetricType.LATENCY,
    target_kinds=("value",),
    per_pod=False,
    signal_keys=KEYS,
    fields=("signal",),
    parse=_parse,
    mean_of=SIGNALS.of,
    guard=True,
    series={
        "ours": {
            TTFT_SUM: _counter("inference_time_to_first_token_seconds_sum", "max"),
            TTFT_COUNT: _counter("inference_time_to_first_token_seconds_count", "max"),
            QUEUE_TIME_SUM: _counter("inference_queue_time_seconds_sum", "max"),
            QUEUE_TIME_COUNT: _counter("inference_queue_time_seconds_count", "max"),
        },
        "vllm": {
            TTFT_SUM: _counter("vllm:time_to_first_token_seconds_sum", "sum"),
            TTFT_COUNT: _counter("vllm:time_to_first_token_seconds_count", "sum"),
            QUEUE_TIME_SUM: _counter("vllm:request_queue_time_seconds_sum", "sum"),
            QUEUE_TIME_COUNT: _counter("vllm:request_queue_time_seconds_count", "sum"),
        },
    },
)
