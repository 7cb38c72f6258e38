"""A GPU that reports a fatal Xid, through every real part that runs here.

The real exporter (NVML faked at the pynvml boundary, a fake kubelet naming which pod
holds which GPU, a vLLM-shaped server per pod) publishes ``gpu_healthy`` and the queue
depths; a real Prometheus scrapes it every second; the control loop with the real
Kubernetes adapters reads it through :class:`PrometheusSource` and acts on the API
emulator. Four replicas at 5, 5, 5 and 0 waiting (target 4) hold while every GPU is
healthy (average 3.75, ratio 0.94, inside the band). Once GPU 3 reports Xid 79 (fallen
off the bus), its pod is not capacity: the other three run at 5 / 4 = 1.25, and the
count goes to ``ceil(1.25 x 3) + 1 = 5``, with ``CapacityAvailable=False`` (reason
GPUUnhealthy) and one Warning Event.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.kube.client import KubeClient
from autoscaler.kube.events import KubeEventSink
from autoscaler.kube.pods import KubePodLister
from autoscaler.kube.scale import KubeScaleClient
from autoscaler.kube.scalers import KubeScalerStore
from autoscaler.loop import ControlLoop, LoopSettings, Outcome
from autoscaler.sources.prometheus import PrometheusSettings, PrometheusSource
from autoscaler.telemetry import Telemetry
from exporter.config import ExporterConfig
from exporter.service import Exporter
from exporter.targets import parse_target
from simulations.cluster.apiserver import ApiServer
from simulations.cluster.model_servers import ModelServer
from simulations.cluster.nvml import FakeGpu, FakeNvml
from simulations.cluster.prometheus import PrometheusServer, ScrapeJob, prometheus_available
from tests.controller.harness import scaler_doc
from tests.fakes.kubelet import FakeKubelet, gpu_pod

NS = "serving"
APP = {"app": "llm"}
WAITING = (5, 5, 5, 0)


class Node:
    """One GPU node: four GPUs, each held by one of ``pods``, and an exporter scraped by Prometheus."""

    def __init__(self, tmp: Path, pods: list[str]) -> None:
        self.stack = contextlib.ExitStack()
        self.nvml = FakeNvml([FakeGpu(f"GPU-{i}") for i in range(len(pods))])
        kubelet = self.stack.enter_context(FakeKubelet(tmp / "kubelet.sock"))
        kubelet.pods = [gpu_pod(NS, pod, f"GPU-{i}") for i, pod in enumerate(pods)]
        servers = [self.stack.enter_context(ModelServer("vllm", waiting=w)) for w in WAITING]
        config = ExporterConfig(listen_host="127.0.0.1", listen_port=0, interval_s=0.5, node="gpu-node-1",
                                kubelet_socket=kubelet.socket_path,
                                targets=tuple(parse_target(f"{NS}/{p}={s.url}#vllm") for p, s in zip(pods, servers, strict=True)))
        exporter = Exporter(config, nvml_lib=self.nvml)
        exporter.start()
        self.stack.callback(exporter.stop)
        host, port = exporter.server.address
        self.prometheus = PrometheusServer([ScrapeJob("gpu-exporter", [f"{host}:{port}"])])
        self.prometheus.start()
        self.stack.callback(self.prometheus.cleanup)

    def close(self) -> None:
        self.stack.close()


@pytest.fixture
def node(api: ApiServer, tmp_path: Path) -> Iterator[tuple[Node, list[str]]]:
    if not prometheus_available():
        pytest.skip("prometheus is not installed (make test installs it)")
    api.add_deployment(NS, "llm", 4, APP)
    pods = sorted(api.add_pods(NS, APP, 4, prefix="llm"))
    n = Node(tmp_path, pods)
    try:
        yield n, pods
    finally:
        n.close()


def poll(loop: ControlLoop, now: float) -> Outcome:
    [future] = loop.tick(now)
    return future.result(timeout=30)


def test_a_pod_whose_gpu_reports_a_fatal_xid_is_not_capacity(
    api: ApiServer, client: KubeClient, node: tuple[Node, list[str]]
) -> None:
    n, pods = node
    api.add_gpuscaler(scaler_doc(NS, "llm", interval=15))
    n.prometheus.wait_for(f'count(inference_queue_depth{{namespace="{NS}"}}) == 4', timeout=40)
    n.prometheus.wait_for(f'count(gpu_healthy{{namespace="{NS}"}} == 1) == 4', timeout=20)
    source = PrometheusSource(PrometheusSettings(n.prometheus.url, timeout_seconds=10.0, retries=0,
                                                 backoff_seconds=0.0))
    loop = ControlLoop(scalers=KubeScalerStore(client, compact_memory=True), scales=KubeScaleClient(client),
                       pods=KubePodLister(client), events=KubeEventSink(client), metrics=source,
                       telemetry=Telemetry(), settings=LoopSettings(jitter=0.0, workers=1))
    try:
        t = time.time()
        healthy = poll(loop, t)
        assert healthy.decision is not None
        # (5 + 5 + 5 + 0) / 4 = 3.75 against 4: inside the band, hold at 4
        assert (healthy.decision.desired_replicas, healthy.applied) == (4, False), healthy.decision.reason

        assert n.nvml.xid(3, 79) == 1  # GPU 3 has fallen off the bus: fatal
        n.prometheus.wait_for(f'gpu_healthy{{namespace="{NS}",pod="{pods[3]}"}} == 0', timeout=20)
        broken = poll(loop, t + 15)  # the next poll (samples a few seconds old)
        assert broken.decision is not None and broken.applied
        # its pod is set aside: 15 / 3 = 5 a replica, ceil(1.25 x 3) + 1 = 5
        assert broken.decision.desired_replicas == 5, broken.decision.reason
        [queue] = broken.decision.proposals
        assert queue.reason == "ceil(1.250 x 3 ready pods) + 1 with a GPU unhealthy = 5"
        assert api.deployment(NS, "llm")["spec"]["replicas"] == 5
        capacity = next(c for c in api.gpuscaler(NS, "llm")["status"]["conditions"]
                        if c["type"] == "CapacityAvailable")
        assert (capacity["status"], capacity["reason"]) == ("False", "GPUUnhealthy")
        assert pods[3] in capacity["message"] and "fatal Xid" in capacity["message"]
        poll(loop, t + 30)  # still broken: the Event is not repeated
        events = [e for e in api.events(NS) if e["reason"] == "GPUUnhealthy"]
        assert len(events) == 1 and events[0]["type"] == "Warning" and events[0].get("count", 1) == 1
    finally:
        loop.close()
        source.close()
