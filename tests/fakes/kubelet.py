"""A fake kubelet: a real gRPC server on a unix socket speaking PodResources v1.

Tests point the exporter's :class:`~exporter.attribution.PodResourcesClient` at
``kubelet.socket_path``; the wire bytes are the real protocol. ``pods`` is what
``List`` returns; ``failing`` makes ``List`` answer UNAVAILABLE; ``stop()`` removes
the socket like a kubelet that went away. Responses also carry the fields the
exporter ignores (cpu_ids, memory, topology, DRA claims), as a real kubelet's do.
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from exporter import podresources as pr


@dataclass
class FakeContainer:
    name: str
    devices: dict[str, list[str]] = field(default_factory=dict)  # resource -> device ids


@dataclass
class FakePod:
    namespace: str
    name: str
    containers: list[FakeContainer] = field(default_factory=list)


def gpu_pod(
    namespace: str, name: str, *uuids: str, container: str = "server", resource: str = "nvidia.com/gpu"
) -> FakePod:
    """A pod with one container holding ``uuids`` of ``resource``."""
    return FakePod(namespace, name, [FakeContainer(container, {resource: list(uuids)})])


class FakeKubelet:
    def __init__(self, socket_path: Path | str) -> None:
        self.socket_path = str(socket_path)
        self.pods: list[FakePod] = []
        self.failing = False
        self.calls = 0
        self._lock = threading.Lock()
        self._server: Any = None

    def _list(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            self.calls += 1
            if self.failing:
                context.abort(grpc.StatusCode.UNAVAILABLE, "fake kubelet is failing")
            pods = list(self.pods)
        return pr.ListPodResourcesResponse(pod_resources=[self._pod(p) for p in pods])

    @staticmethod
    def _pod(p: FakePod) -> Any:
        numa = pr.TopologyInfo(nodes=[pr.NUMANode(ID=0)])
        containers = [
            pr.ContainerResources(
                name=c.name,
                devices=[
                    pr.ContainerDevices(resource_name=r, device_ids=ids, topology=numa) for r, ids in c.devices.items()
                ],
                cpu_ids=[2, 3],
                memory=[pr.ContainerMemory(memory_type="memory", size=2**30, topology=numa)],
                dynamic_resources=[
                    pr.DynamicResource(
                        claim_name="c",
                        claim_namespace=p.namespace,
                        claim_resources=[
                            pr.ClaimResource(driver_name="d", cdi_devices=[pr.CDIDevice(name="vendor.com/x=y")])
                        ],
                    )
                ],
            )
            for c in p.containers
        ]
        return pr.PodResources(name=p.name, namespace=p.namespace, containers=containers)

    def start(self) -> FakeKubelet:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handler = grpc.method_handlers_generic_handler(
            pr.SERVICE,
            {
                "List": grpc.unary_unary_rpc_method_handler(
                    self._list,
                    request_deserializer=pr.ListPodResourcesRequest.FromString,
                    response_serializer=pr.ListPodResourcesResponse.SerializeToString,
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))
        server.add_insecure_port(f"unix://{self.socket_path}")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace=None).wait(5)
        Path(self.socket_path).unlink(missing_ok=True)

    def __enter__(self) -> FakeKubelet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
