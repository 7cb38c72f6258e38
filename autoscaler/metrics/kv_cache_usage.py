"""``KVCacheUsage``: the share of each replica's KV cache in use, in percent 0..100, per pod.

Memory pressure, the resource a long-context server runs out of first: when the cache is
full, the server stops admitting requests (or preempts running ones) while its SMs may
look idle. Compared with ``target: {averageUtilization: P}`` (percent of the KV cache, the
same convention as GPUUtilization's): pods at 90 % and 60 % against 50 % ask for
``ceil(75 / 50 x 2) = 3`` replicas.

Series: ours, ``inference_kv_cache_usage_ratio`` (0..1, DESIGN.md Contract 2); vLLM's
``vllm:kv_cache_usage_perc`` (a 0..1 ratio despite its name; "1 means 100 percent usage",
``vllm/v1/metrics/loggers.py``), or its older name ``vllm:gpu_cache_usage_perc`` where a
server still has only that. Both ``avg`` per pod: a data-parallel pod has one cache per
engine, and its pressure is their mean. Times 100: percent.
"""

from __future__ import annotations

from autoscaler.metrics.types import MetricDefinition, MetricType, SeriesSpec, Signal, fixed_signal

KEY = "kv_cache_usage"
KV_CACHE_USAGE = Signal("kv_cache_usage")


DEFINITION = MetricDefinition(
    type=MetricType.KV_CACHE_USAGE,
    target_kinds=("averageUtilization", "averageValue", "value"),
    per_pod=True,
    key=KEY,
    signal_of=fixed_signal(KV_CACHE_USAGE),
    series={
        "ours": {KV_CACHE_USAGE: SeriesSpec("inference_kv_cache_usage_ratio", "avg", 100.0)},
        "vllm": {
            KV_CACHE_USAGE: SeriesSpec(
                "vllm:kv_cache_usage_perc", "avg", 100.0, alternatives=("vllm:gpu_cache_usage_perc",)
            )
        },
    },
    ceiling=100.0,
)
