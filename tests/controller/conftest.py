"""The end-to-end stack, one per module (Prometheus alone takes ~5 s to first data).

Each scenario uses its own namespace, its own Deployment(s) and its own controller
process(es), whose Lease lives in that namespace, so scenarios do not meet.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autoscaler.kube.client import KubeClient, connect
from exporter.config import ExporterConfig
from exporter.discovery import PodDiscovery, kubernetes_pod_lister
from exporter.service import Exporter
from simulations.cluster.apiserver import ApiServer
from simulations.cluster.nvml import FakeNvml
from simulations.cluster.prometheus import PrometheusServer, ScrapeJob, prometheus_available
from tests.controller.harness import NODE, ControllerProcess, Workloads, write_kubeconfig


@dataclass
class Stack:
    api: ApiServer
    workloads: Workloads
    exporter: Exporter
    prometheus: PrometheusServer
    kubeconfig: Path
    tmp: Path
    processes: list[ControllerProcess] = field(default_factory=list)

    def controller(self, namespace: str, identity: str, *extra: str) -> ControllerProcess:
        process = ControllerProcess(self.tmp, self.kubeconfig, self.prometheus.url, namespace,
                                    identity=identity, extra=extra).start()
        self.processes.append(process)
        return process

    def queue_visible(self, namespace: str, pods: list[str], per_pod: float) -> bool:
        """True once Prometheus returns ``per_pod`` for every one of ``pods``."""
        rows = self.prometheus.query(f'inference_queue_depth{{namespace="{namespace}"}}')
        got = {r["metric"]["pod"]: float(r["value"][1]) for r in rows}
        return all(abs(got.get(p, -1) - per_pod) < 1e-6 for p in pods)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not prometheus_available():
        pytest.skip("prometheus is not installed (make test installs it)")
    tmp = tmp_path_factory.mktemp("e2e")
    api = ApiServer().start()
    kubeconfig = write_kubeconfig(tmp / "kubeconfig", api.url)
    workloads = Workloads(api).start()
    config = ExporterConfig(listen_host="127.0.0.1", listen_port=0, interval_s=0.5, node=NODE,
                            kubelet_socket=None, target_timeout_s=0.5)
    discovery = PodDiscovery(kubernetes_pod_lister(NODE, kubeconfig=str(kubeconfig)), refresh_s=0.5)
    exporter = Exporter(config, nvml_lib=FakeNvml([]), target_source=discovery)
    exporter.start()
    host, port = exporter.server.address
    prometheus = PrometheusServer([ScrapeJob("gpu-exporter", [f"{host}:{port}"])])
    prometheus.start()
    processes: list[ControllerProcess] = []
    try:
        prometheus.wait_for('up{job="gpu-exporter"} == 1', timeout=30)
        yield Stack(api, workloads, exporter, prometheus, kubeconfig, tmp, processes)
    finally:
        for process in processes:
            if process.running:  # a scenario that failed half-way: never leave a controller behind
                process.kill()
        prometheus.cleanup()
        exporter.stop()
        workloads.stop()
        api.stop()


@pytest.fixture
def api() -> Iterator[ApiServer]:
    """A fresh API emulator for one test (the loop-level controller tests)."""
    server = ApiServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(api: ApiServer) -> Iterator[KubeClient]:
    """The official client's KubeClient on :func:`api`; closed after the test."""
    c = connect(host=api.url)
    yield c
    c.close()
