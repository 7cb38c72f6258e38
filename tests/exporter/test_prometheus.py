"""A real Prometheus scrapes the real exporter over HTTP; every Contract 2 exporter
metric is queried by name and labels through prometheus-api-client.

One Prometheus for the module: its first sample takes ~5-6 s (toolchain-facts §2),
so every assertion shares that wait. The exporter runs in-process (fake NVML module,
real kubelet gRPC, real model servers) and samples every second on its own thread.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from exporter.config import ExporterConfig
from exporter.service import Exporter
from exporter.targets import parse_target
from simulations.cluster.model_servers import ModelServer, Work
from simulations.cluster.nvml import FakeGpu, FakeNvml
from simulations.cluster.prometheus import PrometheusServer, ScrapeJob, prometheus_available
from tests.fakes.kubelet import FakeKubelet, gpu_pod

pytestmark = pytest.mark.skipif(
    not prometheus_available(), reason="prometheus binary not installed (make test installs it)"
)

NODE = "gpu-node-1"
H200 = "NVIDIA H200"


@dataclass
class Stack:
    prom: PrometheusConnect
    exporter: Exporter
    nvml: FakeNvml
    server: PrometheusServer
    restarting: ModelServer

    def query(self, promql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.prom.custom_query(promql, timeout=5)
        return result


def busy() -> Work:
    """50 prompt and 20 generated tokens a second, a quarter of the KV cache in use,
    first tokens after 0.05, 0.3 and 4 s, waits of 0.2 and 0.9 s."""
    return Work(
        prompt_tokens_per_s=50, generation_tokens_per_s=20, kv_cache_usage=0.25,
        ttft_s=[0.05, 0.3, 4.0], queue_time_s=[0.2, 0.9],
    )  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("exporter-prom")
    nvml = FakeNvml(
        [
            FakeGpu(
                "GPU-busy",
                utilization=97,
                memory_used=80 * 2**30,
                power_mw=650_000,
                temperature=71,
                sm_util=78.0,
                sm_occupancy=41.0,
                tensor_util=66.0,
                dram_bw_util=35.0,
            ),
            FakeGpu("GPU-old", name="NVIDIA A10", gpm=False, utilization=17, memory_total=24 * 2**30, power_mw=60_000),
            FakeGpu("GPU-lost"),
        ]
    )
    with (
        FakeKubelet(tmp / "kubelet.sock") as kubelet,
        ModelServer("vllm", waiting=7, running=3, work=busy()) as vllm,
        ModelServer("vllm", work=Work(prompt_tokens=1_000_000, prompt_tokens_per_s=50)) as restarting,
        ModelServer("sglang", work=busy()) as sglang,
        ModelServer("tgi", work=busy()) as tgi,
        ModelServer("triton", waiting=4, work=Work(kv_cache_usage=0.5)) as triton,
        ModelServer("garbage") as garbage,
    ):
        kubelet.pods = [gpu_pod("serving", "llm-0", "GPU-busy", container="vllm")]
        targets = (
            parse_target(f"serving/llm-0={vllm.url}"),
            parse_target(f"serving/llm-1={restarting.url}#vllm"),
            parse_target(f"serving/sglang-0={sglang.url}#sglang"),
            parse_target(f"serving/tgi-0={tgi.url}#tgi"),
            parse_target(f"serving/triton-0={triton.url}#triton"),
            parse_target(f"serving/broken-0={garbage.url}"),
        )
        config = ExporterConfig(
            listen_host="127.0.0.1",
            listen_port=0,
            interval_s=1.0,
            node=NODE,
            kubelet_socket=kubelet.socket_path,
            targets=targets,
        )
        exporter = Exporter(config, nvml_lib=nvml)
        nvml.fail("nvmlDeviceGetMemoryInfo", gpu=2)  # GPU 2 errors from its first read on
        exporter.start()
        host, port = exporter.server.address
        try:
            with PrometheusServer([ScrapeJob("gpu-exporter", [f"{host}:{port}"])]) as server:
                prom = PrometheusConnect(server.url, disable_ssl=True, retry=Retry(total=0), timeout=5)
                # The first sample takes ~5-6 s; the GPM series needs the exporter's 2nd tick too.
                server.wait_for('gpu_sm_active_ratio{uuid="GPU-busy"}', timeout=30)
                yield Stack(prom, exporter, nvml, server, restarting)
        finally:
            exporter.stop()


def one(stack: Stack, promql: str) -> tuple[dict[str, str], float]:
    result = stack.query(promql)
    assert len(result) == 1, (promql, result)
    return result[0]["metric"], float(result[0]["value"][1])


ALLOCATED = f'node="{NODE}",gpu="0",uuid="GPU-busy",model="{H200}",namespace="serving",pod="llm-0",container="vllm"'


@pytest.mark.parametrize(
    "metric, expected",
    [
        pytest.param("gpu_utilization_ratio", 0.97, id="utilization"),
        pytest.param("gpu_sm_active_ratio", 0.78, id="sm-active"),
        pytest.param("gpu_sm_occupancy_ratio", 0.41, id="sm-occupancy"),
        pytest.param("gpu_tensor_active_ratio", 0.66, id="tensor-active"),
        pytest.param("gpu_dram_bandwidth_ratio", 0.35, id="dram-bandwidth"),
        pytest.param("gpu_memory_used_bytes", 80 * 2**30, id="memory-used"),
        pytest.param("gpu_memory_total_bytes", 141 * 2**30, id="memory-total"),
        pytest.param("gpu_power_watts", 650.0, id="power"),  # 650000 mW
        pytest.param("gpu_temperature_celsius", 71.0, id="temperature"),
        pytest.param("gpu_up", 1.0, id="up"),
    ],
)
def test_gpu_metrics_of_an_allocated_gpu(stack: Stack, metric: str, expected: float) -> None:
    labels, value = one(stack, f"{metric}{{{ALLOCATED}}}")
    assert value == pytest.approx(expected)
    assert labels["job"] == "gpu-exporter"


def test_unallocated_gpu_without_gpm(stack: Stack) -> None:
    _, util = one(stack, f'gpu_utilization_ratio{{node="{NODE}",gpu="1",uuid="GPU-old",model="NVIDIA A10",pod=""}}')
    assert util == pytest.approx(0.17)
    assert stack.query('gpu_sm_active_ratio{uuid="GPU-old"}') == []  # absent, not 0
    labels, _ = one(stack, 'gpu_up{uuid="GPU-old"}')
    assert "pod" not in labels and "namespace" not in labels  # empty labels are no labels in Prometheus


def test_a_lost_gpu_is_down_and_counted(stack: Stack) -> None:
    _, up = one(stack, f'gpu_up{{node="{NODE}",gpu="2",uuid="GPU-lost"}}')
    assert up == 0.0
    assert stack.query('gpu_power_watts{uuid="GPU-lost"}') == []
    _, errors = one(stack, f'gpu_exporter_errors_total{{node="{NODE}",kind="nvml"}}')
    assert errors >= 1.0


def test_queue_metrics(stack: Stack) -> None:
    assert one(stack, f'inference_queue_depth{{node="{NODE}",namespace="serving",pod="llm-0"}}')[1] == 7.0
    assert one(stack, f'inference_running_requests{{node="{NODE}",namespace="serving",pod="llm-0"}}')[1] == 3.0
    assert one(stack, 'inference_queue_depth{namespace="serving",pod="triton-0"}')[1] == 4.0
    assert stack.query('inference_queue_depth{pod="broken-0"}') == []  # the garbage target lost only its own series
    assert one(stack, f'gpu_exporter_errors_total{{node="{NODE}",kind="queue_parse"}}')[1] >= 1.0


def test_exporter_health_metrics(stack: Stack) -> None:
    sources = {r["metric"]["source"] for r in stack.query(f'gpu_exporter_scrape_duration_seconds{{node="{NODE}"}}')}
    assert sources == {"nvml", "podresources", "queues"}
    kinds = {r["metric"]["kind"] for r in stack.query(f'gpu_exporter_errors_total{{node="{NODE}"}}')}
    assert kinds == {"nvml", "gpm", "podresources", "queue_fetch", "queue_parse", "discovery"}
    assert one(stack, 'gpu_exporter_errors_total{kind="podresources"}')[1] == 0.0


def metadata_type(stack: Stack, metric: str) -> str:
    """The type Prometheus recorded from the exporter's ``# TYPE`` line."""
    qs = urllib.parse.urlencode({"metric": metric})
    with urllib.request.urlopen(f"{stack.server.url}/api/v1/metadata?{qs}", timeout=5) as r:
        data = json.load(r)["data"]
    return str(data[metric][0]["type"]) if metric in data else "absent"


