"""GPU-to-pod attribution against a real gRPC server speaking PodResources v1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from exporter import podresources as pr
from exporter.attribution import Allocation, PodResourcesClient, holders_by_device
from exporter.errors import PodResourcesError
from exporter.snapshot import Holder
from tests.fakes.kubelet import FakeContainer, FakeKubelet, FakePod, gpu_pod

PROTO = Path(pr.__file__).with_name("api.proto")


@pytest.fixture
def kubelet(tmp_path: Path) -> Iterator[FakeKubelet]:
    with FakeKubelet(tmp_path / "kubelet.sock") as k:
        yield k


def alloc(pod: str, resource: str, *ids: str, ns: str = "serving", container: str = "server") -> Allocation:
    return Allocation(ns, pod, container, resource, ids)


@pytest.mark.parametrize(
    "allocations, expected",
    [
        pytest.param([], {}, id="nothing-allocated"),
        pytest.param(
            [alloc("llm-0", "nvidia.com/gpu", "GPU-a")],
            {"GPU-a": (Holder("serving", "llm-0", "server"),)},
            id="one-gpu",
        ),
        pytest.param(
            [alloc("llm-0", "nvidia.com/gpu", "GPU-a", "GPU-b")],
            {"GPU-a": (Holder("serving", "llm-0", "server"),), "GPU-b": (Holder("serving", "llm-0", "server"),)},
            id="two-gpus-one-container",
        ),
        pytest.param([alloc("x", "example.com/fpga", "GPU-a")], {}, id="other-resources-ignored"),
        pytest.param(
            [alloc("mig-0", "nvidia.com/mig-1g.18gb", "MIG-1")],
            {"MIG-1": (Holder("serving", "mig-0", "server"),)},
            id="mig-resource-prefix",
        ),
        pytest.param(
            [alloc("b", "nvidia.com/gpu", "GPU-a::1"), alloc("a", "nvidia.com/gpu", "GPU-a::0")],
            {"GPU-a": (Holder("serving", "a", "server"), Holder("serving", "b", "server"))},
            id="time-sliced-replicas-share-a-uuid-sorted",
        ),
    ],
)
def test_holders_by_device(allocations: list[Allocation], expected: dict[str, tuple[Holder, ...]]) -> None:
    assert holders_by_device(allocations) == expected


def test_list_over_a_real_unix_socket(kubelet: FakeKubelet) -> None:
    kubelet.pods = [
        gpu_pod("serving", "llm-0", "GPU-a", container="vllm"),
        FakePod(
            "serving",
            "llm-1",
            [FakeContainer("vllm", {"nvidia.com/gpu": ["GPU-b", "GPU-c"]}), FakeContainer("sidecar")],
        ),
        FakePod("kube-system", "cni", [FakeContainer("cni", {"example.com/nic": ["eth1"]})]),
    ]
    holders = PodResourcesClient(kubelet.socket_path).holders()
    assert holders == {
        "GPU-a": (Holder("serving", "llm-0", "vllm"),),
        "GPU-b": (Holder("serving", "llm-1", "vllm"),),
        "GPU-c": (Holder("serving", "llm-1", "vllm"),),
    }
    assert kubelet.calls == 1


def test_custom_resource_names(kubelet: FakeKubelet) -> None:
    kubelet.pods = [gpu_pod("s", "p", "GPU-a", resource="gpu.example.com/h200")]
    assert PodResourcesClient(kubelet.socket_path).holders() == {}
    assert PodResourcesClient(kubelet.socket_path, resources=["gpu.example.com/*"]).holders() == {
        "GPU-a": (Holder("s", "p", "server"),)
    }


def test_a_failing_kubelet_raises_our_error(kubelet: FakeKubelet) -> None:
    kubelet.failing = True
    with pytest.raises(PodResourcesError, match="UNAVAILABLE: fake kubelet is failing"):
        PodResourcesClient(kubelet.socket_path).holders()


def test_an_absent_socket_raises_our_error(tmp_path: Path) -> None:
    with pytest.raises(PodResourcesError, match="UNAVAILABLE"):
        PodResourcesClient(str(tmp_path / "no.sock"), timeout_s=0.5).holders()


def test_a_restarted_kubelet_is_found_again(kubelet: FakeKubelet) -> None:
    client = PodResourcesClient(kubelet.socket_path)
    kubelet.pods = [gpu_pod("s", "p", "GPU-a")]
    assert client.holders()
    kubelet.stop()
    with pytest.raises(PodResourcesError):
        client.holders()
    kubelet.start()  # a new socket at the same path, as after a kubelet restart
    assert client.holders() == {"GPU-a": (Holder("s", "p", "server"),)}


def _fields(fdp: descriptor_pb2.FileDescriptorProto) -> dict[str, set[tuple[str, int, int, int, str]]]:
    return {m.name: {(f.name, f.number, f.type, f.label, f.type_name) for f in m.field} for m in fdp.message_type}


def test_hand_built_descriptors_match_the_published_proto(tmp_path: Path) -> None:
    """Compile api.proto with grpcio-tools' protoc and compare every message and field
    (name, number, type, label, message type) with exporter/podresources."""
    pytest.importorskip("grpc_tools")
    out = tmp_path / "api.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO.parent}", f"--descriptor_set_out={out}", PROTO.name],
        check=True,
        capture_output=True,
    )
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    ours = pr.file_descriptor_proto()
    assert compiled.package == ours.package == "v1"
    assert _fields(ours) == _fields(compiled)
    service = compiled.service[0]
    assert f"{compiled.package}.{service.name}" == pr.SERVICE
    assert "List" in {m.name for m in service.method} and f"/{pr.SERVICE}/List" == pr.LIST_METHOD
