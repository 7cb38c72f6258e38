"""The metric-type registry (autoscaler/metrics): one definition per type, one list.

What the rest of the code asks of a type comes from its definition, so these checks
are what a new type's module must satisfy to plug in.
"""
from __future__ import annotations

import pytest

from autoscaler.metrics.gpu_health import GPU_HEALTH
from autoscaler.metrics.registry import DEFINITIONS, EXPORTERS, FIXED_KEYS, SIGNALS, definition_of, series_of
from autoscaler.metrics.types import MetricDefinition, MetricType
from autoscaler.spec import METRIC_TYPES, RESERVED_KEYS, MetricSpec, MetricTarget


def test_every_type_is_registered_once_and_is_a_spec_choice() -> None:
    assert sorted(d.type for d in DEFINITIONS) == sorted(MetricType)
    assert tuple(str(d.type) for d in DEFINITIONS) == METRIC_TYPES


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: str(d.type))
def test_a_definition_is_complete(definition: MetricDefinition) -> None:
    assert definition.target_kinds and set(definition.target_kinds) <= {"averageValue", "averageUtilization", "value"}
    if definition.signals:
        # Types fetched by signal (per pod, or a mean of two per-pod rates) own their keys,
        # and each signal needs our exporter's series (the default --signal-source, and
        # what the simulated fleet reports).
        assert definition.keys
        assert all(s in definition.series["ours"] for s in definition.signals)
    else:
        assert not definition.keys and "name" in definition.fields  # keyed by the spec's name
    assert definition.per_pod or not definition.signals or definition.mean_of is not None
    assert not set(definition.keys) & set(RESERVED_KEYS)


def test_every_signal_source_has_every_signal() -> None:
    for exporters in [(), *((e,) for e in EXPORTERS), ("dcgm", "vllm")]:
        assert set(series_of(exporters)) == {*SIGNALS, GPU_HEALTH}  # health: every source, no type's


@pytest.mark.parametrize("type_, key, per_pod", [
    ("QueueDepth", "queue_depth", True),
    ("GPUUtilization", "gpu_utilization", True),
    ("Prometheus", "tokens", False),
    ("TokenThroughput", "prompt_tokens_rate", True),  # signal omitted in code: the first choice
    ("KVCacheUsage", "kv_cache_usage", True),
    ("Latency", "ttft_seconds", False),
    ("Concurrency", "running_requests", True),
])
def test_a_spec_built_from_a_string_takes_its_definition(type_: str, key: str, per_pod: bool) -> None:
    m = MetricSpec(type=type_, target=MetricTarget(value=10), name="tokens", query="sum(tokens)")
    assert m.type is MetricType(type_) and m.definition is definition_of(type_)
    assert (m.key, m.per_pod) == (key, per_pod)


def test_fixed_keys_are_the_built_in_ones() -> None:
    assert {"queue_depth", "gpu_utilization", "prompt_tokens_rate", "generation_tokens_rate",
                          "kv_cache_usage", "ttft_seconds", "queue_time_seconds", "running_requests"} == FIXED_KEYS


@pytest.mark.parametrize("type_, signal, key, signals", [
    ("TokenThroughput", "prompt", "prompt_tokens_rate", ("prompt_tokens_rate",)),
    ("TokenThroughput", "generation", "generation_tokens_rate", ("generation_tokens_rate",)),
    ("KVCacheUsage", "smActive", "kv_cache_usage", ("kv_cache_usage",)),  # the default, unused
    ("Latency", "ttft", "ttft_seconds", ("ttft_seconds_sum_rate", "ttft_seconds_count_rate")),
    ("Latency", "queueTime", "queue_time_seconds", ("queue_time_seconds_sum_rate", "queue_time_seconds_count_rate")),
])
def test_a_signal_picks_the_key_and_the_series(type_: str, signal: str, key: str, signals: tuple[str, ...]) -> None:
    m = MetricSpec(type=type_, target=MetricTarget(value=10), signal=signal)
    assert m.key == key
    assert tuple(s.value for s in m.definition.signals_of(m)) == signals


@pytest.mark.parametrize("exporter, signal, metric, counter", [
    ("ours", "prompt_tokens_rate", "inference_prompt_tokens_total", True),
    ("vllm", "prompt_tokens_rate", "vllm:prompt_tokens_total", True),
    ("vllm", "generation_tokens_rate", "vllm:generation_tokens_total", True),
    ("ours", "kv_cache_usage", "inference_kv_cache_usage_ratio", False),
    ("vllm", "kv_cache_usage", "vllm:kv_cache_usage_perc", False),
    ("ours", "ttft_seconds_sum_rate", "inference_time_to_first_token_seconds_sum", True),
    ("vllm", "ttft_seconds_count_rate", "vllm:time_to_first_token_seconds_count", True),
    ("vllm", "queue_time_seconds_sum_rate", "vllm:request_queue_time_seconds_sum", True),
    ("ours", "running_requests", "inference_running_requests", False),
    ("vllm", "running_requests", "vllm:num_requests_running", False),
])
def test_work_signals_read_the_servers_names(exporter: str, signal: str, metric: str, counter: bool) -> None:
    spec = {s.value: v for s, v in series_of((exporter,)).items()}[signal]
    assert (spec.metric, spec.counter) == (metric, counter)


def test_the_older_vllm_kv_cache_name_is_read_where_the_new_one_is_absent() -> None:
    spec = {s.value: v for s, v in series_of(("vllm",)).items()}["kv_cache_usage"]
    assert spec.metrics == ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc") and spec.scale == 100
