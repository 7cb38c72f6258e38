"""Device check, for a machine with a real NVIDIA GPU (and torch): does the exporter
read what the GPU does?

    python -m exporter.device_check            # ~1 min, prints a table and JSON

It starts the real ``gpu-exporter`` (real pynvml, 1 s interval, no kubelet), then
loads GPU 0 in three phases from a child process — idle, a large bf16 matmul loop,
and a loop of tiny kernels — and scrapes ``/metrics`` during each, once the load runs
and 2.5 sampling intervals have passed, so the GPM window covers only that phase. Printed per
phase: ``gpu_utilization_ratio`` and ``gpu_sm_active_ratio`` (median of the scrapes),
occupancy and tensor activity, the scrape's wall time, and the NVML part of the
sampling tick. What to expect, measured on an H200 when the issue was written: the
matmul reads ~0.97 plain / ~0.78 SM active; the tiny-kernel loop ~0.17 plain while
the SMs are ~0.0026 busy — the reason the autoscaler prefers ``smActive``.

GPU 0's health is printed per phase too, from the last scrape: ``gpu_healthy``, the
clock event reasons holding its clocks (expect ``gpu_idle`` idle and possibly
``sw_power_cap`` under the matmul), its Xid counts since the exporter started and
its ECC counts (absent on a board without ECC).

Exit code 0 when every phase was scraped, 1 when the exporter is unhealthy (no NVML)
or a phase produced no GPU series or no ``gpu_healthy``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

PHASES = ("idle", "matmul", "tiny_kernels")
METRICS = ("gpu_utilization_ratio", "gpu_sm_active_ratio", "gpu_sm_occupancy_ratio", "gpu_tensor_active_ratio")


def load(phase: str, seconds: float, ready: Any = None) -> None:
    """Child process: put GPU 0 in ``phase`` for up to ``seconds`` (the parent ends it
    sooner); ``ready`` is set once the first iteration has run on the GPU, so torch's
    import and CUDA start-up fall outside the measured window."""
    if phase == "idle":
        if ready is not None:
            ready.set()
        time.sleep(seconds)
        return
    import torch  # only on the device machine

    device = torch.device("cuda:0")
    end = time.monotonic() + seconds
    if phase == "matmul":
        # 8192^3 bf16 = 1.1 TFLOP per matmul: a few ms each on an H200, SMs saturated.
        a = torch.randn(8192, 8192, dtype=torch.bfloat16, device=device)
        b = torch.randn(8192, 8192, dtype=torch.bfloat16, device=device)
        c = torch.empty_like(a)

        def step() -> None:
            for _ in range(10):
                torch.matmul(a, b, out=c)
            torch.cuda.synchronize(device)

    elif phase == "tiny_kernels":
        # One-element adds: each launch keeps one SM busy for a couple of microseconds.
        x = torch.zeros(1, device=device)

        def step() -> None:
            for _ in range(1000):
                x.add_(1.0)
            torch.cuda.synchronize(device)

    else:
        raise ValueError(phase)
    step()
    if ready is not None:
        ready.set()
    while time.monotonic() < end:
        step()


@dataclass(frozen=True)
class Health:
    """GPU 0's health series in one scrape: ``healthy`` None when absent; clock reasons
    held now; Xid -> count; ``type/counter`` -> ECC count."""

    healthy: float | None = None
    clock_reasons: tuple[str, ...] = ()
    xid_errors: dict[str, float] = field(default_factory=dict)
    ecc_errors: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Scrape:
    seconds: float
    values: dict[str, float]
    nvml_seconds: float | None
    health: Health = field(default_factory=Health)


def scrape(url: str, gpu: str = "0") -> Scrape:
    """One GET of ``/metrics``: its wall time and GPU ``gpu``'s values (whole GPU, not MIG)."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    elapsed = time.perf_counter() - t0
    values: dict[str, float] = {}
    nvml = None
    healthy, reasons, xids, ecc = None, [], {}, {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            mine = s.labels.get("gpu") == gpu and s.labels.get("mig", "") == ""
            if s.name in METRICS and mine:
                values[s.name] = s.value
            elif s.name == "gpu_exporter_scrape_duration_seconds" and s.labels.get("source") == "nvml":
                nvml = s.value
            elif s.name == "gpu_healthy" and mine:
                healthy = s.value
            elif s.name == "gpu_clocks_event_reasons" and mine and s.value == 1:
                reasons.append(s.labels["reason"])
            elif s.name == "gpu_xid_errors_total" and mine:
                xids[s.labels["xid"]] = s.value
            elif s.name == "gpu_ecc_errors_total" and mine:
                ecc[f"{s.labels['type']}/{s.labels['counter']}"] = s.value
    return Scrape(elapsed, values, nvml, Health(healthy, tuple(sorted(reasons)), xids, ecc))


@dataclass(frozen=True)
class PhaseResult:
    phase: str
    scrapes: int
    utilization: float | None
    sm_active: float | None
    sm_occupancy: float | None
    tensor_active: float | None
    scrape_ms_median: float
    scrape_ms_max: float
    nvml_sample_ms: float | None
    health: Health = field(default_factory=Health)  # from the phase's last scrape


def summarize(phase: str, scrapes: list[Scrape]) -> PhaseResult:
    def median(name: str) -> float | None:
        got = [s.values[name] for s in scrapes if name in s.values]
        return statistics.median(got) if got else None

    ms = [s.seconds * 1000 for s in scrapes]
    nvml = [s.nvml_seconds * 1000 for s in scrapes if s.nvml_seconds is not None]
    return PhaseResult(
        phase,
        len(scrapes),
        median("gpu_utilization_ratio"),
        median("gpu_sm_active_ratio"),
        median("gpu_sm_occupancy_ratio"),
        median("gpu_tensor_active_ratio"),
        statistics.median(ms),
        max(ms),
        statistics.median(nvml) if nvml else None,
        scrapes[-1].health if scrapes else Health(),
    )


def table(results: list[PhaseResult]) -> str:
    def f(v: float | None) -> str:
        return "   -  " if v is None else f"{v:6.4f}"

    lines = ["phase         util    sm_active  occupancy  tensor   scrape ms (median/max)  nvml ms"]
    for r in results:
        nvml = "-" if r.nvml_sample_ms is None else f"{r.nvml_sample_ms:.2f}"
        lines.append(
            f"{r.phase:<12} {f(r.utilization)}  {f(r.sm_active)}     {f(r.sm_occupancy)}     {f(r.tensor_active)}   "
            f"{r.scrape_ms_median:6.2f} / {r.scrape_ms_max:6.2f}          {nvml}"
        )
    lines.append("phase         healthy  clock event reasons held          Xid errors   ECC errors")
    for r in results:
        h = r.health
        healthy = "-" if h.healthy is None else f"{h.healthy:.0f}"
        held = ",".join(h.clock_reasons) or "none"
        xids = ",".join(f"{x}:{n:.0f}" for x, n in sorted(h.xid_errors.items())) or "none"
        ecc = ",".join(f"{k}:{n:.0f}" for k, n in sorted(h.ecc_errors.items())) or "absent"
        lines.append(f"{r.phase:<12} {healthy:>7}  {held:<32} {xids:<12} {ecc}")
    return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return -1, f"exporter exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                return r.status, r.read().decode().strip()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode().strip()
        except OSError:
            time.sleep(0.2)
    return -1, "exporter did not answer /healthz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load GPU 0 in phases and read the exporter's view of it.")
    parser.add_argument(
        "--phase-seconds", type=float, default=60.0, help="longest a load phase may run (it ends after its scrapes)"
    )
    parser.add_argument("--interval", type=float, default=1.0, help="exporter sampling interval")
    parser.add_argument("--scrapes", type=int, default=8, help="scrapes per phase, one per interval after settling")
    args = parser.parse_args(argv)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "exporter",
        "--listen",
        f"127.0.0.1:{port}",
        "--interval",
        str(args.interval),
        "--no-attribution",
        "--node-name",
        "device-check",
    ]
    exporter = subprocess.Popen(cmd, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    results: list[PhaseResult] = []
    try:
        status, reason = _wait_healthy(url, exporter)
        print(f"exporter /healthz: {status} {reason}", flush=True)
        if status != 200:
            return 1
        ctx = multiprocessing.get_context("spawn")
        settle = 2.5 * args.interval  # the GPM window must lie inside the phase
        for phase in PHASES:
            ready = ctx.Event()
            child = ctx.Process(target=load, args=(phase, args.phase_seconds, ready), daemon=True)
            child.start()
            if not ready.wait(120):
                print(f"load phase {phase} did not start (exit code {child.exitcode})", flush=True)
            time.sleep(settle)
            scrapes = []
            for _ in range(args.scrapes):
                if not child.is_alive():
                    break
                scrapes.append(scrape(url))
                time.sleep(args.interval)
            child.terminate()
            child.join(10)
            results.append(
                summarize(phase, scrapes) if scrapes else PhaseResult(phase, 0, None, None, None, None, 0.0, 0.0, None)
            )
            print(f"phase {phase}: {asdict(results[-1])}", flush=True)
    finally:
        exporter.terminate()
        try:
            exporter.wait(10)
        except subprocess.TimeoutExpired:
            exporter.kill()
    print(table(results))
    print(json.dumps([asdict(r) for r in results]))
    return 0 if all(r.scrapes and r.utilization is not None and r.health.healthy is not None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
