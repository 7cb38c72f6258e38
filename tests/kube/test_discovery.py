"""Any kind with a /scale, resolved by API discovery (issue 13): the RESTMapper against the
API emulator's discovery documents, and KubeScaleClient scaling a LeaderWorkerSet with it."""
from __future__ import annotations

import pytest

from autoscaler.kube.client import KubeClient
from autoscaler.kube.discovery import NoScaleSubresource, ResourceMapping, RESTMapper, UnknownKind
from autoscaler.kube.errors import ServerError
from autoscaler.kube.scale import KubeScaleClient
from autoscaler.kube.types import Scale
from autoscaler.spec import ScaleTargetRef
from simulations.cluster.apiserver import ApiServer, ResourceType

LWS = ("leaderworkerset.x-k8s.io", "leaderworkersets")
LWS_GV = "/apis/leaderworkerset.x-k8s.io/v1"
#: What the LeaderWorkerSet controller writes at status.hpaPodSelector: the leader pods only.
LEADERS = "leaderworkerset.sigs.k8s.io/name=llama,leaderworkerset.sigs.k8s.io/worker-index=0"
ROLLOUT = ResourceType("argoproj.io", "v1alpha1", "rollouts", "Rollout", True, True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def discovery_gets(apiserver: ApiServer) -> list[str]:
    return [r.path for r in apiserver.requests if not r.resource]


@pytest.mark.parametrize("api_version,kind,expected", [
    pytest.param("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet",
                 ResourceMapping("leaderworkerset.x-k8s.io", "v1", "LeaderWorkerSet", "leaderworkersets", True, True),
                 id="LeaderWorkerSet: scalable"),
    pytest.param("serving.example.com/v1", "ModelCache",
                 ResourceMapping("serving.example.com", "v1", "ModelCache", "modelcaches", True, False),
                 id="a CRD without /scale"),
    pytest.param("v1", "Pod", ResourceMapping("", "v1", "Pod", "pods", True, False), id="core group"),
    pytest.param("apps/v1", "StatefulSet", ResourceMapping("apps", "v1", "StatefulSet", "statefulsets", True, True),
                 id="apps"),
])
def test_mapping_from_discovery(kube: KubeClient, api_version: str, kind: str, expected: ResourceMapping) -> None:
    assert RESTMapper(kube).mapping(api_version, kind) == expected


@pytest.mark.parametrize("api_version,kind,message", [
    pytest.param("serving.example.com/v1", "Widget", "no kind Widget in serving.example.com/v1 (it serves: "
                 "InferencePool, ModelCache)", id="unknown kind"),
    pytest.param("argoproj.io/v1alpha1", "Rollout", "the API server does not serve argoproj.io/v1alpha1 "
                 "(is its CustomResourceDefinition installed?)", id="group version not served"),
])
def test_unknown_kinds_say_what_is_served(kube: KubeClient, api_version: str, kind: str, message: str) -> None:
    with pytest.raises(UnknownKind) as info:
        RESTMapper(kube).mapping(api_version, kind)
    assert info.value.message == message


def test_discovery_is_cached_for_its_ttl(apiserver: ApiServer, kube: KubeClient) -> None:
    """1 GET of the group version for any number of lookups within the TTL (300 s), 1 more after."""
    clock = Clock()
    mapper = RESTMapper(kube, ttl=300, clock=clock)
    for _ in range(50):
        mapper.mapping("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")
    clock.now += 299
    mapper.mapping("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")
    assert discovery_gets(apiserver) == [LWS_GV]
    clock.now += 2
    mapper.mapping("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")
    assert discovery_gets(apiserver) == [LWS_GV, LWS_GV]


def test_a_crd_installed_later_is_found_on_the_next_miss(apiserver: ApiServer, kube: KubeClient) -> None:
    """A miss refreshes (not more often than miss_refresh, 10 s), so a Rollout CRD installed
    after the controller started is scaled without a restart and without waiting for the TTL."""
    clock = Clock()
    mapper = RESTMapper(kube, ttl=300, miss_refresh=10, clock=clock)
    with pytest.raises(UnknownKind):
        mapper.mapping("argoproj.io/v1alpha1", "Rollout")
    apiserver.register_type(ROLLOUT)
    clock.now += 5
    with pytest.raises(UnknownKind):  # within miss_refresh: the cached answer, no GET
        mapper.mapping("argoproj.io/v1alpha1", "Rollout")
    assert discovery_gets(apiserver) == ["/apis/argoproj.io/v1alpha1"]
    clock.now += 6
    assert mapper.mapping("argoproj.io/v1alpha1", "Rollout").plural == "rollouts"
    assert discovery_gets(apiserver) == ["/apis/argoproj.io/v1alpha1"] * 2


def test_a_stale_document_outlives_an_outage(apiserver: ApiServer, kube: KubeClient) -> None:
    """Past its TTL with the API server failing, the cached mapping still answers (a plural does
    not change under us); with nothing cached, the failure is the caller's to report."""
    clock = Clock()
    mapper = RESTMapper(kube, ttl=300, clock=clock)
    mapper.mapping("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")
    apiserver.fail(r"^/apis?/[^/]+(/[^/]+)?/?$", status=503)
    clock.now += 600
    assert mapper.mapping("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet").plural == "leaderworkersets"
    with pytest.raises(ServerError):
        mapper.mapping("serving.example.com/v1", "InferencePool")


# ---------------------------------------------------------------- KubeScaleClient over discovery
@pytest.fixture
def llama(apiserver: ApiServer) -> ScaleTargetRef:
    apiserver.create(*LWS, {"metadata": {"name": "llama", "namespace": "ns"},
                            "spec": {"replicas": 2, "leaderWorkerTemplate": {"size": 4}},
                            "status": {"replicas": 2, "hpaPodSelector": LEADERS}})
    return ScaleTargetRef("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", "llama")


def test_scales_a_leaderworkerset(apiserver: ApiServer, kube: KubeClient, llama: ScaleTargetRef) -> None:
    """Its scale as the LWS CRD serves it: replicas are groups, the selector the leaders'."""
    scales = KubeScaleClient(kube)
    assert scales.get_scale("ns", llama) == Scale("ns", "llama", 2, 2, LEADERS)
    scales.set_replicas("ns", llama, 3)
    lws = apiserver.get(*LWS, "ns", "llama")
    assert lws is not None and lws["spec"] == {"replicas": 3, "leaderWorkerTemplate": {"size": 4}}
    path = f"{LWS_GV}/namespaces/ns/leaderworkersets/llama/scale"
    assert [(r.verb, r.path) for r in apiserver.requests] == [("get", LWS_GV), ("get", path), ("patch", path)]
    assert apiserver.rbac_requirements() == {(LWS[0], "leaderworkersets/scale", "get"),
                                             (LWS[0], "leaderworkersets/scale", "patch")}


def test_a_kind_without_scale_is_refused_before_any_request_for_it(apiserver: ApiServer, kube: KubeClient) -> None:
    apiserver.create("serving.example.com", "modelcaches", {"metadata": {"name": "weights", "namespace": "ns"},
                                                            "spec": {}})
    with pytest.raises(NoScaleSubresource) as info:
        KubeScaleClient(kube).get_scale("ns", ScaleTargetRef("serving.example.com/v1", "ModelCache", "weights"))
    assert info.value.message.startswith("kind ModelCache in serving.example.com/v1 has no scale subresource")
    assert [r.path for r in apiserver.requests] == ["/apis/serving.example.com/v1"]


def test_a_core_kind_is_not_scaled(apiserver: ApiServer, kube: KubeClient) -> None:
    """The core group's only kind with /scale is the deprecated ReplicationController: refused
    with a message, never a request to a made-up URL (``/apis//v1/...``)."""
    apiserver.register_type(ResourceType("", "v1", "replicationcontrollers", "ReplicationController", True, True))
    scales = KubeScaleClient(kube)
    with pytest.raises(NoScaleSubresource, match="kind Pod in v1 has no scale subresource"):
        scales.get_scale("ns", ScaleTargetRef("v1", "Pod", "p"))
    with pytest.raises(NoScaleSubresource, match="core group's scale subresource is not supported"):
        scales.set_replicas("ns", ScaleTargetRef("v1", "ReplicationController", "rc"), 2)
    assert [r.path for r in apiserver.requests] == ["/api/v1/"]
