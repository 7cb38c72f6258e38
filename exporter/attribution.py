"""Which pod holds which GPU, from the kubelet's PodResources v1 gRPC API.

The kubelet answers ``List`` on a unix socket (default
``/var/lib/kubelet/pod-resources/kubelet.sock``) with every pod's containers and the
device IDs allocated to them per resource. For ``nvidia.com/gpu`` the NVIDIA device
plugin's device IDs are GPU UUIDs (``GPU-5d0c...``); with MIG it hands out MIG UUIDs
(``MIG-...``, resource ``nvidia.com/gpu`` or ``nvidia.com/mig-1g.18gb``), and with
time-slicing the same UUID appears with a replica suffix (``GPU-5d0c...::3``) in
several pods. :func:`holders_by_device` maps each UUID to all of its holders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from exporter import podresources as pr
from exporter.errors import PodResourcesError
from exporter.snapshot import Holder

DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"

#: Resource names whose devices are GPUs; a trailing ``*`` matches a prefix.
DEFAULT_GPU_RESOURCES: tuple[str, ...] = ("nvidia.com/gpu", "nvidia.com/mig-*")


class PodResourcesSource(Protocol):
    """Anything that says who holds each GPU; raises :class:`PodResourcesError`."""

    def holders(self) -> Mapping[str, tuple[Holder, ...]]: ...


@dataclass(frozen=True)
class Allocation:
    """One container's devices of one resource, as the kubelet lists them."""

    namespace: str
    pod: str
    container: str
    resource: str
    device_ids: tuple[str, ...]


def resource_matches(resource: str, patterns: Iterable[str]) -> bool:
    """``nvidia.com/mig-1g.18gb`` matches ``nvidia.com/mig-*``; ``nvidia.com/gpu`` itself."""
    for p in patterns:
        if (p.endswith("*") and resource.startswith(p[:-1])) or resource == p:
            return True
    return False


def device_uuid(device_id: str) -> str:
    """The GPU UUID in a device ID: time-sliced replicas are ``UUID::N`` -> ``UUID``."""
    return device_id.split("::", 1)[0]


def holders_by_device(
    allocations: Iterable[Allocation], resources: Iterable[str] = DEFAULT_GPU_RESOURCES
) -> dict[str, tuple[Holder, ...]]:
    """GPU UUID -> the containers holding it, each once, sorted (stable labels).

    Two pods time-slicing ``GPU-a`` (``GPU-a::0``, ``GPU-a::1``) give
    ``{"GPU-a": (Holder(ns, pod1, c), Holder(ns, pod2, c))}``.
    """
    patterns = tuple(resources)
    found: dict[str, set[Holder]] = {}
    for a in allocations:
        if not resource_matches(a.resource, patterns):
            continue
        for device_id in a.device_ids:
            found.setdefault(device_uuid(device_id), set()).add(Holder(a.namespace, a.pod, a.container))
    return {uuid: tuple(sorted(hs, key=lambda h: (h.namespace, h.pod, h.container))) for uuid, hs in found.items()}


def allocations_from_response(response: Any) -> list[Allocation]:
    """Flatten a ``ListPodResourcesResponse`` into one :class:`Allocation` per
    (container, resource)."""
    out = []
    for pod in response.pod_resources:
        for container in pod.containers:
            for devices in container.devices:
                out.append(
                    Allocation(
                        pod.namespace, pod.name, container.name, devices.resource_name, tuple(devices.device_ids)
                    )
                )
    return out


class PodResourcesClient:
    """Calls ``PodResourcesLister/List`` on the kubelet's unix socket.

    A fresh channel per call: at one call per 5 s tick its cost (about a millisecond on
    a unix socket) is nothing, and it never sits in gRPC's reconnect backoff (up to
    120 s) after the kubelet restarts and recreates its socket.
    """

    def __init__(
        self,
        socket_path: str = DEFAULT_SOCKET,
        *,
        timeout_s: float = 1.0,
        resources: Iterable[str] = DEFAULT_GPU_RESOURCES,
    ) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s
        self.resources = tuple(resources)

    def list(self) -> list[Allocation]:
        try:
            with grpc.insecure_channel(f"unix://{self.socket_path}") as channel:
                call = channel.unary_unary(
                    pr.LIST_METHOD,
                    request_serializer=pr.ListPodResourcesRequest.SerializeToString,
                    response_deserializer=pr.ListPodResourcesResponse.FromString,
                )
                response = call(pr.ListPodResourcesRequest(), timeout=self.timeout_s)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            name = code.name if code is not None else "ERROR"
            raise PodResourcesError(f"kubelet PodResources List on {self.socket_path}: {name}: {detail}") from exc
        return allocations_from_response(response)

    def holders(self) -> Mapping[str, tuple[Holder, ...]]:
        return holders_by_device(self.list(), self.resources)
