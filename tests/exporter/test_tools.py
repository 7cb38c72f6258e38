"""The benchmark and the device check, run cheaply: they must keep working, and the
device check's reading of ``/metrics`` is checked against a fake-NVML exporter. No
timing assertions: the figures are for people."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.config import ExporterConfig
from exporter.device_check import PHASES, scrape, summarize, table
from exporter.service import Exporter
from simulations.cluster.nvml import FakeGpu, FakeMig, FakeNvml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    nvml = FakeNvml(
        [
            FakeGpu("GPU-0", utilization=17, sm_util=0.26, sm_occupancy=1.0),  # the tiny-kernel loop, as on an H200
            FakeGpu("GPU-1", utilization=97, sm_util=78.0, migs=[FakeMig(0, 1, "MIG-1", sm_util=5.0)]),
        ]
    )
    config = ExporterConfig(
        listen_host="127.0.0.1", listen_port=0, interval_s=3600.0, node="device-check", kubelet_socket=None
    )
    with Exporter(config, nvml_lib=nvml) as ex:
        ex.thread.tick_once()
        yield ex


def test_device_check_reads_one_gpu_from_metrics(exporter: Exporter) -> None:
    got = scrape(exporter.url)
    assert got.values["gpu_utilization_ratio"] == pytest.approx(0.17)
    assert got.values["gpu_sm_active_ratio"] == pytest.approx(0.0026)  # 0.26 % -> ratio
    assert got.nvml_seconds is not None and got.seconds > 0
    whole = scrape(exporter.url, gpu="1")
    # A MIG-enabled GPU: the whole-GPU series has neither (GPM is per instance, plain
    # utilization does not exist under MIG); the device check reads whole GPUs only.
    assert "gpu_sm_active_ratio" not in whole.values and "gpu_utilization_ratio" not in whole.values
    result = summarize("tiny_kernels", [got, got])
    assert result.scrapes == 2
    assert result.utilization == pytest.approx(0.17) and result.sm_active == pytest.approx(0.0026)
    assert "tiny_kernels" in table([result]) and PHASES == ("idle", "matmul", "tiny_kernels")


def test_bench_runs_and_prints_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.exporter", "--scrapes", "200", "--warmup-ticks", "5"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for words in ("ms per GPU", "x the 1 ms/GPU target", "plain Gauge series", "per target", "memory over 200 scrapes"):
        assert words in result.stdout
