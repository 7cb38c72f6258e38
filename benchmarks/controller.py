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

Two configurations run against the same servers, one after the other, and the ratio
between them is printed: ``baseline`` (a GET of /scale per scaler per poll, status
written every poll, every recommendation kept in it: the build before issue 12) and
``current`` (Deployments' scale from a watch, ``ScaleTargetCache``; status written only
when it changed, with the compact memory). API calls per loop are counted by verb at
the emulator (watches counted when opened).

Targets (issue 12): 1,000 steady scalers in <= 0.5 s of CPU per loop; 10,000
(``--scalers 10000``) reconciled within one 15 s interval on one core; Prometheus
queries independent of the scaler count.
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
                api.create(
                    "",
                    "pods",
                    {
                        "metadata": {"name": pod, "namespace": ns, "labels": {"app": name}},
                        "spec": {"containers": [{"name": "server", "image": "vllm:1"}], "nodeName": "gpu-node-1"},
                        "status": {
                            "phase": "Running",
                            "startTime": started,
                            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started}],
                        },
                    },
                )
                # 4 waiting a pod on a target of 4, 70 % SM on a target of 70: every scaler holds.
                exposition.set("inference_queue_depth", {"namespace": ns, "pod": pod}, 4)
                exposition.set("gpu_sm_active_ratio", {"namespace": ns, "pod": pod, "gpu": "0"}, 0.70)
            api.add_gpuscaler(
                {
                    "apiVersion": "gpuautoscaler.io/v1alpha1",
                    "kind": "GPUScaler",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {
                        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                        "maxReplicas": 16,
                        "pollingIntervalSeconds": 15,
                        "startupSeconds": 0,
                        "metrics": [
                            {"type": "QueueDepth", "target": {"averageValue": 4}},
                            {"type": "GPUUtilization", "signal": "smActive", "target": {"averageUtilization": 70}},
                        ],
                    },
                }
            )
    api.start()
    exposition.start()
    print(json.dumps({"api": api.url, "exporter": exposition.target}), flush=True)
    for _ in sys.stdin:  # one line: "how many requests by verb since you were last asked"
        verbs: dict[str, int] = {}
        for r in api.requests:
            verbs[r.verb] = verbs.get(r.verb, 0) + 1
        api.clear_log()
        print(json.dumps(verbs), flush=True)
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
    calls: dict[str, int]


#: The configurations compared in one run (see the module docstring).
MODES = ("baseline", "current")


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


def measure(
    scalers: int, loops: int, workers: int, pod_lists: bool = False, modes: tuple[str, ...] = MODES
) -> dict[str, list[LoopFigures]]:
    from simulations.cluster.prometheus import PrometheusServer, ScrapeJob

    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.controller", "--serve", str(scalers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    stdin, stdout = child.stdin, child.stdout
    addresses = json.loads(stdout.readline())
    prometheus = PrometheusServer([ScrapeJob("bench", [addresses["exporter"]], scrape_interval="5s")])
    prometheus.start()

    def calls() -> dict[str, int]:
        stdin.write("?\n")
        stdin.flush()
        counted: dict[str, int] = json.loads(stdout.readline())
        return counted

    try:
        expected = scalers * PODS_PER_DEPLOYMENT
        prometheus.wait_for(
            "count(inference_queue_depth)", timeout=120, predicate=lambda r: int(float(r[0]["value"][1])) == expected
        )
        return {
            mode: _measure_mode(mode, addresses["api"], prometheus.url, loops, workers, pod_lists, calls)
            for mode in modes
        }
    finally:
        prometheus.cleanup()
        stdin.close()
        child.wait(timeout=30)


