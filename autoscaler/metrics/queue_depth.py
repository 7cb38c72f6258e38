"""``QueueDepth``: requests waiting in each replica's model server, per pod.

Target ``averageValue: 4`` means 4 waiting requests a replica: pods at 9 and 9 ask for
``ceil(9 / 4 x 2) = 5`` replicas. Ours takes ``max`` over a pod's series so a pod scraped
twice (two jobs) is not counted double; vLLM's takes ``sum`` because a data-parallel pod
exposes one series per engine, and its queue is their total.
"""

from __future__ import annotations

from autoscaler.metrics.types import MetricDefinition, MetricType, SeriesSpec, Signal, fixed_signal

KEY = "queue_depth"
QUEUE_DEPTH = Signal("queue_depth")


DEFINITION = MetricDefinition(
    type=MetricType.QUEUE_DEPTH,
    target_kinds=("averageValue", "value"),
    per_pod=True,
    key=KEY,
    signal_of=fixed_signal(QUEUE_DEPTH),
    series={
        "ours": {QUEUE_DEPTH: SeriesSpec("inference_queue_depth", "max", 1.0)},
        "vllm": {QUEUE_DEPTH: SeriesSpec("vllm:num_requests_waiting", "sum", 1.0)},
    },
)
