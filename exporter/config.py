"""The exporter's settings: typed, frozen, validated once at the edge (the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.attribution import DEFAULT_GPU_RESOURCES, DEFAULT_SOCKET
from exporter.errors import ConfigError
from exporter.targets import QueueTarget


@dataclass(frozen=True)
class ExporterConfig:
    listen_host: str = "0.0.0.0"
    """Address to serve ``/metrics`` and ``/healthz`` on (``0.0.0.0`` in a DaemonSet)."""

    listen_port: int = 9400
    """Port; 9400 is the port dcgm-exporter made customary for GPU metrics."""

    interval_s: float = 5.0
    """Seconds between sampling ticks; also the GPM averaging window. 5 s keeps NVML
    and the kubelet idle (one pass costs ~1 ms per GPU) and is finer than the
    controller's 15 s polling."""

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

    @property
    def max_age_s(self) -> float:
        """A snapshot older than this is stale: 3 intervals, at least 15 s (a 5 s
        interval tolerates two missed ticks before GPU series disappear)."""
        return max(3 * self.interval_s, 15.0)

    def validate(self) -> ExporterConfig:
        if not 0 < self.listen_port < 65536:
            raise ConfigError(f"--listen: port {self.listen_port} is not 1..65535")
        if not self.interval_s > 0:
            raise ConfigError(f"--interval: {self.interval_s} must be > 0 seconds")
        if not self.target_timeout_s > 0:
            raise ConfigError(f"--target-timeout: {self.target_timeout_s} must be > 0 seconds")
        if not self.node:
            raise ConfigError("--node-name: empty; set it or the NODE_NAME environment variable")
        return self
