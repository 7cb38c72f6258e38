"""The fleet Prometheus scrapes in the deploy tests: the real exporter (fake NVML, a
fake kubelet over its unix socket, fake model servers over HTTP) on two "nodes", and
the controller's real telemetry (autoscaler/telemetry.py) for two replicas, all on
127.0.0.1. So the dashboards and alerts are checked against the metric names and
labels the programs really expose, not against our reading of Contract 2.

The fleet is unhealthy on purpose, so that every alert's condition holds (except
``QUIET`` in test_queries.py):

- gpu-node-1: an H200 held by serving/llm-vllm-... (busy by NVML's plain counter,
  a third busy by SM activity) and an idle one; the vLLM pod has 12 requests waiting,
  processes 2,000 prompt and 300 generated tokens a second with its KV cache 85 % full,
  and records a first token and a queue wait on every controller tick;
  the vLLM GPU runs hot (clocks held by power cap, SW and HW thermal slowdown), has
  counted ECC errors (one uncorrected) and reports Xid 94, a fatal one, so it is
  unhealthy (``gpu_healthy 0``);
- gpu-node-2: GPU 0 fails NVML on every read (``gpu_up 0``, errors counting), GPU 1
  is held by serving/vision-triton-... and reports Xid 13 (an application error: the
  GPU stays healthy); a third exporter target does not answer;
- controller replica A reports two scalers, serving/llm-vllm pinned at max and
  serving/vision-triton missing a metric, and counts get_metrics errors; replica B
  is a standby; neither leads; a third controller target does not answer.

The controller side is its telemetry fed by this module, not the control loop (that
needs the API emulator; swap it in here when it can run against this fleet).
"""
from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from prometheus_client import start_http_server

from autoscaler.telemetry import MetricView, ScalerView, Telemetry
from exporter.config import ExporterConfig
from exporter.service import Exporter
from exporter.targets import parse_target
from simulations.cluster.model_servers import ModelServer, Work
from simulations.cluster.nvml import FakeGpu, FakeNvml
from simulations.cluster.prometheus import ScrapeJob, free_port
from tests.fakes.kubelet import FakeKubelet, gpu_pod

GiB = 2**30
VLLM_POD = "llm-vllm-7d9f8-abcde"
TRITON_POD = "vision-triton-5c6b7-fghij"

SCALERS = (
    ScalerView("serving", "llm-vllm", current_replicas=8, desired_replicas=8, min_replicas=1, max_replicas=8,
               metrics_available=True,
               metrics=(MetricView("queue_depth", 12.0, 4.0), MetricView("gpu_utilization", 35.0, 70.0),
                        MetricView("tokens_per_second", 2100.0, 2500.0)), unschedulable_replicas=2),
    ScalerView("serving", "vision-triton", current_replicas=3, desired_replicas=2, min_replicas=2, max_replicas=12,
               metrics_available=False,
               metrics=(MetricView("queue_depth", 3.0, 8.0), MetricView("gpu_utilization", None, 60.0),
                        MetricView("queue_time_ms", 4.0, 20.0)), unschedulable_replicas=0),
)


