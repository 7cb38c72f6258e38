"""The exporter's settings: typed, frozen, validated once at the edge (the CLI)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from exporter.attribution import DEFAULT_GPU_RESOURCES, DEFAULT_SOCKET
from exporter.errors import ConfigError
from exporter.server import HttpLimits
from exporter.targets import QueueTarget

#: Bounds of ``--interval``, seconds. Below 0.1 s a tick (about 1 ms per GPU, a few ms
#: for the kubelet, up to ``--target-timeout`` for a model server) would fill the
#: interval; above an hour a stalled sampler would go unnoticed for three (the
#: staleness limit is 3 intervals). inf and NaN are refused: an infinite interval once
#: started a sampler thread that died at its first wait while /metrics went on serving.
INTERVAL_BOUNDS_S = (0.1, 3600.0)
TARGET_TIMEOUT_BOUNDS_S = (0.001, 60.0)
DISCOVER_INTERVAL_BOUNDS_S = (1.0, 86400.0)
MAX_HTTP_CONNECTIONS = 10_000


@dataclass(frozen=True)
class ExporterConfig:
    listen_host: str = "0.0.0.0"
    """Address to serve ``/metrics`` and ``/healthz`` on (``0.0.0.0`` in a DaemonSet)."""

    listen_port: int = 9400
    """Port; 9400 is the port dcgm-exporter made customary for GPU metrics."""

    interval_s: float = 5.0
    """Seconds between sampling ticks; also the GPM averaging window. 5 s keeps NVML
    and the kubelet idle (one pass costs ~1 ms per GPU) and is finer than the
    controller's 15 s polling. Within :data:`INTERVAL_BOUNDS_S`."""

    node: str = ""
    """Node name for the ``node`` label and for pod discovery (``NODE_NAME``)."""

    kubelet_socket: str | None = DEFAULT_SOCKET
    """PodResources socket; None turns attribution off (GPU series have empty pod labels)."""

    gpu_resources: tuple[str, ...] = DEFAULT_GPU_RESOURCES
    """Extended-resource names whose devices are GPUs (``*`` suffix = prefix match)."""

    targets: tuple[QueueTarget, ...] = ()
    """Static model-server targets (outside a cluster, or in addition to discovery)."""

    discover: bool = False
    """List this node's annotated pods from the Kubernetes API for queue targets."""

    kubeconfig: str | None = None
    """Kubeconfig for discovery outside the cluster; in-cluster config when None."""

    discover_interval_s: float = 30.0
    """Seconds between pod listings (one LIST per node per 30 s)."""

    target_timeout_s: float = 1.0
    """Per-target timeout for model-server ``/metrics`` reads."""

    gpm: bool = True
    """Read GPM metrics where the GPU supports them."""

    http_max_connections: int = HttpLimits.max_connections
    """HTTP connections served at once (one thread each); one more is answered 503.
    64: Prometheus holds one keep-alive connection per replica, a debugging curl one more."""

    http_idle_timeout_s: float = HttpLimits.idle_timeout_s
    """Seconds an HTTP connection has, from its opening and from each answer, to send a
    complete request before the server hangs up; 60 s outlasts a 15 s or 30 s scrape
    interval, so Prometheus reuses its connection."""

    @property
    def max_age_s(self) -> float:
        """A snapshot older than this is stale: 3 intervals, at least 15 s (a 5 s
        interval tolerates two missed ticks before GPU series disappear)."""
        return max(3 * self.interval_s, 15.0)

    @property
    def http_limits(self) -> HttpLimits:
        return HttpLimits(max_connections=self.http_max_connections, idle_timeout_s=self.http_idle_timeout_s)

    def validate(self) -> ExporterConfig:
        if not 0 < self.listen_port < 65536:
            raise ConfigError(f"--listen: port {self.listen_port} is not 1..65535")
        _seconds("--interval", self.interval_s, INTERVAL_BOUNDS_S)
        _seconds("--target-timeout", self.target_timeout_s, TARGET_TIMEOUT_BOUNDS_S)
        _seconds("--discover-interval", self.discover_interval_s, DISCOVER_INTERVAL_BOUNDS_S)
        _seconds("HTTP idle timeout", self.http_idle_timeout_s, (0.01, 3600.0))
        if not 1 <= self.http_max_connections <= MAX_HTTP_CONNECTIONS:
            raise ConfigError(f"HTTP connection limit: {self.http_max_connections} is not 1..{MAX_HTTP_CONNECTIONS}")
        if not self.node:
            raise ConfigError("--node-name: empty; set it or the NODE_NAME environment variable")
        return self


def _seconds(option: str, value: float, bounds: tuple[float, float]) -> None:
    """``--interval inf`` -> "--interval: inf is not a number of seconds from 0.1 to 3600"."""
    low, high = bounds
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{option}: {value:g} is not a number of seconds from {low:g} to {high:g}")
