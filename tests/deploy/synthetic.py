"""A synthetic GPU fleet for Prometheus to scrape: every Contract 2 metric (and the
agreed controller extras) with the labels the real exporter and controller use,
served by prometheus_client on 127.0.0.1.

It stands in for the real exporter (with faked NVML) and controller until tests can
start those; tests/deploy/conftest.py's ``fleet_jobs`` fixture is the one place to
swap. The state is an unhealthy fleet on purpose, so every alert's condition holds
(see ``FIRING`` in test_queries.py):

- two exporters (gpu-node-1, gpu-node-2) and a third target that does not answer
  (``up == 0``); gpu-node-2's GPU 0 fails NVML (``gpu_up 0``, its other series left
  out, as the exporter does); both count errors;
- two controller replicas, neither leading (``max(gpu_autoscaler_leader) == 0``),
  and one that does not answer; the first still reports two scalers:
  serving/llm-vllm pinned at max, serving/vision-triton with a metric missing.

Counters and the histogram grow with wall time, so ``rate()`` has something to see
from the second scrape on.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from tests.support.prometheus import ScrapeJob, free_port

GPU_LABELS = ["node", "gpu", "uuid", "model", "mig", "namespace", "pod", "container"]
H200 = "NVIDIA H200"
GiB = 1024**3


@dataclass
class Gpu:
    node: str
    index: int
    up: bool = True
    holder: tuple[str, str, str] = ("", "", "")  # namespace, pod, container
    utilization: float = 0.0
    sm_active: float = 0.0
    occupancy: float = 0.0
    tensor: float = 0.0
    dram: float = 0.0
    memory_used: float = 0.0
    power: float = 75.0
    temperature: float = 35.0

    def labels(self) -> list[str]:
        return [self.node, str(self.index), f"GPU-{self.node}-{self.index}", H200, "", *self.holder]


@dataclass
class Queue:
    namespace: str
    pod: str
    waiting: float
    running: float


@dataclass
class ExporterState:
    node: str
    gpus: list[Gpu]
    queues: list[Queue] = field(default_factory=list)
    errors_per_s: dict[str, float] = field(default_factory=dict)


class ExporterCollector(Collector):
    def __init__(self, state: ExporterState, started: float):
        self.state, self.started = state, started

    def collect(self) -> Iterator[Metric]:
        s = self.state
        up = GaugeMetricFamily("gpu_up", "GPU answered", labels=GPU_LABELS)
        gauges = {
            name: GaugeMetricFamily(name, name, labels=GPU_LABELS)
            for name in ("gpu_utilization_ratio", "gpu_sm_active_ratio", "gpu_sm_occupancy_ratio",
                         "gpu_tensor_active_ratio", "gpu_dram_bandwidth_ratio", "gpu_memory_used_bytes",
                         "gpu_memory_total_bytes", "gpu_power_watts", "gpu_temperature_celsius")
        }
        for g in s.gpus:
            up.add_metric(g.labels(), 1.0 if g.up else 0.0)
            if not g.up:
                continue  # a failed read leaves the metric out
            for name, value in (("gpu_utilization_ratio", g.utilization), ("gpu_sm_active_ratio", g.sm_active),
                                ("gpu_sm_occupancy_ratio", g.occupancy), ("gpu_tensor_active_ratio", g.tensor),
                                ("gpu_dram_bandwidth_ratio", g.dram), ("gpu_memory_used_bytes", g.memory_used),
                                ("gpu_memory_total_bytes", 141 * GiB), ("gpu_power_watts", g.power),
                                ("gpu_temperature_celsius", g.temperature)):
                gauges[name].add_metric(g.labels(), value)
        yield up
        yield from gauges.values()
        depth = GaugeMetricFamily("inference_queue_depth", "waiting", labels=["node", "namespace", "pod"])
        running = GaugeMetricFamily("inference_running_requests", "running", labels=["node", "namespace", "pod"])
        for q in s.queues:
            depth.add_metric([s.node, q.namespace, q.pod], q.waiting)
            running.add_metric([s.node, q.namespace, q.pod], q.running)
        yield depth
        yield running
        elapsed = time.time() - self.started
        errors = CounterMetricFamily("gpu_exporter_errors", "errors", labels=["node", "kind"])
        for kind, per_s in s.errors_per_s.items():
            errors.add_metric([s.node, kind], per_s * elapsed)
        yield errors
        duration = GaugeMetricFamily("gpu_exporter_scrape_duration_seconds", "sample time", labels=["node", "source"])
        for source, seconds in (("nvml", 0.004), ("podresources", 0.002), ("queues", 0.011)):
            duration.add_metric([s.node, source], seconds)
        yield duration


@dataclass
class ScalerState:
    namespace: str
    scaler: str
    current: int
    desired: int
    min: int
    max: int
    metrics: dict[str, tuple[float | None, float]]  # key -> (value or None when missing, target)
    scale_ups_per_s: float = 0.0
    scale_downs_per_s: float = 0.0


@dataclass
class ControllerState:
    leader: bool
    scalers: list[ScalerState] = field(default_factory=list)
    errors_per_s: dict[str, float] = field(default_factory=dict)
    reconciles_per_s: float = 0.0


RECONCILE_BUCKETS = [(0.005, 0.1), (0.01, 0.3), (0.025, 0.6), (0.05, 0.8), (0.1, 0.95), (0.25, 0.99), (0.5, 1.0)]


class ControllerCollector(Collector):
    def __init__(self, state: ControllerState, started: float):
        self.state, self.started = state, started

    def collect(self) -> Iterator[Metric]:
        s = self.state
        elapsed = time.time() - self.started
        per_scaler = ["namespace", "scaler"]
        families = {n: GaugeMetricFamily(f"gpu_autoscaler_{n}", n, labels=per_scaler)
                    for n in ("current_replicas", "desired_replicas", "min_replicas", "max_replicas",
                              "metrics_available")}
        value = GaugeMetricFamily("gpu_autoscaler_metric_value", "value", labels=per_scaler + ["metric"])
        target = GaugeMetricFamily("gpu_autoscaler_metric_target", "target", labels=per_scaler + ["metric"])
        events = CounterMetricFamily("gpu_autoscaler_scale_events", "events", labels=per_scaler + ["direction"])
        for sc in s.scalers:
            lv = [sc.namespace, sc.scaler]
            for name, number in (("current_replicas", sc.current), ("desired_replicas", sc.desired),
                                 ("min_replicas", sc.min), ("max_replicas", sc.max)):
                families[name].add_metric(lv, number)
            available = all(v is not None for v, _ in sc.metrics.values())
            families["metrics_available"].add_metric(lv, 1.0 if available else 0.0)
            for key, (v, t) in sc.metrics.items():
                target.add_metric(lv + [key], t)
                if v is not None:
                    value.add_metric(lv + [key], v)
            for direction, per_s in (("up", sc.scale_ups_per_s), ("down", sc.scale_downs_per_s)):
                if per_s:
                    events.add_metric(lv + [direction], per_s * elapsed)
        yield from families.values()
        yield value
        yield target
        yield events
        errors = CounterMetricFamily("gpu_autoscaler_errors", "errors", labels=["kind"])
        for kind, per_s in s.errors_per_s.items():
            errors.add_metric([kind], per_s * elapsed)
        yield errors
        n = s.reconciles_per_s * elapsed
        hist = HistogramMetricFamily("gpu_autoscaler_reconcile_duration_seconds", "reconcile time")
        hist.add_metric([], [(str(le), n * share) for le, share in RECONCILE_BUCKETS] + [("+Inf", n)], n * 0.02)
        yield hist
        leader = GaugeMetricFamily("gpu_autoscaler_leader", "leader")
        leader.add_metric([], 1.0 if s.leader else 0.0)
        yield leader


def unhealthy_fleet() -> tuple[list[ExporterState], list[ControllerState]]:
    vllm = ("serving", "llm-vllm-7d9f8-abcde", "vllm")
    triton = ("serving", "vision-triton-5c6b7-fghij", "triton")
    exporters = [
        ExporterState(
            "gpu-node-1",
            [Gpu("gpu-node-1", 0, holder=vllm, utilization=0.92, sm_active=0.35, occupancy=0.22, tensor=0.18,
                 dram=0.41, memory_used=120 * GiB, power=420, temperature=61),
             Gpu("gpu-node-1", 1, utilization=0.0, sm_active=0.0, memory_used=0.5 * GiB)],
            queues=[Queue("serving", vllm[1], waiting=12, running=64)],
            errors_per_s={"queues": 0.5},
        ),
        ExporterState(
            "gpu-node-2",
            [Gpu("gpu-node-2", 0, up=False),
             Gpu("gpu-node-2", 1, holder=triton, utilization=0.64, sm_active=0.02, occupancy=0.01, tensor=0.0,
                 dram=0.05, memory_used=9 * GiB, power=160, temperature=48)],
            queues=[Queue("serving", triton[1], waiting=3, running=8)],
            errors_per_s={"nvml": 1.0},
        ),
    ]
    controllers = [
        ControllerState(
            leader=False,
            scalers=[
                ScalerState("serving", "llm-vllm", current=8, desired=8, min=1, max=8,
                            metrics={"queue_depth": (12.0, 4.0), "gpu_utilization": (35.0, 70.0),
                                     "tokens_per_second": (2100.0, 2500.0)},
                            scale_ups_per_s=0.2),
                ScalerState("serving", "vision-triton", current=3, desired=2, min=2, max=12,
                            metrics={"queue_depth": (3.0, 8.0), "gpu_utilization": (None, 60.0),
                                     "queue_time_ms": (4.0, 20.0)},
                            scale_downs_per_s=0.1),
            ],
            errors_per_s={"get_metrics": 0.5, "rescale": 0.0},
            reconciles_per_s=2.0,
        ),
        ControllerState(leader=False, errors_per_s={"get_metrics": 0.0}, reconciles_per_s=0.0),
    ]
    return exporters, controllers


class SyntheticFleet:
    """Serves :func:`unhealthy_fleet` over HTTP; :meth:`start` returns the scrape jobs."""

    def __init__(self) -> None:
        self._servers: list[WSGIServer] = []

    def _serve(self, collector: Collector) -> str:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        port = free_port()
        server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        self._servers.append(server)
        return f"127.0.0.1:{port}"

    def start(self) -> list[ScrapeJob]:
        started = time.time()
        exporters, controllers = unhealthy_fleet()
        exporter_targets = [self._serve(ExporterCollector(e, started)) for e in exporters]
        controller_targets = [self._serve(ControllerCollector(c, started)) for c in controllers]
        # Nothing listens on these: Prometheus records up == 0 for them.
        dead_exporter, dead_controller = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        return [
            ScrapeJob("gpu-exporter", exporter_targets + [dead_exporter]),
            ScrapeJob("gpu-autoscaler", controller_targets + [dead_controller]),
        ]

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
