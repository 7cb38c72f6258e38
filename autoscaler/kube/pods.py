"""The target's pods, by the scale subresource's selector, as :class:`PodState`.

The core needs readiness and start times to treat replicas still loading their model
as at target (``startupSeconds``), and ``deletionTimestamp``/phase to ignore pods on
their way out, as HPA's replica calculator does. Every pod is returned; the core
decides which count.

Lists are served with ``resourceVersion="0"``: from the API server's watch cache
rather than a quorum read of etcd, which is what a controller polling many targets
every few seconds should ask for (the data may lag by well under a second).
"""
from __future__ import annotations

from datetime import UTC, datetime

from kubernetes import client as k8s

from autoscaler.core.types import PodState
from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import KubeError


class KubePodLister:
    """:class:`autoscaler.kube.types.PodLister` over the API server."""

    def __init__(self, client: KubeClient):
        self._client = client
        self._core = k8s.CoreV1Api(client.api_client)

    def list_pods(self, namespace: str, selector: str) -> tuple[PodState, ...]:
        """Pods matching ``selector``, sorted by name. Raises :class:`KubeError` for an empty
        selector, which would match every pod in the namespace."""
        if not selector.strip():
            raise KubeError(f"refusing to list pods in {namespace} with an empty selector "
                            "(the target's scale subresource reported none)")
        pods = self._client.call(self._core.list_namespaced_pod, namespace, label_selector=selector,
                                 resource_version="0")
        return tuple(sorted((pod_state(p) for p in pods.items), key=lambda p: p.name))


def pod_state(pod: k8s.V1Pod) -> PodState:
    status = pod.status
    ready = any(c.type == "Ready" and c.status == "True" for c in (status.conditions or ())) if status else False
    start = status.start_time if status else None
    return PodState(
        name=pod.metadata.name if pod.metadata and pod.metadata.name else "",
        ready=ready,
        start_time=_epoch(start) if start is not None else None,
        phase=(status.phase if status else None) or "Pending",
        deleting=bool(pod.metadata and pod.metadata.deletion_timestamp is not None),
    )


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
