"""KubeScaleClient: the scale subresource of Deployments, StatefulSets and custom workloads."""
from __future__ import annotations

import pytest

from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import NotFound
from autoscaler.kube.scale import KubeScaleClient
from autoscaler.kube.types import Scale
from autoscaler.spec import ScaleTargetRef
from simulations.cluster.apiserver import ApiServer

POOL_PLURAL = ("serving.example.com", "inferencepools")


@pytest.fixture(autouse=True)
def targets(apiserver: ApiServer) -> None:
    apiserver.add_deployment("ns", "web", 3, labels={"app": "web", "tier": "gpu"})
    apiserver.add_statefulset("ns", "db", 2)
    apiserver.create(*POOL_PLURAL, {"metadata": {"name": "pool", "namespace": "ns"},
                                    "spec": {"replicas": 4}, "status": {"selector": "pool=p1"}})


@pytest.mark.parametrize("ref,expected,path", [
    pytest.param(ScaleTargetRef("apps/v1", "Deployment", "web"), Scale("ns", "web", 3, 3, "app=web,tier=gpu"),
                 "/apis/apps/v1/namespaces/ns/deployments/web/scale", id="Deployment"),
    pytest.param(ScaleTargetRef("apps/v1", "StatefulSet", "db"), Scale("ns", "db", 2, 2, "app=db"),
                 "/apis/apps/v1/namespaces/ns/statefulsets/db/scale", id="StatefulSet"),
    pytest.param(ScaleTargetRef("serving.example.com/v1", "InferencePool", "pool"), Scale("ns", "pool", 4, 4, "pool=p1"),
                 "/apis/serving.example.com/v1/namespaces/ns/inferencepools/pool/scale", id="custom resource: kind + s"),
])
def test_get_and_set_replicas(apiserver: ApiServer, kube: KubeClient, ref: ScaleTargetRef, expected: Scale,
                              path: str) -> None:
    scales = KubeScaleClient(kube)
    assert scales.get_scale("ns", ref) == expected
    scales.set_replicas("ns", ref, 7)
    assert scales.get_scale("ns", ref).replicas == 7
    assert [(r.method, r.path, r.status) for r in apiserver.requests] == [
        ("GET", path, 200), ("PATCH", path, 200), ("GET", path, 200)]


def test_set_replicas_bumps_the_workload_generation_only(apiserver: ApiServer, kube: KubeClient) -> None:
    KubeScaleClient(kube).set_replicas("ns", ScaleTargetRef("apps/v1", "Deployment", "web"), 5)
    dep = apiserver.deployment("ns", "web")
    assert (dep["spec"]["replicas"], dep["metadata"]["generation"]) == (5, 2)
    assert dep["spec"]["template"]["spec"]["containers"][0]["name"] == "server"  # nothing else touched


def test_plural_override(apiserver: ApiServer, kube: KubeClient) -> None:
    ref = ScaleTargetRef("serving.example.com/v1", "Pool", "pool")
    scales = KubeScaleClient(kube, plurals={("serving.example.com/v1", "Pool"): "inferencepools"})
    assert scales.get_scale("ns", ref).replicas == 4


@pytest.mark.parametrize("ref", [
    pytest.param(ScaleTargetRef("apps/v1", "Deployment", "nope"), id="missing Deployment"),
    pytest.param(ScaleTargetRef("apps/v1", "StatefulSet", "nope"), id="missing StatefulSet"),
    pytest.param(ScaleTargetRef("serving.example.com/v1", "Widget", "pool"), id="unknown resource"),
])
def test_missing_target_is_not_found(kube: KubeClient, ref: ScaleTargetRef) -> None:
    with pytest.raises(NotFound):
        KubeScaleClient(kube).get_scale("ns", ref)
