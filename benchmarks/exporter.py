"""Benchmark: one node with 8 GPUs (fake NVML module), attribution over a real kubelet
gRPC socket, and 16 model-server targets over real HTTP (4 each of vLLM, TGI, Triton,
SGLang, ~40 KB of metrics text each, as a real vLLM endpoint serves).

Run from the repository root (it uses the test fakes): ``python -m benchmarks.exporter``
(``--scrapes 200`` for a quick run). The fakes run in a child process, so the CPU
time measured here (``time.process_time``, all threads of this process) is the
exporter's alone. Printed:

- CPU per ``/metrics`` scrape (collect + render + HTTP), per GPU, against the
  1 ms-per-GPU target, and the collector's render cost as a ratio to
  prometheus_client rendering the same number of plain ``Gauge`` series (a baseline
  measured in the same process, so the ratio does not depend on the machine);
- CPU per sampling tick, split by source (NVML per GPU, kubelet per call, model
  servers per target) — sampling runs once per interval, not once per scrape;
- memory before and after 10,000 scrapes (with a sampling tick every 100): RSS and
  tracemalloc's traced bytes, as growth ratios (flat = 1.00).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

GPUS = 8
TARGETS = 16
KINDS = ("vllm", "tgi", "triton", "sglang")
TARGET_MS_PER_GPU = 1.0


def _serve_fakes(conn: Connection, socket_path: str) -> None:
    """Child process: a fake kubelet and 16 model servers; scrapes the exporter on request."""
    from simulations.cluster.model_servers import ModelServer
    from tests.fakes.kubelet import FakeKubelet, gpu_pod

    kubelet = FakeKubelet(Path(socket_path)).start()
    kubelet.pods = [gpu_pod("serving", f"llm-{i}", f"GPU-bench-{i:02d}", container="server") for i in range(GPUS)]
    servers = [ModelServer(KINDS[i % 4], waiting=i, running=1).start() for i in range(TARGETS)]
    conn.send([(s.kind, s.url) for s in servers])
    while True:
        command = conn.recv()
        if command[0] == "scrape":
            _, url, n = command
            for _ in range(n):
                with urllib.request.urlopen(url, timeout=5) as r:
                    r.read()
            conn.send("done")
        else:
            break
    for s in servers:
        s.stop()
    kubelet.stop()
    conn.send("stopped")


def _recv(conn: Connection, child: Any, timeout: float = 60.0) -> Any:
    """The child's next message; exits with a message rather than hanging if it died."""
    if not conn.poll(timeout):
        child.kill()
        sys.exit(
            f"benchmarks.exporter: the fake servers' process sent nothing in {timeout:g}s (exit code {child.exitcode})"
        )
    return conn.recv()


