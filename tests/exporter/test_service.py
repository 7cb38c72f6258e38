"""The whole exporter in-process: fake NVML module, real kubelet gRPC on a unix socket,
real model servers, scraped over real HTTP. Ticks are driven by hand (interval 1 h)
so every assertion sees a known snapshot."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import ExporterConfig
from exporter.service import Exporter
from exporter.targets import parse_target
from tests.fakes.kubelet import FakeKubelet, gpu_pod
from simulations.cluster.model_servers import ModelServer
from simulations.cluster.nvml import FakeNvml, h200s

UUID = "GPU-00000000-0000-0000-0000-0000000000{:02d}"


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def series(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples
    }


def value(text: str, name: str, **labels: str) -> list[float]:
    return [v for (n, ls), v in series(text).items() if n == name and labels.items() <= dict(ls).items()]


@pytest.fixture
def kubelet(tmp_path: Path) -> Iterator[FakeKubelet]:
    with FakeKubelet(tmp_path / "kubelet.sock") as k:
        yield k


@pytest.fixture
def vllm() -> Iterator[ModelServer]:
    with ModelServer("vllm", waiting=7, running=3) as s:
        yield s


def config(kubelet: FakeKubelet, *urls: str) -> ExporterConfig:
    return ExporterConfig(
        listen_host="127.0.0.1", listen_port=0, interval_s=3600.0, node="gpu-node-1",
        kubelet_socket=kubelet.socket_path, targets=tuple(parse_target(u) for u in urls),
    )  # fmt: skip


def test_metrics_and_health_over_http(kubelet: FakeKubelet, vllm: ModelServer) -> None:
    fake = FakeNvml(h200s(2))
    fake.gpus[0].utilization, fake.gpus[0].sm_util = 97, 78.0
    kubelet.pods = [gpu_pod("serving", "llm-0", UUID.format(0), container="vllm")]
    with Exporter(config(kubelet, f"serving/llm-0={vllm.url}"), nvml_lib=fake) as ex:
        ex.thread.tick_once()  # a second tick: GPM has its two samples
        status, text = get(ex.url + "/metrics")
        assert status == 200
        assert value(
            text,
            "gpu_utilization_ratio",
            gpu="0",
            pod="llm-0",
            namespace="serving",
            container="vllm",
            node="gpu-node-1",
        ) == [0.97]
        assert value(text, "gpu_sm_active_ratio", gpu="0", uuid=UUID.format(0), model="NVIDIA H200") == [0.78]
        assert value(text, "gpu_up", gpu="1", pod="") == [1.0]  # unallocated: empty pod labels
        assert value(text, "inference_queue_depth", namespace="serving", pod="llm-0") == [7.0]
        assert value(text, "inference_running_requests", namespace="serving", pod="llm-0") == [3.0]
        assert get(ex.url + "/healthz") == (200, "ok: 2 GPU devices, 1 queue targets\n")
        assert get(ex.url + "/nope")[0] == 404


def test_kubelet_down_gpu_metrics_flow_without_pod_labels(kubelet: FakeKubelet) -> None:
    kubelet.pods = [gpu_pod("serving", "llm-0", UUID.format(0))]
    kubelet.failing = True
    with Exporter(config(kubelet), nvml_lib=FakeNvml(h200s(1))) as ex:
        _, text = get(ex.url + "/metrics")
        assert value(text, "gpu_up", gpu="0") == [1.0]
        assert value(text, "gpu_up", pod="llm-0") == []
        assert value(text, "gpu_exporter_errors_total", kind="podresources") == [1.0]
        kubelet.failing = False
        ex.thread.tick_once()
        _, text = get(ex.url + "/metrics")
        assert value(text, "gpu_up", pod="llm-0") == [1.0]  # labels back on the next tick
        assert value(text, "gpu_exporter_errors_total", kind="podresources") == [1.0]  # counter kept


def test_one_lost_gpu(kubelet: FakeKubelet) -> None:
    fake = FakeNvml(h200s(3))
    with Exporter(config(kubelet), nvml_lib=fake) as ex:
        fake.fail("nvmlDeviceGetUtilizationRates", gpu=2)
        ex.thread.tick_once()
        _, text = get(ex.url + "/metrics")
        assert [value(text, "gpu_up", gpu=str(i))[0] for i in range(3)] == [1.0, 1.0, 0.0]
        assert value(text, "gpu_utilization_ratio", gpu="2") == []
        assert value(text, "gpu_exporter_errors_total", kind="nvml") == [1.0]
        assert get(ex.url + "/healthz")[0] == 200  # one GPU down is a metric, not an unhealthy exporter


def test_no_nvml_healthz_fails_with_the_reason(kubelet: FakeKubelet) -> None:
    with Exporter(config(kubelet), nvml_lib=FakeNvml([], library_missing=True)) as ex:
        assert get(ex.url + "/healthz") == (503, "NVML unavailable: NVML Shared Library Not Found (NVML error 12)\n")
        status, text = get(ex.url + "/metrics")
        assert status == 200 and value(text, "gpu_up") == []
        assert value(text, "gpu_exporter_errors_total", kind="nvml") == [0.0]


def test_a_stalled_sampler_fails_healthz_and_drops_gpu_series(kubelet: FakeKubelet) -> None:
    clock = Clock()
    cfg = replace(config(kubelet), interval_s=5.0)  # max age max(3 x 5, 15) = 15 s
    with Exporter(cfg, nvml_lib=FakeNvml(h200s(1)), clock=clock) as ex:
        assert get(ex.url + "/healthz")[0] == 200
        clock.t += 16  # no tick for 16 s
        status, reason = get(ex.url + "/healthz")
        assert status == 503 and reason.startswith("sampler stalled: last sample 16s ago")
        _, text = get(ex.url + "/metrics")
        assert value(text, "gpu_up") == [] and value(text, "gpu_exporter_errors_total", kind="nvml") == [0.0]