@pytest.mark.parametrize(
    "metric, kind",
    [
        pytest.param("inference_prompt_tokens_total", "counter", id="prompt-tokens"),
        pytest.param("inference_generation_tokens_total", "counter", id="generation-tokens"),
        pytest.param("inference_kv_cache_usage_ratio", "gauge", id="kv-cache"),
        pytest.param("inference_running_requests", "gauge", id="running"),
        pytest.param("inference_time_to_first_token_seconds", "histogram", id="ttft"),
        pytest.param("inference_queue_time_seconds", "histogram", id="queue-time"),
    ],
)
def test_work_series_have_their_type(stack: Stack, metric: str, kind: str) -> None:
    assert metadata_type(stack, metric) == kind


@pytest.mark.parametrize("pod", ["llm-0", "sglang-0", "tgi-0"])
def test_token_rates_per_pod(stack: Stack, pod: str) -> None:
    """The servers add 50 prompt and 20 generated tokens a second; rate() over the
    exporter's counters sees that once the window holds 5 scrapes (a series younger
    than its window reads low: rate() does not extrapolate past its first sample)."""
    for metric, per_s in (("inference_prompt_tokens_total", 50.0), ("inference_generation_tokens_total", 20.0)):
        selector = f'{metric}{{node="{NODE}",namespace="serving",pod="{pod}"}}'
        stack.server.wait_for(f"count_over_time({selector}[5s]) >= 5", timeout=20)
        _, rate = one(stack, f"rate({selector}[5s])")
        assert rate == pytest.approx(per_s, rel=0.3), selector


