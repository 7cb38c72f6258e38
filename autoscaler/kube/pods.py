"""The target's pods, by the scale subresource's selector, as :class:`PodState`.

The core needs readiness and start times to treat replicas still loading their model
as at target (``startupSeconds``), and ``deletionTimestamp``/phase to ignore pods on
their way out, as HPA's replica calculator does. Every pod is returned; the core
decides which count.

:class:`KubePodLister` asks the API server on every call (one LIST per scaler per
poll). The controller serves pods from a watch instead
(:class:`autoscaler.kube.podcache.PodCache`) and uses this lister only until that
cache has synced. Lists are served with ``resourceVersion="0"``: from the API
server's watch cache rather than a quorum read of etcd, which is what a controller
polling many targets should ask for (the data may lag by well under a second).

Pods are read as plain JSON (:func:`~autoscaler.kube.raw.call_json`), not as the
client's ``V1Pod`` models: a pod is large and we keep eight fields of it. Besides
readiness, start time, phase and deletion: ``metadata.creationTimestamp`` and the Ready
condition's ``lastTransitionTime`` (the load time, measured), and the PodScheduled
condition when the scheduler reports it False with reason Unschedulable, as it does for
a pod no node can take ("0/4 nodes are available: 4 Insufficient nvidia.com/gpu.").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client as k8s

from autoscaler.core.types import PodState
from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import KubeError
from autoscaler.kube.raw import call_json
from autoscaler.kube.status import parse_time_or_none

#: The scheduler's message is kept to this many characters: the pod cache holds one per
#: waiting pod of the whole cluster, and an Event's message is capped at 1 KiB anyway.
MAX_SCHEDULER_MESSAGE = 512


class KubePodLister:
    """:class:`autoscaler.kube.types.PodLister` over the API server."""

    def __init__(self, client: KubeClient):
        self._client = client
        self._core = k8s.CoreV1Api(client.api_client)

    def list_pods(self, namespace: str, selector: str) -> tuple[PodState, ...]:
        """Pods matching ``selector``, sorted by name. Raises :class:`KubeError` for an empty
        selector, which would match every pod in the namespace."""
        refuse_empty(namespace, selector)
        body = call_json(
            self._client, self._core.list_namespaced_pod, namespace, label_selector=selector, resource_version="0"
        )
        return tuple(sorted((pod_state(p) for p in pod_items(body)), key=lambda p: p.name))


def refuse_empty(namespace: str, selector: str) -> None:
    if not selector.strip():
        raise KubeError(
            f"refusing to list pods in {namespace} with an empty selector "
            "(the target's scale subresource reported none)"
        )


def pod_items(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The pods of a PodList body; anything but a list of objects is a broken server."""
    items = body.get("items") or []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise KubeError("malformed PodList from the API server")
    return items


def pod_state(pod: Mapping[str, Any]) -> PodState:
    """A pod's :class:`PodState` from its JSON. Lenient: a missing or malformed field reads
    as its absence (not Ready, no start time, phase Pending), which the core treats
    pessimistically."""
    meta = _mapping(pod.get("metadata"))
    status = _mapping(pod.get("status"))
    conditions = status.get("conditions")
    by_type = {c.get("type"): c for c in conditions if isinstance(c, Mapping)} if isinstance(conditions, list) else {}
    ready_condition = _mapping(by_type.get("Ready"))
    ready = ready_condition.get("status") == "True"
    scheduled = _mapping(by_type.get("PodScheduled"))
    unschedulable = None
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        message = scheduled.get("message")
        unschedulable = message[:MAX_SCHEDULER_MESSAGE] if isinstance(message, str) else ""
    phase = status.get("phase")
    return PodState(
        name=str(meta.get("name") or ""),
        ready=ready,
        start_time=parse_time_or_none(status.get("startTime")),
        phase=phase if isinstance(phase, str) and phase else "Pending",
        deleting=meta.get("deletionTimestamp") is not None,
        created=parse_time_or_none(meta.get("creationTimestamp")),
        ready_time=parse_time_or_none(ready_condition.get("lastTransitionTime")) if ready else None,
        unschedulable=unschedulable,
    )


def pod_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    labels = _mapping(pod.get("metadata")).get("labels")
    if not isinstance(labels, Mapping):
        return {}
    return {str(k): str(v) for k, v in labels.items()}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
