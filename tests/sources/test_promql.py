"""PromQL builders and escaping, as tables of facts. No Prometheus needed: the real
server's parse of these strings is checked in test_prometheus.py."""
from __future__ import annotations

import re

import pytest

from autoscaler.metrics.gpu_health import GPU_HEALTH
from autoscaler.metrics.gpu_utilization import SM_ACTIVE, UTILIZATION
from autoscaler.metrics.queue_depth import QUEUE_DEPTH
from autoscaler.metrics.registry import SIGNALS
from autoscaler.sources import promql
from autoscaler.sources.base import Signal
from autoscaler.sources.signals import SIGNAL_SOURCES, SeriesSpec, series_for

QUEUE = SeriesSpec("inference_queue_depth", "max", 1.0)
SM = SeriesSpec("gpu_sm_active_ratio", "avg", 100.0)


@pytest.mark.parametrize("value, quoted", [
    pytest.param("serving", '"serving"', id="plain"),
    pytest.param('a"b', '"a\\"b"', id="double-quote"),
    pytest.param("a\\b", '"a\\\\b"', id="backslash"),
    pytest.param("a\nb", '"a\\nb"', id="newline"),
    pytest.param('"} or vector(1) #', '"\\"} or vector(1) #"', id="injection-stays-a-string"),
    pytest.param("", '""', id="empty"),
])
def test_quote(value: str, quoted: str) -> None:
    assert promql.quote(value) == quoted


@pytest.mark.parametrize("value, pattern", [
    pytest.param("team-a", "team-a", id="dns-name-unchanged"),
    pytest.param("a.b", "a\\.b", id="dot"),
    pytest.param("a|b", "a\\|b", id="alternation"),
    pytest.param("(.*)", "\\(\\.\\*\\)", id="group-and-star"),
    pytest.param("x+y?[z]{2}^$", "x\\+y\\?\\[z\\]\\{2\\}\\^\\$", id="all-metacharacters"),
])
def test_regex_literal(value: str, pattern: str) -> None:
    assert promql.regex_literal(value) == pattern
    assert re.fullmatch(pattern, value)  # matches itself (RE2 and Python agree on these)


@pytest.mark.parametrize("name, ok", [
    pytest.param("serving", True, id="plain"),
    pytest.param("team-a1", True, id="dash-digit"),
    pytest.param("a" * 63, True, id="63-chars"),
    pytest.param("a" * 64, False, id="64-chars"),
    pytest.param("Serving", False, id="upper-case"),
    pytest.param("-a", False, id="leading-dash"),
    pytest.param("a.b", False, id="dot-not-in-a-label"),
    pytest.param('a"}', False, id="quote"),
    pytest.param("", False, id="empty"),
])
def test_check_namespace(name: str, ok: bool) -> None:
    if ok:
        assert promql.check_namespace(name) == name
    else:
        with pytest.raises(promql.PromQLError, match="namespace"):
            promql.check_namespace(name)


@pytest.mark.parametrize("label, values, matcher", [
    pytest.param("namespace", ["a"], 'namespace="a"', id="one-value-equality"),
    pytest.param("namespace", ["b", "a", "b"], 'namespace=~"a|b"', id="several-sorted-deduplicated"),
    pytest.param("pod", ["x.y", "z"], 'pod=~"x\\\\.y|z"', id="regex-escaped-then-quoted"),
])
def test_any_of(label: str, values: list[str], matcher: str) -> None:
    assert promql.any_of(label, values) == matcher


@pytest.mark.parametrize("bad", ["", "1abc", "a-b", "a b", 'a"'])
def test_selector_refuses_bad_metric_names(bad: str) -> None:
    with pytest.raises(promql.PromQLError):
        promql.selector(bad)


@pytest.mark.parametrize("series, namespaces, query", [
    pytest.param(QUEUE, ["a", "b"],
                 'max by (namespace, pod) (inference_queue_depth{namespace=~"a|b",pod!=""})', id="queue-two-ns"),
    pytest.param(SM, ["serving"],
                 'avg by (namespace, pod) (gpu_sm_active_ratio{namespace="serving",pod!=""}) * 100',
                 id="sm-active-percent"),
    pytest.param(QUEUE, None, 'max by (namespace, pod) (inference_queue_depth{pod!=""})', id="all-namespaces"),
    pytest.param(SeriesSpec("vllm:num_requests_waiting", "sum", 1.0), ["a"],
                 'sum by (namespace, pod) (vllm:num_requests_waiting{namespace="a",pod!=""})', id="vllm-colon-name"),
    pytest.param(SeriesSpec("DCGM_FI_DEV_GPU_UTIL", "avg", 1.0), ["a"],
                 'avg by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL{namespace="a",pod!=""})', id="dcgm-percent-as-is"),
])
def test_per_pod(series: SeriesSpec, namespaces: list[str] | None, query: str) -> None:
    assert promql.per_pod(series, namespaces) == query


def test_batched_joins_value_and_timestamp_in_one_query() -> None:
    q = promql.batched(QUEUE, ["a"])
    assert q == ('label_replace(max by (namespace, pod) (inference_queue_depth{namespace="a",pod!=""}), '
                 '"gpu_autoscaler_field", "value", "", "") or '
                 'label_replace(min by (namespace, pod) (timestamp(inference_queue_depth{namespace="a",pod!=""})), '
                 '"gpu_autoscaler_field", "timestamp", "", "")')