def _cpu_ms(fn: Callable[[], Any], n: int) -> float:
    """Process CPU milliseconds per call of ``fn`` over ``n`` calls."""
    c0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - c0) * 1000.0 / n


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _baseline_registry(series: int) -> CollectorRegistry:
    """prometheus_client's own Gauges holding ``series`` samples with 8 labels."""
    registry = CollectorRegistry()
    g = Gauge(
        "baseline_value",
        "baseline",
        ["node", "gpu", "uuid", "model", "mig", "namespace", "pod", "container"],
        registry=registry,
    )
    for i in range(series):
        g.labels("gpu-node-1", str(i % 8), f"GPU-{i}", "NVIDIA H200", "", "serving", f"llm-{i % 8}", "server").set(
            i * 0.5
        )
    return registry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scrapes", type=int, default=10_000, help="scrapes in the render and memory phases")
    parser.add_argument("--warmup-ticks", type=int, default=300, help="ticks before memory tracing starts")
    args = parser.parse_args(argv)
    try:
        from simulations.cluster.nvml import FakeGpu, FakeNvml
    except ImportError:
        sys.exit(
            "benchmarks.exporter uses the test fakes: run it from the repository root (python -m benchmarks.exporter)"
        )
    from exporter.config import ExporterConfig
    from exporter.service import Exporter
    from exporter.targets import parse_target

    scrapes = args.scrapes
    tmp = tempfile.mkdtemp(prefix="exporter-bench-")
    socket_path = os.path.join(tmp, "kubelet.sock")
    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe()
    child = ctx.Process(target=_serve_fakes, args=(child_conn, socket_path), daemon=True)
    child.start()
    urls = _recv(parent_conn, child)

    nvml = FakeNvml(
        [
            FakeGpu(
                f"GPU-bench-{i:02d}",
                utilization=90,
                sm_util=70.0,
                sm_occupancy=30.0,
                tensor_util=50.0,
                dram_bw_util=20.0,
            )
            for i in range(GPUS)
        ]
    )
    targets = tuple(parse_target(f"serving/llm-{i}={url}#{kind}") for i, (kind, url) in enumerate(urls))
    config = ExporterConfig(
        listen_host="127.0.0.1",
        listen_port=0,
        interval_s=3600.0,
        node="gpu-node-1",
        kubelet_socket=socket_path,
        targets=targets,
    )
    exporter = Exporter(config, nvml_lib=nvml)
    exporter.start()
    try:
        tick = exporter.thread.tick_once
        snap = tick()
        assert len(snap.queues) == TARGETS and len(snap.holders) == GPUS, (len(snap.queues), len(snap.holders))
        registry = exporter.registry

        def render() -> bytes:
            return generate_latest(registry)

        series = generate_latest(registry).decode().count("\n") - sum(
            1 for line in generate_latest(registry).decode().splitlines() if line.startswith("#")
        )
        for _ in range(20):
            tick()
        _cpu_ms(render, 200)

        # -- sampling, per tick and per source --------------------------------------
        rounds = max(10, min(100, scrapes // 100))
        tick_ms = _cpu_ms(tick, rounds)
        gpus = exporter.sampler._gpus
        nvml_ms = _cpu_ms(gpus.sample, 5 * rounds)
        pod_resources = exporter.sampler._pod_resources
        assert pod_resources is not None
        kubelet_ms = _cpu_ms(pod_resources.holders, 2 * rounds)
        queues = exporter.sampler._queues
        assert queues is not None
        queue_ms = _cpu_ms(lambda: queues.read(targets), rounds)

        # -- serving ------------------------------------------------------------------
        render_ms = _cpu_ms(render, scrapes)
        baseline = _baseline_registry(series)
        baseline_ms = _cpu_ms(lambda: generate_latest(baseline), scrapes)
        http_n = max(50, scrapes // 5)
        c0 = time.process_time()
        parent_conn.send(("scrape", exporter.url + "/metrics", http_n))
        assert _recv(parent_conn, child) == "done"
        http_ms = (time.process_time() - c0) * 1000.0 / http_n

        # -- memory over `scrapes` scrapes ---------------------------------------------
        # Warm-up before tracing: the first ~300 ticks allocate one-off state (the
        # queue reader's pool grows to 16 threads, gRPC fills its caches), ~9 KiB
        # that then stays flat (measured over 1,200 further ticks).
        for _ in range(args.warmup_ticks):
            tick()
        tracemalloc.start()
        for i in range(200):
            render()
            if i % 20 == 0:
                tick()
        marks: list[tuple[int, int]] = []  # (traced, rss) at 0, half and all scrapes
        for i in range(scrapes + 1):
            if i in (0, scrapes // 2, scrapes):
                gc.collect()
                marks.append((tracemalloc.get_traced_memory()[0], _rss_bytes()))
            if i == scrapes:
                break
            render()
            if i % 100 == 99:
                tick()
        tracemalloc.stop()
    finally:
        exporter.stop()
        parent_conn.send(("stop",))
        _recv(parent_conn, child, 10.0)
        child.join(10)

    per_gpu = http_ms / GPUS
    (t0, r0), (th, rh), (t1, r1) = marks
    second_half = (t1 - th) / (scrapes - scrapes // 2)
    lines = [
        f"exporter benchmark: {GPUS} GPUs (fake NVML, GPM on), attribution over gRPC, "
        f"{TARGETS} model-server targets over HTTP; {series} series per scrape",
        f"  /metrics scrape, server CPU (collect+render+HTTP): {http_ms:.3f} ms/scrape = {per_gpu:.3f} ms per GPU "
        f"= {per_gpu / TARGET_MS_PER_GPU:.2f} x the {TARGET_MS_PER_GPU:g} ms/GPU target",
        f"  render alone: {render_ms:.3f} ms/scrape = {render_ms / baseline_ms:.2f} x prometheus_client rendering "
        f"{series} plain Gauge series ({baseline_ms:.3f} ms)",
        f"  sampling tick (once per interval, not per scrape): {tick_ms:.2f} ms CPU = {tick_ms / GPUS:.3f} ms per GPU",
        f"    NVML (fake module) {nvml_ms / GPUS:.3f} ms per GPU; kubelet List {kubelet_ms:.3f} ms per call; "
        f"model servers {queue_ms / TARGETS:.3f} ms per target",
        f"  memory over {scrapes} scrapes (+{scrapes // 100} ticks): "
        f"RSS {r0 / 2**20:.1f} -> {rh / 2**20:.1f} -> {r1 / 2**20:.1f} MiB (x{r1 / r0:.3f}); "
        f"traced {t0 / 1024:.1f} -> {th / 1024:.1f} -> {t1 / 1024:.1f} KiB "
        f"(x{t1 / t0:.3f}; second half {second_half:+.2f} B/scrape)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
