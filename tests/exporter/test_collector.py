"""Snapshot -> Prometheus exposition: names and labels of Contract 2, absent not 0."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.collector import SnapshotCollector
from exporter.snapshot import GpuReading, HistogramReading, Holder, QueueReading, Snapshot, frozen_map

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
NOW = 1_800_000_000.0


def scrape(snap: Snapshot, *, now: float = NOW, max_age_s: float = 15.0) -> Series:
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snap, max_age_s=max_age_s, clock=lambda: now))
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples
    }


def gpu_labels(
    gpu: str, uuid: str, *, mig: str = "", ns: str = "", pod: str = "", container: str = ""
) -> frozenset[tuple[str, str]]:
    return frozenset(
        {
            "node": "n1",
            "gpu": gpu,
            "uuid": uuid,
            "model": "NVIDIA H200",
            "mig": mig,
            "namespace": ns,
            "pod": pod,
            "container": container,
        }.items()
    )


def names(series: Series) -> set[str]:
    return {name for name, _ in series}


FULL = GpuReading(
    0, "GPU-a", "NVIDIA H200",
    utilization_ratio=0.97, memory_used_bytes=40 * 2**30, memory_total_bytes=141 * 2**30,
    power_watts=312.0, temperature_celsius=61.0,
    sm_active_ratio=0.78, sm_occupancy_ratio=0.4, tensor_active_ratio=0.6, dram_bandwidth_ratio=0.3,
)  # fmt: skip
NO_GPM = GpuReading(
    1,
    "GPU-b",
    "NVIDIA H200",
    utilization_ratio=0.17,
    memory_used_bytes=0,
    memory_total_bytes=141 * 2**30,
    power_watts=90.0,
    temperature_celsius=30.0,
)
DOWN = GpuReading(2, "GPU-c", "NVIDIA H200", up=False)


def snapshot(**kw: object) -> Snapshot:
    base: dict[str, object] = {
        "node": "n1",
        "taken_at": NOW - 1,
        "gpus": (FULL, NO_GPM, DOWN),
        "holders": frozen_map({"GPU-a": (Holder("serving", "llm-0", "vllm"),)}),
        "queues": (QueueReading("serving", "llm-0", 7.0, 3.0), QueueReading("serving", "triton-0", 4.0, None)),
        "errors_total": frozen_map({"nvml": 2, "queue_fetch": 0}),
        "durations": frozen_map({"nvml": 0.004, "queues": 0.2}),
    }
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_every_gpu_metric_with_pod_labels_when_allocated() -> None:
    s = scrape(snapshot())
    a = gpu_labels("0", "GPU-a", ns="serving", pod="llm-0", container="vllm")
    assert s[("gpu_utilization_ratio", a)] == 0.97
    assert s[("gpu_sm_active_ratio", a)] == 0.78
    assert s[("gpu_sm_occupancy_ratio", a)] == 0.4
    assert s[("gpu_tensor_active_ratio", a)] == 0.6
    assert s[("gpu_dram_bandwidth_ratio", a)] == 0.3
    assert s[("gpu_memory_used_bytes", a)] == 40 * 2**30
    assert s[("gpu_memory_total_bytes", a)] == 141 * 2**30
    assert s[("gpu_power_watts", a)] == 312.0
    assert s[("gpu_temperature_celsius", a)] == 61.0
    assert s[("gpu_up", a)] == 1.0


def test_unknown_values_are_absent_not_zero() -> None:
    s = scrape(snapshot())
    b, c = gpu_labels("1", "GPU-b"), gpu_labels("2", "GPU-c")  # unallocated: empty pod labels
    assert s[("gpu_utilization_ratio", b)] == 0.17
    assert ("gpu_sm_active_ratio", b) not in s  # no GPM on that GPU
    assert s[("gpu_up", c)] == 0.0
    assert [name for name, labels in s if labels == c] == ["gpu_up"]  # a down GPU has only gpu_up


def test_queue_metrics_per_pod() -> None:
    s = scrape(snapshot())
    llm = frozenset({"node": "n1", "namespace": "serving", "pod": "llm-0"}.items())
    triton = frozenset({"node": "n1", "namespace": "serving", "pod": "triton-0"}.items())
    assert (s[("inference_queue_depth", llm)], s[("inference_running_requests", llm)]) == (7.0, 3.0)
    assert s[("inference_queue_depth", triton)] == 4.0 and ("inference_running_requests", triton) not in s


def test_exporter_health_metrics() -> None:
    s = scrape(snapshot())
    assert s[("gpu_exporter_errors_total", frozenset({"node": "n1", "kind": "nvml"}.items()))] == 2.0
    assert s[("gpu_exporter_errors_total", frozenset({"node": "n1", "kind": "queue_fetch"}.items()))] == 0.0
    assert s[("gpu_exporter_scrape_duration_seconds", frozenset({"node": "n1", "source": "queues"}.items()))] == 0.2


def test_a_time_sliced_gpu_is_published_under_each_holder() -> None:
    holders = frozen_map({"GPU-a": (Holder("s", "p1", "c"), Holder("s", "p2", "c"))})
    s = scrape(snapshot(holders=holders, gpus=(FULL,)))
    pods = sorted(dict(labels)["pod"] for name, labels in s if name == "gpu_sm_active_ratio")
    assert pods == ["p1", "p2"]


def test_mig_instances_carry_their_mig_label() -> None:
    mig = GpuReading(
        0, "MIG-x", "NVIDIA H200", mig="7", memory_used_bytes=5, memory_total_bytes=18 * 2**30, sm_active_ratio=0.5
    )
    s = scrape(snapshot(gpus=(mig,), holders=frozen_map({"MIG-x": (Holder("s", "p", "c"),)})))
    assert s[("gpu_sm_active_ratio", gpu_labels("0", "MIG-x", mig="7", ns="s", pod="p", container="c"))] == 0.5


def test_a_stale_snapshot_publishes_only_exporter_health() -> None:
    # taken 16 s before the scrape, limit 15 s: the sampler is stuck
    stale = scrape(snapshot(taken_at=NOW - 16), max_age_s=15.0)
    assert names(stale) == {"gpu_exporter_errors_total", "gpu_exporter_scrape_duration_seconds"}
    assert "gpu_up" in names(scrape(snapshot(taken_at=NOW - 15), max_age_s=15.0))


def test_before_the_first_tick_there_is_nothing_to_publish() -> None:
    assert names(scrape(Snapshot(node="n1"))) == set()


def test_each_scrape_builds_fresh_families() -> None:
    snaps = [snapshot(queues=(QueueReading("s", "p", 1.0),)), snapshot(queues=(QueueReading("s", "p", 9.0),))]
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snaps[0], max_age_s=15.0, clock=lambda: NOW))
    first = generate_latest(registry).decode()
    snaps.pop(0)
    second = generate_latest(registry).decode()
    assert 'inference_queue_depth{namespace="s",node="n1",pod="p"} 1.0' in first
    assert 'inference_queue_depth{namespace="s",node="n1",pod="p"} 9.0' in second
    assert 'pod="p"} 1.0' not in second


def test_work_series_per_pod_with_their_types() -> None:
    """Token totals are counters (``_total``), KV use a gauge, latencies histograms that
    keep the server's bounds; a pod without them (Triton's tokens) has none, not 0."""
    ttft = HistogramReading(((0.5, 2.0), (1.0, 3.0), (math.inf, 4.0)), 5.5)
    llm = QueueReading(
        "serving", "llm-0", 7.0, 3.0,
        prompt_tokens_total=1200.0, generation_tokens_total=300.0, kv_cache_usage_ratio=0.25,
        time_to_first_token=ttft, queue_time=HistogramReading(((math.inf, 0.0),), 0.0),
    )  # fmt: skip
    triton = QueueReading("serving", "triton-0", 4.0, None, kv_cache_usage_ratio=0.5)
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot(queues=(llm, triton)), max_age_s=15.0, clock=lambda: NOW))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    types = {name: families[name].type for name in families if name.startswith("inference_")}
    assert types == {
        "inference_queue_depth": "gauge",
        "inference_running_requests": "gauge",
        "inference_prompt_tokens": "counter",  # exposed as inference_prompt_tokens_total
        "inference_generation_tokens": "counter",
        "inference_kv_cache_usage_ratio": "gauge",
        "inference_time_to_first_token_seconds": "histogram",
        "inference_queue_time_seconds": "histogram",
    }
    pod = {"namespace": "serving", "node": "n1", "pod": "llm-0"}
    samples = {(s.name, frozenset(s.labels.items())): s.value for f in families.values() for s in f.samples}
    assert samples[("inference_prompt_tokens_total", frozenset(pod.items()))] == 1200.0
    assert samples[("inference_generation_tokens_total", frozenset(pod.items()))] == 300.0
    assert samples[("inference_kv_cache_usage_ratio", frozenset(pod.items()))] == 0.25
    buckets = {s.labels["le"]: s.value for s in families["inference_time_to_first_token_seconds"].samples
               if s.name.endswith("_bucket")}  # fmt: skip
    assert buckets == {"0.5": 2.0, "1.0": 3.0, "+Inf": 4.0}
    assert samples[("inference_time_to_first_token_seconds_count", frozenset(pod.items()))] == 4.0
    assert samples[("inference_time_to_first_token_seconds_sum", frozenset(pod.items()))] == 5.5
    triton_pod = frozenset({**pod, "pod": "triton-0"}.items())
    assert samples[("inference_kv_cache_usage_ratio", triton_pod)] == 0.5
    assert ("inference_prompt_tokens_total", triton_pod) not in samples