def test_batched_refuses_a_namespace_that_is_not_a_name() -> None:
    with pytest.raises(promql.PromQLError):
        promql.batched(QUEUE, ['a"} or up{x="'])


@pytest.mark.parametrize("kind, name, matches, rejects", [
    pytest.param("Deployment", "llm", ["llm-7d9f8b6c4d-x2x9z", "llm-5c4-bq2zx"],
                 ["llm-big-7d9f8b6c4d-x2x9z", "llm-0", "llm-7d9f8b6c4d-x2x9", "xllm-7d9f8b6c4d-x2x9z"],
                 id="deployment-hash-and-suffix"),
    pytest.param("StatefulSet", "db", ["db-0", "db-12"], ["db-a", "db-0-x"], id="statefulset-ordinals"),
    pytest.param("InferencePool", "pool", ["pool-anything"], ["pool"], id="other-kinds-prefix"),
    pytest.param("Deployment", "a.b", ["a.b-5c4-bq2zx"], ["axb-5c4-bq2zx"], id="dot-escaped"),
])
def test_workload_pod_regex(kind: str, name: str, matches: list[str], rejects: list[str]) -> None:
    pattern = promql.workload_pod_regex(kind, name)
    for pod in matches:
        assert re.fullmatch(pattern, pod), pod
    for pod in rejects:
        assert not re.fullmatch(pattern, pod), pod


@pytest.mark.parametrize("source, signal, metric, scale", [
    pytest.param("ours", QUEUE_DEPTH, "inference_queue_depth", 1, id="ours-queue"),
    pytest.param("ours", SM_ACTIVE, "gpu_sm_active_ratio", 100, id="ours-sm-ratio-to-percent"),
    pytest.param("ours", UTILIZATION, "gpu_utilization_ratio", 100, id="ours-util-ratio-to-percent"),
    pytest.param("dcgm", SM_ACTIVE, "DCGM_FI_PROF_SM_ACTIVE", 100, id="dcgm-sm-ratio-to-percent"),
    pytest.param("dcgm", UTILIZATION, "DCGM_FI_DEV_GPU_UTIL", 1, id="dcgm-util-already-percent"),
    pytest.param("dcgm", QUEUE_DEPTH, "inference_queue_depth", 1, id="dcgm-has-no-queue-ours-fills"),
    pytest.param("vllm", QUEUE_DEPTH, "vllm:num_requests_waiting", 1, id="vllm-queue"),
    pytest.param("vllm", SM_ACTIVE, "gpu_sm_active_ratio", 100, id="vllm-has-no-gpu-ours-fills"),
    pytest.param("dcgm+vllm", QUEUE_DEPTH, "vllm:num_requests_waiting", 1, id="both-queue"),
    pytest.param("dcgm+vllm", UTILIZATION, "DCGM_FI_DEV_GPU_UTIL", 1, id="both-util"),
])
def test_signal_sources(source: str, signal: Signal, metric: str, scale: float) -> None:
    spec = series_for(source)[signal]
    assert (spec.metric, spec.scale) == (metric, scale)


def test_every_signal_source_covers_every_signal() -> None:
    for table in SIGNAL_SOURCES.values():
        assert set(table) == {*SIGNALS, GPU_HEALTH}  # GPU health: for every source, not a metric type's


def test_unknown_signal_source_names_the_choices() -> None:
    with pytest.raises(KeyError, match="ours, dcgm, vllm"):
        series_for("prometheus")


TOKENS = SeriesSpec("inference_prompt_tokens_total", "max", 1.0, counter=True)
KV_VLLM = SeriesSpec("vllm:kv_cache_usage_perc", "avg", 100.0, alternatives=("vllm:gpu_cache_usage_perc",))


@pytest.mark.parametrize("series, window, expr", [
    pytest.param(TOKENS, None,
                 'max by (namespace, pod) (rate(inference_prompt_tokens_total{namespace="a",pod!=""}[60s]))',
                 id="counter-as-rate-default-window"),
    pytest.param(TOKENS, 120.0,
                 'max by (namespace, pod) (rate(inference_prompt_tokens_total{namespace="a",pod!=""}[120s]))',
                 id="counter-window-from-settings"),
    pytest.param(KV_VLLM, None,
                 'avg by (namespace, pod) (vllm:kv_cache_usage_perc{namespace="a",pod!=""} or '
                 'vllm:gpu_cache_usage_perc{namespace="a",pod!=""}) * 100', id="older-name-as-alternative"),
])
def test_per_pod_counters_and_alternatives(series: SeriesSpec, window: float | None, expr: str) -> None:
    assert promql.per_pod(series, ["a"], window) == expr


def test_a_counters_sample_time_is_its_raw_samples() -> None:
    """``timestamp(rate(...))`` is the evaluation time; the raw counter's says when it was scraped."""
    assert promql.per_pod_timestamps(TOKENS, ["a"]) == \
        'min by (namespace, pod) (timestamp(inference_prompt_tokens_total{namespace="a",pod!=""}))'


def test_record_reads_a_counter_as_its_rate() -> None:
    assert promql.over_pods(TOKENS, "serving", "llm-.+", 60) == \
        'max by (pod) (rate(inference_prompt_tokens_total{namespace="serving",pod=~"llm-.+"}[60s]))'