class Fleet:
    """:meth:`start` returns the scrape jobs; :meth:`stop` ends everything it started."""

    def __init__(self, tmp: Path) -> None:
        self._tmp = tmp
        self._stack = contextlib.ExitStack()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._vllm_work: Work | None = None

    # -- exporter ----------------------------------------------------------------
    def _exporter(self, node: str, nvml: FakeNvml, pods: list, targets: list[str]) -> str:
        kubelet = self._stack.enter_context(FakeKubelet(self._tmp / f"{node}.sock"))
        kubelet.pods = pods
        config = ExporterConfig(listen_host="127.0.0.1", listen_port=0, interval_s=1.0, node=node,
                                kubelet_socket=kubelet.socket_path, targets=tuple(parse_target(t) for t in targets))
        exporter = Exporter(config, nvml_lib=nvml)
        exporter.start()
        self._stack.callback(exporter.stop)
        host, port = exporter.server.address
        return f"{host}:{port}"

    def _exporters(self) -> list[str]:
        work = Work(prompt_tokens_per_s=2000, generation_tokens_per_s=300, kv_cache_usage=0.85)
        vllm = self._stack.enter_context(ModelServer("vllm", waiting=12, running=64, work=work))
        triton = self._stack.enter_context(ModelServer("triton", waiting=3, running=8, work=Work(kv_cache_usage=0.4)))
        self._vllm_work = work
        node1 = FakeNvml([
            FakeGpu("GPU-node1-0", utilization=92, sm_util=35.0, sm_occupancy=22.0, tensor_util=18.0, dram_bw_util=41.0,
                    memory_used=120 * GiB, power_mw=420_000, temperature=61,
                    clocks_event_reasons=0x4 | 0x20 | 0x40,  # SW power cap, SW and HW thermal slowdown
                    ecc_volatile=(12, 1), ecc_aggregate=(40, 1)),
            FakeGpu("GPU-node1-1", memory_used=GiB // 2, power_mw=75_000),
        ])
        node2 = FakeNvml([
            FakeGpu("GPU-node2-0"),
            FakeGpu("GPU-node2-1", utilization=64, sm_util=2.0, sm_occupancy=1.0, dram_bw_util=5.0,
                    memory_used=9 * GiB, power_mw=160_000, temperature=48),
        ])
        node2.fail("nvmlDeviceGetMemoryInfo", gpu=0)  # a lost GPU: every read fails
        exporters = [
            self._exporter("gpu-node-1", node1, [gpu_pod("serving", VLLM_POD, "GPU-node1-0", container="vllm")],
                           [f"serving/{VLLM_POD}={vllm.url}#vllm"]),
            self._exporter("gpu-node-2", node2, [gpu_pod("serving", TRITON_POD, "GPU-node2-1", container="triton")],
                           [f"serving/{TRITON_POD}={triton.url}#triton"]),
        ]
        # The exporters' first tick registered their GPUs for Xid events; the driver reports now.
        assert node1.xid(0, 94) == 1  # contained ECC error: fatal, the GPU needs a reset
        assert node2.xid(1, 13) == 1  # graphics engine exception: the application's fault
        return exporters

    # -- controller ----------------------------------------------------------------
    def _serve(self, telemetry: Telemetry) -> str:
        port = free_port()
        server, _ = start_http_server(port, addr="127.0.0.1", registry=telemetry.registry)
        self._stack.callback(server.server_close)
        self._stack.callback(server.shutdown)
        return f"127.0.0.1:{port}"

    def _controllers(self) -> list[str]:
        active, standby = Telemetry(), Telemetry()
        for view in SCALERS:
            active.record(view)
        for t in (active, standby):
            t.leader.set(0)
        active.replica_startup.labels("serving", "llm-vllm").observe(95.0)  # one replica measured

        def tick() -> None:
            # what the loop records as it goes: reconciles, scale events, failed fetches
            while not self._stop.wait(0.2):
                for _ in SCALERS:
                    active.reconcile_duration.observe(0.02)
                active.scale_events.labels("serving", "llm-vllm", "up").inc()
                active.scale_events.labels("serving", "vision-triton", "down").inc()
                active.errors.labels("get_metrics").inc()
                # requests finishing on the vLLM pod, so the latency histograms move (5 floats a
                # second for the life of one test module: bounded)
                if self._vllm_work is not None:
                    self._vllm_work.ttft_s.append(0.8)
                    self._vllm_work.queue_time_s.append(0.3)

        thread = threading.Thread(target=tick, name="fleet-controller-tick", daemon=True)
        thread.start()
        self._threads.append(thread)
        return [self._serve(active), self._serve(standby)]

    def start(self) -> list[ScrapeJob]:
        try:
            exporters = self._exporters()
            controllers = self._controllers()
        except BaseException:
            self.stop()
            raise
        # Nothing listens on these: Prometheus records up == 0 for them.
        dead_exporter, dead_controller = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        return [
            ScrapeJob("gpu-exporter", exporters + [dead_exporter]),
            ScrapeJob("gpu-autoscaler", controllers + [dead_controller]),
        ]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._stack.close()
