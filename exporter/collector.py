"""The prometheus_client collector: fresh metric families from the current snapshot
on every scrape (Contract 2 in ../shared/DESIGN.md).

A value the snapshot does not have (None) is left out, never written as 0: a GPU
without GPM has no ``gpu_sm_active_ratio`` series at all, so a PromQL average over a
deployment's GPUs is not dragged down by zeros that mean "unknown". A snapshot older
than ``max_age_s`` (a sampler stuck in a driver call) publishes no GPU or queue series
either, only the exporter's own health metrics, so stale values do not look fresh.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.snapshot import UNALLOCATED, GpuReading, HistogramReading, Snapshot

GPU_LABELS = ["node", "gpu", "uuid", "model", "mig", "namespace", "pod", "container"]
QUEUE_LABELS = ["node", "namespace", "pod"]

#: (metric, help, GpuReading attribute); all gauges.
GPU_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("gpu_utilization_ratio", "NVML plain utilization: share of time any kernel ran, 0..1.", "utilization_ratio"),
    ("gpu_sm_active_ratio", "GPM SM activity: share of SMs busy, 0..1 (GPM-capable GPUs only).", "sm_active_ratio"),
    ("gpu_sm_occupancy_ratio", "GPM warp occupancy vs the theoretical maximum, 0..1.", "sm_occupancy_ratio"),
    ("gpu_tensor_active_ratio", "GPM tensor-core activity, 0..1.", "tensor_active_ratio"),
    ("gpu_dram_bandwidth_ratio", "GPM DRAM bandwidth used vs the peak, 0..1.", "dram_bandwidth_ratio"),
    ("gpu_memory_used_bytes", "Frame-buffer memory used.", "memory_used_bytes"),
    ("gpu_memory_total_bytes", "Frame-buffer memory in total.", "memory_total_bytes"),
    ("gpu_power_watts", "Board power draw.", "power_watts"),
    ("gpu_temperature_celsius", "GPU core temperature.", "temperature_celsius"),
)


class SnapshotCollector(Collector):
    """Builds the exposition from ``source()`` (the sampling thread's latest snapshot)."""

    def __init__(
        self, source: Callable[[], Snapshot], *, max_age_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._source = source
        self.max_age_s = max_age_s
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        snap = self._source()
        now = self._clock()
        if snap.taken_at is not None and now - snap.taken_at <= self.max_age_s:
            yield from gpu_families(snap)
            yield from queue_families(snap)
            yield from gpu_health_families(snap)
        yield from health_families(snap)


def _gpu_label_sets(snap: Snapshot, g: GpuReading) -> list[list[str]]:
    """One label set per holder: a time-sliced GPU held by two pods is published twice,
    once under each pod, so per-pod PromQL sees the GPU it runs on."""
    base = [snap.node, str(g.index), g.uuid, g.model, g.mig]
    return [base + [h.namespace, h.pod, h.container] for h in snap.holders.get(g.uuid, (UNALLOCATED,))]


def gpu_families(snap: Snapshot) -> Iterator[Metric]:
    labelled = [(g, _gpu_label_sets(snap, g)) for g in snap.gpus]
    up = GaugeMetricFamily(
        "gpu_up", "1 where the GPU answered NVML at the last sample, 0 where it errored.", labels=GPU_LABELS
    )
    for g, label_sets in labelled:
        for labels in label_sets:
            up.add_metric(labels, 1.0 if g.up else 0.0)
    if up.samples:
        yield up
    for name, doc, attr in GPU_GAUGES:
        family = GaugeMetricFamily(name, doc, labels=GPU_LABELS)
        for g, label_sets in labelled:
            value = getattr(g, attr)
            if value is None:
                continue
            for labels in label_sets:
                family.add_metric(labels, float(value))
        if family.samples:
            yield family


#: (metric, help, QueueReading attribute) of the histograms re-exposed per pod.
QUEUE_HISTOGRAMS: tuple[tuple[str, str, str], ...] = (
    (
        "inference_time_to_first_token_seconds",
        "Time to first token of the pod's requests, the server's own histogram and buckets.",
        "time_to_first_token",
    ),
    (
        "inference_queue_time_seconds",
        "Time the pod's requests waited before running, the server's own histogram and buckets.",
        "queue_time",
    ),
)


def _le(bound: float) -> str:
    """A bucket bound as the text format writes it: ``+Inf``, ``0.5``, ``10.0``."""
    return "+Inf" if math.isinf(bound) else repr(bound)


def queue_families(snap: Snapshot) -> Iterator[Metric]:
    """Per model-server pod: queue and running gauges, token counters, KV-cache use and
    latency histograms.

    The token series are counters carrying the server's own totals, so a server restart
    (1,000,000 -> 0) is a counter reset that ``rate()`` skips, never a negative rate;
    prometheus_client appends ``_total`` to the family name. The histograms keep the
    server's buckets, so ``histogram_quantile`` works on a sum over a deployment's pods
    (a summary's quantiles could not be added up across pods).
    """
    depth = GaugeMetricFamily("inference_queue_depth", "Requests waiting in a model-server pod.", labels=QUEUE_LABELS)
    running = GaugeMetricFamily(
        "inference_running_requests", "Requests in flight in a model-server pod.", labels=QUEUE_LABELS
    )
    prompt = CounterMetricFamily(
        "inference_prompt_tokens", "Prompt (prefill) tokens the pod's server has processed.", labels=QUEUE_LABELS
    )
    generation = CounterMetricFamily(
        "inference_generation_tokens", "Tokens the pod's server has generated.", labels=QUEUE_LABELS
    )
    kv_cache = GaugeMetricFamily(
        "inference_kv_cache_usage_ratio", "Share of the pod's KV cache in use, 0..1.", labels=QUEUE_LABELS
    )
    histograms = [(HistogramMetricFamily(name, doc, labels=QUEUE_LABELS), attr) for name, doc, attr in QUEUE_HISTOGRAMS]
    for q in snap.queues:
        labels = [snap.node, q.namespace, q.pod]
        if q.queue_depth is not None:
            depth.add_metric(labels, q.queue_depth)
        if q.running_requests is not None:
            running.add_metric(labels, q.running_requests)
        if q.prompt_tokens_total is not None:
            prompt.add_metric(labels, q.prompt_tokens_total)
        if q.generation_tokens_total is not None:
            generation.add_metric(labels, q.generation_tokens_total)
        if q.kv_cache_usage_ratio is not None:
            kv_cache.add_metric(labels, q.kv_cache_usage_ratio)
        for family, attr in histograms:
            h: HistogramReading | None = getattr(q, attr)
            if h is not None:
                family.add_metric(labels, [(_le(bound), n) for bound, n in h.buckets], h.sum)
    for built in (depth, running, prompt, generation, kv_cache, *(f for f, _ in histograms)):
        if built.samples:
            yield built


def health_families(snap: Snapshot) -> Iterator[Metric]:
    errors = CounterMetricFamily("gpu_exporter_errors", "Failed reads since start, by kind.", labels=["node", "kind"])
    for kind, n in sorted(snap.errors_total.items()):
        errors.add_metric([snap.node, kind], float(n))
    yield errors
    duration = GaugeMetricFamily(
        "gpu_exporter_scrape_duration_seconds",
        "Wall time the last sampling tick spent reading each source (nvml, podresources, queues).",
        labels=["node", "source"],
    )
    for source, seconds in sorted(snap.durations.items()):
        duration.add_metric([snap.node, source], seconds)
    if duration.samples:
        yield duration


def gpu_health_families(snap: Snapshot) -> Iterator[Metric]:
    """GPU health, with the labels of the other GPU series (and so the pod's):

    - ``gpu_healthy`` 0/1 on every GPU and MIG instance: 0 when the GPU stopped
      answering NVML or reported a fatal Xid (exporter/health.py's FATAL_XIDS);
    - ``gpu_clocks_event_reasons{reason}`` 0/1: why clocks are held down now;
    - ``gpu_xid_errors_total{xid}``: Xid events since the exporter started;
    - ``gpu_ecc_errors_total{type=corrected|uncorrected, counter=volatile|aggregate}``.

    The last three are per whole GPU (``mig=""``). A reading NVML did not give leaves
    its series out: a board without ECC has no ``gpu_ecc_errors_total``, never a 0.
    """
    healthy = GaugeMetricFamily(
        "gpu_healthy",
        "1 where the GPU can serve; 0 where it stopped answering NVML or reported a fatal Xid.",
        labels=GPU_LABELS,
    )
    clocks = GaugeMetricFamily(
        "gpu_clocks_event_reasons",
        "1 where this reason holds the GPU's clocks down now (NVML clock event reasons), else 0.",
        labels=GPU_LABELS + ["reason"],
    )
    xids = CounterMetricFamily(
        "gpu_xid_errors", "Xid errors NVML reported since the exporter started, by Xid.", labels=GPU_LABELS + ["xid"]
    )
    ecc = CounterMetricFamily(
        "gpu_ecc_errors",
        "ECC memory errors: volatile since the driver loaded, aggregate over the GPU's life.",
        labels=GPU_LABELS + ["type", "counter"],
    )
    for g in snap.gpus:
        h = g.health
        if h is None:
            continue
        for labels in _gpu_label_sets(snap, g):
            healthy.add_metric(labels, 1.0 if h.healthy else 0.0)
            for reason, held in sorted((h.clock_event_reasons or {}).items()):
                clocks.add_metric(labels + [reason], 1.0 if held else 0.0)
            for xid, n in sorted((h.xid_errors or {}).items()):
                xids.add_metric(labels + [str(xid)], float(n))
            for (kind, counter), n in sorted(h.ecc_errors.items()):
                ecc.add_metric(labels + [kind, counter], float(n))
    for family in (healthy, clocks, xids, ecc):
        if family.samples:
            yield family