def test_kv_cache_and_latency_per_pod(stack: Stack) -> None:
    assert one(stack, f'inference_kv_cache_usage_ratio{{node="{NODE}",namespace="serving",pod="llm-0"}}')[1] == 0.25
    assert one(stack, 'inference_kv_cache_usage_ratio{pod="triton-0"}')[1] == 0.5  # kv_cache_block_type="fraction"
    assert stack.query('inference_kv_cache_usage_ratio{pod="tgi-0"}') == []  # TGI has no KV gauge: absent, not 0
    assert stack.query('inference_prompt_tokens_total{pod="triton-0"}') == []  # nor Triton a token counter
    # first tokens at 0.05, 0.3 and 4 s: 2 of 3 within 0.5 s on vLLM's own bounds
    assert one(stack, 'inference_time_to_first_token_seconds_bucket{pod="llm-0",le="0.5"}')[1] == 2.0
    assert one(stack, 'inference_time_to_first_token_seconds_count{pod="sglang-0"}')[1] == 3.0
    assert one(stack, 'inference_queue_time_seconds_count{pod="tgi-0"}')[1] == 2.0
    _, median = one(stack, 'histogram_quantile(0.5, sum by (le) (inference_time_to_first_token_seconds_bucket))')
    assert 0.1 < median <= 0.5  # pooled over llm-0 and sglang-0: 6 first tokens, the middle ones at 0.3 s


def test_a_server_restart_is_a_counter_reset_not_a_negative_rate(stack: Stack) -> None:
    """llm-1 restarts: its total falls from ~1,000,000 to ~0. Prometheus sees a counter
    reset and rate() stays >= 0 (a gauge would fall, and deriv() go negative)."""
    selector = f'inference_prompt_tokens_total{{node="{NODE}",namespace="serving",pod="llm-1"}}'
    stack.server.wait_for(f"{selector} > 999000", timeout=15)
    stack.restarting.work = Work(prompt_tokens_per_s=50)
    stack.server.wait_for(f"resets({selector}[1m]) > 0", timeout=20)
    _, rate = one(stack, f"rate({selector}[1m])")
    assert 0.0 <= rate < 1000.0  # ~50 a second either side of the reset, not -1,000,000 / 60
