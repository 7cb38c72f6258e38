"""Which model-server pods run on this node, from the Kubernetes API (or a fixed list).

The only module that imports ``kubernetes``. A pod is a queue target when it opts in
with an annotation:

- ``gpuautoscaler.io/queue-metric``: ``vllm``, ``tgi``, ``triton``, ``sglang``, or the
  name of the pod's own queue metric (``my_app_pending_requests``);
- ``gpuautoscaler.io/metrics-port`` (else ``prometheus.io/port``, else a container
  port named ``metrics``, else one named ``http``);
- ``gpuautoscaler.io/metrics-path`` (else ``prometheus.io/path``, else ``/metrics``).

Either of the first two is enough to opt in; without ``queue-metric`` the server type
is detected from what the endpoint exposes. The pod list is refreshed at most every
``refresh_s`` (30 s): one LIST per node per 30 s, rather than one per 5 s tick, keeps
a 1,000-node cluster at ~33 requests/s to the API server. RBAC: ``list`` on ``pods``
cluster-wide (the field selector ``spec.nodeName`` narrows the answer, not the right).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from exporter.errors import ConfigError, DiscoveryError
from exporter.targets import QueueTarget, metrics_for

ANNOTATION_QUEUE_METRIC = "gpuautoscaler.io/queue-metric"
ANNOTATION_PORT = "gpuautoscaler.io/metrics-port"
ANNOTATION_PATH = "gpuautoscaler.io/metrics-path"


@dataclass(frozen=True)
class PodInfo:
    """The few facts about a pod that make it a target (kept free of client models)."""

    namespace: str
    name: str
    phase: str
    pod_ip: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[tuple[str, int], ...] = ()  # (container port name, number)


@dataclass(frozen=True)
class TargetList:
    """Targets to read this tick, errors by kind, and problems (pod -> reason)."""

    targets: tuple[QueueTarget, ...] = ()
    errors: Mapping[str, int] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)


class TargetSource(Protocol):
    def poll(self, now: float) -> TargetList: ...


class StaticTargets:
    """A fixed target list (``--target``, ``--targets-file``), for use outside a cluster."""

    def __init__(self, targets: Iterable[QueueTarget]) -> None:
        self._list = TargetList(tuple(targets))

    def poll(self, now: float) -> TargetList:
        return self._list


def target_for_pod(pod: PodInfo) -> QueueTarget | None:
    """The pod's target, None when it has not opted in or is not running yet; raises
    :class:`ConfigError` for an annotation that cannot be right."""
    a = pod.annotations
    if ANNOTATION_QUEUE_METRIC not in a and ANNOTATION_PORT not in a:
        return None
    if pod.phase != "Running" or not pod.pod_ip:
        return None
    word = a.get(ANNOTATION_QUEUE_METRIC, "").strip()
    metrics = metrics_for(word) if word else None
    port_text = a.get(ANNOTATION_PORT) or a.get("prometheus.io/port")
    named = dict(pod.ports)
    if port_text:
        if not port_text.strip().isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"annotation {ANNOTATION_PORT}={port_text!r}: expected a port number 1..65535")
        port = int(port_text)
    elif "metrics" in named or "http" in named:
        port = named.get("metrics") or named["http"]
    else:
        raise ConfigError(f"no metrics port: set annotation {ANNOTATION_PORT} or name a container port 'metrics'")
    path = a.get(ANNOTATION_PATH) or a.get("prometheus.io/path") or "/metrics"
    if not path.startswith("/"):
        path = "/" + path
    host = f"[{pod.pod_ip}]" if ":" in pod.pod_ip else pod.pod_ip
    return QueueTarget(pod.namespace, pod.name, f"http://{host}:{port}{path}", metrics)


def targets_from_pods(pods: Iterable[PodInfo]) -> TargetList:
    targets, problems, bad = [], {}, 0
    for pod in pods:
        try:
            target = target_for_pod(pod)
        except ConfigError as exc:
            problems[f"{pod.namespace}/{pod.name}"] = str(exc)
            bad += 1
            continue
        if target is not None:
            targets.append(target)
    return TargetList(tuple(targets), {"discovery": bad} if bad else {}, problems)


class PodDiscovery:
    """Targets from a pod lister, refreshed every ``refresh_s``; on a failed refresh the
    last good list stays in use (a blip of the API server must not drop every queue
    series on the node) and the failure is counted."""

    def __init__(self, list_pods: Callable[[], list[PodInfo]], *, refresh_s: float = 30.0) -> None:
        self._list_pods = list_pods
        self.refresh_s = refresh_s
        self._last: TargetList = TargetList()
        self._refreshed_at: float | None = None

    def poll(self, now: float) -> TargetList:
        if self._refreshed_at is not None and now - self._refreshed_at < self.refresh_s:
            return TargetList(self._last.targets)
        self._refreshed_at = now
        try:
            pods = self._list_pods()
        except DiscoveryError as exc:
            return TargetList(self._last.targets, {"discovery": 1}, {"pod discovery": str(exc)})
        self._last = targets_from_pods(pods)
        return self._last


def kubernetes_pod_lister(
    node_name: str, *, kubeconfig: str | None = None, timeout_s: float = 5.0
) -> Callable[[], list[PodInfo]]:
    """A function listing this node's pods through the official client: in-cluster
    config, or ``kubeconfig`` outside. Raises :class:`DiscoveryError` for config
    problems now and for API failures when called."""
    from kubernetes import client, config

    cfg = client.Configuration()  # our own, not the process-wide default the loaders would set
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except Exception as exc:  # the client raises ConfigException, TypeError, OSError...
        raise DiscoveryError(f"Kubernetes client configuration: {exc}") from exc
    cfg.retries = 0  # urllib3's default 3 retries would turn a 5 s timeout into 20 s
    api = client.CoreV1Api(client.ApiClient(cfg))
    selector = f"spec.nodeName={node_name}"

    def list_pods() -> list[PodInfo]:
        try:
            pods = api.list_pod_for_all_namespaces(field_selector=selector, _request_timeout=timeout_s)
        except Exception as exc:  # ApiException, urllib3 errors, pydantic validation
            raise DiscoveryError(f"listing pods with {selector}: {type(exc).__name__}: {exc}") from exc
        return [pod_info(p) for p in pods.items or []]

    return list_pods


def pod_info(pod: Any) -> PodInfo:
    """A :class:`PodInfo` from a ``V1Pod`` model."""
    meta, spec, status = pod.metadata, pod.spec, pod.status
    ports = tuple(
        (p.name, int(p.container_port))
        for c in (spec.containers if spec else []) or []
        for p in (c.ports or [])
        if p.name
    )
    return PodInfo(
        namespace=meta.namespace or "",
        name=meta.name or "",
        phase=(status.phase if status else "") or "",
        pod_ip=(status.pod_ip if status else "") or "",
        annotations=dict(meta.annotations or {}),
        ports=ports,
    )
