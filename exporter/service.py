"""The running exporter: sources wired to a sampling thread, a collector and an HTTP
server. The CLI builds one from :class:`~exporter.config.ExporterConfig`; tests build
one with a fake NVML module and real local servers for everything else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from exporter.attribution import PodResourcesClient
from exporter.collector import SnapshotCollector
from exporter.config import ExporterConfig
from exporter.discovery import PodDiscovery, StaticTargets, TargetList, TargetSource, kubernetes_pod_lister
from exporter.gpus import GpuSampler
from exporter.nvml import load_pynvml
from exporter.queues import QueueReader
from exporter.sampler import NodeSampler, SamplingThread
from exporter.server import Health, MetricsServer
from exporter.snapshot import Snapshot

log = logging.getLogger("exporter")


class CombinedTargets:
    """Static targets plus discovered ones (static first; a pod in both is read once)."""

    def __init__(self, static: StaticTargets, discovered: TargetSource) -> None:
        self._static, self._discovered = static, discovered

    def poll(self, now: float) -> TargetList:
        a, b = self._static.poll(now), self._discovered.poll(now)
        seen = {(t.namespace, t.pod) for t in a.targets}
        merged = a.targets + tuple(t for t in b.targets if (t.namespace, t.pod) not in seen)
        return TargetList(merged, b.errors, b.problems)


class Exporter:
    """Start with :meth:`start` (one tick, then HTTP), stop with :meth:`stop`.

    ``nvml_lib`` is the ``pynvml``-like module (the real one when None);
    ``target_source`` replaces the targets the config would build (tests, discovery
    against a fake API server); ``clock`` is the wall clock the sampler reads once per
    tick and the collector once per scrape.
    """

    def __init__(
        self,
        config: ExporterConfig,
        *,
        nvml_lib: Any = None,
        target_source: TargetSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._clock = clock
        gpus = GpuSampler(nvml_lib if nvml_lib is not None else load_pynvml(), gpm=config.gpm)
        pod_resources = (
            PodResourcesClient(config.kubelet_socket, timeout_s=1.0, resources=config.gpu_resources)
            if config.kubelet_socket
            else None
        )
        if target_source is None:
            static = StaticTargets(config.targets)
            target_source = static
            if config.discover:
                lister = kubernetes_pod_lister(config.node, kubeconfig=config.kubeconfig)
                target_source = CombinedTargets(static, PodDiscovery(lister, refresh_s=config.discover_interval_s))
        self.sampler = NodeSampler(
            config.node,
            gpus,
            pod_resources=pod_resources,
            targets=target_source,
            queues=QueueReader(timeout_s=config.target_timeout_s),
        )
        self.thread = SamplingThread(self.sampler, config.interval_s, clock=clock)
        self.registry = CollectorRegistry()
        self.registry.register(SnapshotCollector(lambda: self.thread.latest, max_age_s=config.max_age_s, clock=clock))
        self.server = MetricsServer(
            config.listen_host, config.listen_port, self.registry, self.health, limits=config.http_limits
        )

    @property
    def url(self) -> str:
        """Where this exporter answers from this host: a wildcard address becomes loopback
        (``0.0.0.0`` -> ``127.0.0.1``, ``::`` -> ``[::1]``)."""
        host, port = self.server.address
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def latest(self) -> Snapshot:
        return self.thread.latest

    def failure(self) -> str | None:
        """Why the exporter can no longer do its job: its sampling thread or its HTTP
        thread ended on its own. None while both run. The CLI exits 1 on it."""
        if self.thread.failure is not None:
            return f"sampler thread died: {self.thread.failure}"
        return self.server.failure()

    def health(self) -> Health:
        """503 reasons, in order: a thread died, NVML unusable, no tick yet, sampler stalled."""
        failure = self.failure()
        if failure is not None:
            return Health(False, failure)
        snap = self.thread.latest
        if snap.nvml_error:
            return Health(False, snap.nvml_error)
        if snap.taken_at is None:
            return Health(False, "no sample yet")
        age = self._clock() - snap.taken_at
        if age > self.config.max_age_s:
            return Health(False, f"sampler stalled: last sample {age:.0f}s ago (limit {self.config.max_age_s:.0f}s)")
        return Health(True, f"ok: {len(snap.gpus)} GPU devices, {len(snap.queues)} queue targets")

    def start(self) -> None:
        first = self.thread.tick_once()
        if first.nvml_error:
            log.error("%s; serving without GPU metrics, /healthz answers 503 until NVML works", first.nvml_error)
        log.info(
            "sampled %d GPU devices, %d pod holders, %d queue targets; serving on %s every %gs",
            len(first.gpus),
            len(first.holders),
            len(first.queues),
            self.url,
            self.config.interval_s,
        )
        self.server.start()
        self.thread.start()

    def stop(self) -> None:
        self.server.stop()
        self.thread.stop()
        self.sampler.close()

    def __enter__(self) -> Exporter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
