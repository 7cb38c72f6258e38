"""``Concurrency``: requests each replica is running (past their wait), per pod.

Occupancy, the resource a continuous-batching server runs out of first on short and
medium prompts: a replica runs at most its batch's slots at once (``--max-num-seqs``, 48
in the default scenario); when they are held, new requests wait however idle the SMs
look. KV-cache use is the other view of the same pressure, but it saturates early where
slots fill before the cache does (48 slots x ~1.1k tokens = 43 % of a 120k-token cache):
a KV target of 70 % then never fires. Running requests against slots always reaches 100 %.

Compared with ``target: {averageValue: N}`` requests a replica by HPA's averageValue
rule: 70 % of 48 slots is 33.6; pods running 45 and 35 against 33.6 ask for
``ceil(40 / 33.6 x 2) = 3``. A running count never exceeds the slots, so under overload
the ratio stops at ``slots / target`` (1.43 at 70 %): pair it with a guard (``Latency``)
or with ``QueueDepth`` that sees what waits.

Series: ours, ``inference_running_requests`` (DESIGN.md Contract 2), ``max`` per pod as
for the queue; vLLM's ``vllm:num_requests_running`` (gauge, "Number of requests in model
execution batches", ``vllm/v1/metrics/loggers.py``), ``sum`` per pod over its engines.
"""

from __future__ import annotations

from autoscaler.metrics.types import MetricDefinition, MetricType, SeriesSpec, Signal, fixed_signal

KEY = "running_requests"
RUNNING_REQUESTS = Signal("running_requests")


DEFINITION = MetricDefinition(
    type=MetricType.CONCURRENCY,
    target_kinds=("averageValue", "value"),
    per_pod=True,
    key=KEY,
    signal_of=fixed_signal(RUNNING_REQUESTS),
    series={
        "ours": {RUNNING_REQUESTS: SeriesSpec("inference_running_requests", "max", 1.0)},
        "vllm": {RUNNING_REQUESTS: SeriesSpec("vllm:num_requests_running", "sum", 1.0)},
    },
)