def _measure_mode(
    mode: str, api: str, prometheus_url: str, loops: int, workers: int, pod_lists: bool, calls: Any
) -> list[LoopFigures]:
    from autoscaler.kube.client import ClientSettings, connect
    from autoscaler.kube.events import KubeEventSink
    from autoscaler.kube.podcache import PodCache
    from autoscaler.kube.pods import KubePodLister
    from autoscaler.kube.scale import KubeScaleClient, ScaleTargetCache
    from autoscaler.kube.scalers import KubeScalerStore, ScalerCache
    from autoscaler.kube.types import PodLister, ScaleClient
    from autoscaler.loop import ControlLoop, LoopSettings
    from autoscaler.sources.prometheus import PrometheusSettings, PrometheusSource
    from autoscaler.telemetry import Telemetry

    current = mode == "current"
    client = connect(host=api, settings=ClientSettings(read_timeout=60))
    store = KubeScalerStore(client, skip_unchanged=current, compact_memory=current)
    cache = ScalerCache(store, None)
    cache.start()
    pod_cache = PodCache(client, None)
    targets = ScaleTargetCache(client, None) if current else None
    scales: ScaleClient = targets or KubeScaleClient(client)
    pods: PodLister = KubePodLister(client) if pod_lists else pod_cache
    if not pod_lists:
        pod_cache.start()
    if targets is not None:
        targets.start()
    if not (
        cache.wait_synced(120)
        and (pod_lists or pod_cache.wait_synced(120))
        and (targets is None or targets.wait_synced(120))
    ):
        raise RuntimeError("the watches did not sync within 120 s")
    source = PrometheusSource(PrometheusSettings(prometheus_url, timeout_seconds=30))
    parts: dict[str, float] = {}
    lock = threading.Lock()
    loop = ControlLoop(
        scalers=_Timed(cache, "status", parts, lock),
        scales=_Timed(scales, "scale", parts, lock),
        pods=_Timed(pods, "pods", parts, lock),
        events=KubeEventSink(client),
        metrics=_Timed(source, "prometheus", parts, lock),
        telemetry=Telemetry(),
        settings=LoopSettings(workers=workers, jitter=0.0),
    )
    figures = []
    now = time.time()
    calls()  # forget the lists and watches of the start
    try:
        for _ in range(loops):
            parts.clear()
            q0, cpu0, wall0, watch0 = source.queries, time.process_time(), time.perf_counter(), _watch_cpu()
            outcomes = [f.result() for f in loop.tick(now)]
            wall = time.perf_counter() - wall0
            time.sleep(1.0)  # idle: the watch delivers our status writes back; its CPU counts too
            parts["watch"] = _watch_cpu() - watch0
            figures.append(
                LoopFigures(
                    time.process_time() - cpu0,
                    wall,
                    source.queries - q0,
                    len(outcomes),
                    sum(1 for o in outcomes if o.failures),
                    dict(parts),
                    calls(),
                )
            )
            now += 15.0  # every scaler due again
    finally:
        loop.close()
        cache.stop()
        pod_cache.stop()
        if targets is not None:
            targets.stop()
        source.close()
        client.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scalers", type=int, default=NAMESPACES * PER_NAMESPACE)
    parser.add_argument("--loops", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument(
        "--pod-lists",
        action="store_true",
        help="one pod LIST per scaler per loop (the former way) instead of the pod cache",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    import logging

    logging.basicConfig(level=logging.ERROR)
    print(
        f"{args.scalers} GPUScalers, {args.scalers} Deployments, {args.scalers * PODS_PER_DEPLOYMENT} pods, "
        f"{args.workers} workers, {os.cpu_count()} CPUs, pods from "
        f"{'a LIST per scaler' if args.pod_lists else 'the pod cache'}"
    )
    results = measure(args.scalers, args.loops, args.workers, args.pod_lists)
    names = {
        "pods.list_pods": "list pods",
        "status.write_status": "write status",
        "scale.get_scale": "get scale",
        "prometheus.fetch_signals": "Prometheus",
        "watch": "watches",
    }
    steady_cpu: dict[str, float] = {}
    for mode, figures in results.items():
        print(f"-- {mode}")
        for i, f in enumerate(figures, 1):
            verbs = ", ".join(f"{v} {n}" for v, n in sorted(f.calls.items())) or "none"
            print(
                f"loop {i}: {f.cpu_seconds:.2f} s CPU, {f.wall_seconds:.2f} s wall, {f.queries} Prometheus queries, "
                f"{f.reconciled} scalers reconciled, {f.failures} with failures; API calls: {verbs}"
            )
            shown = ", ".join(
                f"{names[k]} {v:.2f} s" for k, v in sorted(f.parts.items(), key=lambda kv: -kv[1]) if k in names
            )
            print(f"        CPU in calls: {shown}; the rest is the loop, decide and status building")
        steady = figures[1:] or figures
        steady_cpu[mode] = sum(f.cpu_seconds for f in steady) / len(steady)
        print(
            f"steady state ({mode}): {steady_cpu[mode]:.2f} s of CPU per loop, "
            f"{steady[-1].wall_seconds:.2f} s wall, {steady[-1].queries} Prometheus queries per loop"
        )
    if "baseline" in steady_cpu and "current" in steady_cpu:
        print(
            f"current / baseline CPU per steady loop: {steady_cpu['current'] / steady_cpu['baseline']:.2f} "
            f"(target for 1,000 scalers: <= 0.5 s; 10,000 within a 15 s interval on one core)"
        )


if __name__ == "__main__":
    main()
