"""Protobuf messages of the kubelet's PodResources v1 API, built in code.

Why not a committed ``api_pb2.py`` from grpcio-tools: generated modules carry a
runtime check against the protobuf that generated them. Code from grpcio-tools 1.85
(gencode 7.35.1) refuses any protobuf runtime older than 7.35.1 — our
``install_requires`` allows protobuf>=4.25 — and protobuf warns when the runtime is a
major version ahead of the gencode, which our ``filterwarnings = error`` turns into a
failure the day protobuf 8 ships. Descriptors built from a ``FileDescriptorProto``
have neither check, and they go into a private descriptor pool, so a package
``v1`` registered by anything else in the process cannot clash with ours.

``api.proto`` next to this file is the published definition (the source of truth);
``tests/exporter/test_attribution.py`` compiles it with grpcio-tools and checks every
message and field number here against it.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "v1"
SERVICE = "v1.PodResourcesLister"
LIST_METHOD = "/v1.PodResourcesLister/List"

_F = descriptor_pb2.FieldDescriptorProto
_STRING, _INT64, _UINT64 = _F.TYPE_STRING, _F.TYPE_INT64, _F.TYPE_UINT64

#: message -> [(field, number, scalar type or message name, repeated)], as in api.proto.
MESSAGES: dict[str, list[tuple[str, int, int | str, bool]]] = {
    "AllocatableResourcesRequest": [],
    "AllocatableResourcesResponse": [
        ("devices", 1, "ContainerDevices", True),
        ("cpu_ids", 2, _INT64, True),
        ("memory", 3, "ContainerMemory", True),
    ],
    "ListPodResourcesRequest": [],
    "ListPodResourcesResponse": [("pod_resources", 1, "PodResources", True)],
    "PodResources": [
        ("name", 1, _STRING, False),
        ("namespace", 2, _STRING, False),
        ("containers", 3, "ContainerResources", True),
    ],
    "ContainerResources": [
        ("name", 1, _STRING, False),
        ("devices", 2, "ContainerDevices", True),
        ("cpu_ids", 3, _INT64, True),
        ("memory", 4, "ContainerMemory", True),
        ("dynamic_resources", 5, "DynamicResource", True),
    ],
    "ContainerMemory": [
        ("memory_type", 1, _STRING, False),
        ("size", 2, _UINT64, False),
        ("topology", 3, "TopologyInfo", False),
    ],
    "ContainerDevices": [
        ("resource_name", 1, _STRING, False),
        ("device_ids", 2, _STRING, True),
        ("topology", 3, "TopologyInfo", False),
    ],
    "TopologyInfo": [("nodes", 1, "NUMANode", True)],
    "NUMANode": [("ID", 1, _INT64, False)],
    "DynamicResource": [
        ("claim_name", 2, _STRING, False),
        ("claim_namespace", 3, _STRING, False),
        ("claim_resources", 4, "ClaimResource", True),
    ],
    "ClaimResource": [
        ("cdi_devices", 1, "CDIDevice", True),
        ("driver_name", 2, _STRING, False),
        ("pool_name", 3, _STRING, False),
        ("device_name", 4, _STRING, False),
    ],
    "CDIDevice": [("name", 1, _STRING, False)],
    "GetPodResourcesRequest": [("pod_name", 1, _STRING, False), ("pod_namespace", 2, _STRING, False)],
    "GetPodResourcesResponse": [("pod_resources", 1, "PodResources", False)],
}


def file_descriptor_proto() -> descriptor_pb2.FileDescriptorProto:
    """The ``FileDescriptorProto`` equivalent to ``api.proto``."""
    fdp = descriptor_pb2.FileDescriptorProto(name="podresources/v1/api.proto", package=PACKAGE, syntax="proto3")
    for message, fields in MESSAGES.items():
        msg = fdp.message_type.add(name=message)
        for name, number, kind, repeated in fields:
            field = msg.field.add(name=name, number=number)
            field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if isinstance(kind, str):
                field.type = _F.TYPE_MESSAGE
                field.type_name = f".{PACKAGE}.{kind}"
            else:
                field.type = kind
    return fdp


_pool = descriptor_pool.DescriptorPool()
_pool.AddSerializedFile(file_descriptor_proto().SerializeToString())


def _message(name: str) -> Any:
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))


ListPodResourcesRequest = _message("ListPodResourcesRequest")
ListPodResourcesResponse = _message("ListPodResourcesResponse")
PodResources = _message("PodResources")
ContainerResources = _message("ContainerResources")
ContainerDevices = _message("ContainerDevices")
ContainerMemory = _message("ContainerMemory")
TopologyInfo = _message("TopologyInfo")
NUMANode = _message("NUMANode")
DynamicResource = _message("DynamicResource")
ClaimResource = _message("ClaimResource")
CDIDevice = _message("CDIDevice")
