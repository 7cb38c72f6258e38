"""Benchmark: the control loop over 1,000 GPUScalers, 1,000 Deployments and 4,000 pods.

Run from the repository root: ``python -m benchmarks.controller`` (it uses the
test suite's API emulator, tests/fakes/apiserver.py, and Debian's ``prometheus``).

A child process serves the API emulator (seeded with 10 namespaces x 100 Deployments,
4 pods each, one GPUScaler per Deployment with a QueueDepth and a GPUUtilization
metric) and one generated exporter exposing ``inference_queue_depth`` and
``gpu_sm_active_ratio`` for the 4,000 pods (8,000 series), which a real Prometheus
scrapes. This process runs the controller's loop with the real adapters (official
client over HTTP, prometheus-api-client) and measures, per loop (every scaler
reconciled once):

- CPU seconds of this process (the servers' CPU is theirs, in other processes), from
  the tick until every reconcile finished and the GPUScaler watch caught up with our
  status writes, and how much of it went to each kind of call and to the watches
  (the GPUScaler watch handing back our own status writes; the pod watch);
- Prometheus queries sent; with built-in signals only, 2 per loop whatever the count.

Pods come from the controller's pod cache (one list+watch, ``PodCache``), as in
``gpu-autoscaler run``; ``--pod-lists`` measures the former LIST per scaler instead.

Target (issue 6): <= 2 s of one core per loop, queries independent of the scaler count.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

NAMESPACES = 10
PER_NAMESPACE = 100
PODS_PER_DEPLOYMENT = 4
SAFE = "bcdfghjklmnpqrstvwxz2456789"


def _pod_name(dep: str, i: int) -> str:
    return f"{dep}-{SAFE[i % 27]}{SAFE[(i // 27) % 27]}c4bd-{SAFE[i % 27] * 5}"


def serve(scalers: int) -> None:
    """Child process: seed and serve the emulator and the generated exporter; print
    their addresses as one JSON line; exit when stdin closes."""
    from simulations.cluster.apiserver import ApiServer, now_rfc3339
    from simulations.cluster.exposition import Exposition

    api = ApiServer()
    api.HISTORY = 50_000  # the initial objects alone are 6,000 events
    exposition = Exposition()
    started = now_rfc3339(time.time() - 3600)
    per_ns = max(1, scalers // NAMESPACES)
    for n in range(min(NAMESPACES, scalers)):
        ns = f"bench-{n}"
        for d in range(per_ns):
            name = f"model-{d}"
            api.add_deployment(ns, name, PODS_PER_DEPLOYMENT)
            for i in range(PODS_PER_DEPLOYMENT):
                pod = _pod_name(name, i)
                api.create("", "pods", {
                    "metadata": {"name": pod, "namespace": ns, "labels": {"app": name}},
                    "spec": {"containers": [{"name": "server", "image": "vllm:1"}], "nodeName": "gpu-node-1"},
                    "status": {"phase": "Running", "startTime": started, "conditions": [
                        {"type": "Ready", "status": "True", "lastTransitionTime": started}]}})
                # 4 waiting a pod on a target of 4, 70 % SM on a target of 70: every scaler holds.
                exposition.set("inference_queue_depth", {"namespace": ns, "pod": pod}, 4)
                exposition.set("gpu_sm_active_ratio", {"namespace": ns, "pod": pod, "gpu": "0"}, 0.70)
            api.add_gpuscaler({
                "apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                         "maxReplicas": 16, "pollingIntervalSeconds": 15, "startupSeconds": 0,
                         "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}},
                                     {"type": "GPUUtilization", "signal": "smActive",
                                      "target": {"averageUtilization": 70}}]}})
    api.start()
    exposition.start()
    print(json.dumps({"api": api.url, "exporter": exposition.target}), flush=True)
    sys.stdin.read()
    api.stop()
    exposition.stop()


@dataclass
class LoopFigures:
    cpu_seconds: float
    wall_seconds: float
    queries: int
    reconciled: int
    failures: int
    parts: dict[str, float]


class _Timed:
    """A proxy adding each call's thread CPU time to ``parts[name]`` (the breakdown)."""

    def __init__(self, inner: Any, name: str, parts: dict[str, float], lock: threading.Lock):
        self._inner, self._name, self._parts, self._lock = inner, name, parts, lock

    def __getattr__(self, attr: str) -> Any:
        fn = getattr(self._inner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    key = f"{self._name}.{attr}"
                    self._parts[key] = self._parts.get(key, 0.0) + time.thread_time() - started
        return timed


def _watch_cpu() -> float:
    """CPU seconds the watch threads (``watch-*``) of this process have used so far."""
    total = 0.0
    for t in threading.enumerate():
        if t.name.startswith("watch-") and t.ident is not None:
            with contextlib.suppress(OSError):  # the thread ended meanwhile
                total += time.clock_gettime(time.pthread_getcpuclockid(t.ident))
    return total


def measure(scalers: int, loops: int, workers: int, pod_lists: bool = False) -> list[LoopFigures]:
    from autoscaler.kube.scalers import ScalerCache
    from autoscaler.kube.client import ClientSettings, connect
    from autoscaler.kube.events import KubeEventSink
    from autoscaler.kube.podcache import PodCache
    from autoscaler.kube.pods import KubePodLister
    from autoscaler.kube.scale import KubeScaleClient
    from autoscaler.kube.scalers import KubeScalerStore
    from autoscaler.kube.types import PodLister
    from autoscaler.loop import ControlLoop, LoopSettings
    from autoscaler.sources.prometheus import PrometheusSettings, PrometheusSource
    from autoscaler.telemetry import Telemetry
    from simulations.cluster.prometheus import PrometheusServer, ScrapeJob

    child = subprocess.Popen([sys.executable, "-m", "benchmarks.controller", "--serve", str(scalers)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    addresses = json.loads(child.stdout.readline())
    prometheus = PrometheusServer([ScrapeJob("bench", [addresses["exporter"]], scrape_interval="5s")])
    prometheus.start()
    try:
        expected = scalers * PODS_PER_DEPLOYMENT
        prometheus.wait_for("count(inference_queue_depth)", timeout=60,
                            predicate=lambda r: int(float(r[0]["value"][1])) == expected)
        client = connect(host=addresses["api"], settings=ClientSettings(read_timeout=60))
        cache = ScalerCache(KubeScalerStore(client), None)
        cache.start()
        cache.wait_synced(60)
        pod_cache = PodCache(client, None)
        pods: PodLister = KubePodLister(client) if pod_lists else pod_cache
        if not pod_lists:
            pod_cache.start()
            if not pod_cache.wait_synced(60):
                raise RuntimeError("the pod cache did not sync within 60 s")
        source = PrometheusSource(PrometheusSettings(prometheus.url, timeout_seconds=30))
        parts: dict[str, float] = {}
        lock = threading.Lock()
        loop = ControlLoop(scalers=_Timed(cache, "status", parts, lock),
                           scales=_Timed(KubeScaleClient(client), "scale", parts, lock),
                           pods=_Timed(pods, "pods", parts, lock),
                           events=KubeEventSink(client), metrics=_Timed(source, "prometheus", parts, lock),
                           telemetry=Telemetry(), settings=LoopSettings(workers=workers, jitter=0.0))
        figures = []
        now = time.time()
        for _ in range(loops):
            parts.clear()
            q0, cpu0, wall0, watch0 = source.queries, time.process_time(), time.perf_counter(), _watch_cpu()
            outcomes = [f.result() for f in loop.tick(now)]
            wall = time.perf_counter() - wall0
            time.sleep(1.0)  # idle: the watch delivers our status writes back; its CPU counts too
            parts["watch"] = _watch_cpu() - watch0
            figures.append(LoopFigures(time.process_time() - cpu0, wall, source.queries - q0, len(outcomes),
                                       sum(1 for o in outcomes if o.failures), dict(parts)))
            now += 15.0  # every scaler due again
        loop.close()
        cache.stop()
        pod_cache.stop()
        source.close()
        client.close()
        return figures
    finally:
        prometheus.cleanup()
        child.stdin.close()
        child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scalers", type=int, default=NAMESPACES * PER_NAMESPACE)
    parser.add_argument("--loops", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--pod-lists", action="store_true",
                        help="one pod LIST per scaler per loop (the former way) instead of the pod cache")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    import logging
    logging.basicConfig(level=logging.ERROR)
    print(f"{args.scalers} GPUScalers, {args.scalers} Deployments, {args.scalers * PODS_PER_DEPLOYMENT} pods, "
          f"{args.workers} workers, {os.cpu_count()} CPUs, pods from "
          f"{'a LIST per scaler' if args.pod_lists else 'the pod cache'}")
    figures = measure(args.scalers, args.loops, args.workers, args.pod_lists)
    for i, f in enumerate(figures, 1):
        print(f"loop {i}: {f.cpu_seconds:.2f} s CPU, {f.wall_seconds:.2f} s wall, {f.queries} Prometheus queries, "
              f"{f.reconciled} scalers reconciled, {f.failures} with failures")
        names = {"pods.list_pods": "list pods", "status.write_status": "write status",
                 "scale.get_scale": "get scale", "prometheus.fetch_signals": "Prometheus",
                 "watch": "watches"}
        shown = ", ".join(f"{names[k]} {v:.2f} s" for k, v in sorted(f.parts.items(), key=lambda kv: -kv[1])
                          if k in names)
        print(f"        CPU in calls: {shown}; the rest is the loop, decide and status building")
    steady = figures[1:] or figures
    cpu = sum(f.cpu_seconds for f in steady) / len(steady)
    print(f"steady state: {cpu:.2f} s of CPU per loop (target <= 2 s), "
          f"{steady[-1].queries} Prometheus queries per loop (independent of the scaler count)")


if __name__ == "__main__":
    main()
