"""KubeScaleClient: the scale subresource of Deployments, StatefulSets and custom workloads; ScaleTargetCache:
the same Scale read from a watch of Deployments and StatefulSets."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import NotFound
from autoscaler.kube.scale import KubeScaleClient, ScaleTargetCache, scale_of_workload
from autoscaler.kube.types import Scale
from autoscaler.spec import ScaleTargetRef
from simulations.cluster.apiserver import ApiServer, wait_until

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
                 "/apis/serving.example.com/v1/namespaces/ns/inferencepools/pool/scale", id="custom resource"),
])
def test_get_and_set_replicas(apiserver: ApiServer, kube: KubeClient, ref: ScaleTargetRef, expected: Scale,
                              path: str) -> None:
    scales = KubeScaleClient(kube)
    assert scales.get_scale("ns", ref) == expected
    scales.set_replicas("ns", ref, 7)
    assert scales.get_scale("ns", ref).replicas == 7
    discovery = [] if ref.api_version == "apps/v1" else [("GET", "/apis/serving.example.com/v1", 200)]  # once
    assert [(r.method, r.path, r.status) for r in apiserver.requests] == discovery + [
        ("GET", path, 200), ("PATCH", path, 200), ("GET", path, 200)]


def test_set_replicas_bumps_the_workload_generation_only(apiserver: ApiServer, kube: KubeClient) -> None:
    KubeScaleClient(kube).set_replicas("ns", ScaleTargetRef("apps/v1", "Deployment", "web"), 5)
    dep = apiserver.deployment("ns", "web")
    assert (dep["spec"]["replicas"], dep["metadata"]["generation"]) == (5, 2)
    assert dep["spec"]["template"]["spec"]["containers"][0]["name"] == "server"  # nothing else touched


@pytest.mark.parametrize("ref", [
    pytest.param(ScaleTargetRef("apps/v1", "Deployment", "nope"), id="missing Deployment"),
    pytest.param(ScaleTargetRef("apps/v1", "StatefulSet", "nope"), id="missing StatefulSet"),
    pytest.param(ScaleTargetRef("serving.example.com/v1", "Widget", "pool"), id="unknown resource"),
])
def test_missing_target_is_not_found(kube: KubeClient, ref: ScaleTargetRef) -> None:
    with pytest.raises(NotFound):
        KubeScaleClient(kube).get_scale("ns", ref)


# ---------------------------------------------------------------- ScaleTargetCache
@pytest.fixture
def cache(kube: KubeClient) -> Iterator[ScaleTargetCache]:
    targets = ScaleTargetCache(kube, None)
    targets.start()
    assert targets.wait_synced(5)
    yield targets
    targets.stop()


@pytest.mark.parametrize("ref,expected", [
    pytest.param(ScaleTargetRef("apps/v1", "Deployment", "web"), Scale("ns", "web", 3, 3, "app=web,tier=gpu"),
                 id="Deployment"),
    pytest.param(ScaleTargetRef("apps/v1", "StatefulSet", "db"), Scale("ns", "db", 2, 2, "app=db"), id="StatefulSet"),
])
def test_cache_reads_workloads_from_the_watch_as_scale_would(apiserver: ApiServer, kube: KubeClient,
                                                             cache: ScaleTargetCache, ref: ScaleTargetRef,
                                                             expected: Scale) -> None:
    """The same Scale as the GET of /scale (the table above), without a request."""
    apiserver.clear_log()
    assert cache.get_scale("ns", ref) == expected
    assert [r.verb for r in apiserver.requests if r.verb != "watch"] == []  # (a watch may just be resuming)
    cache.set_replicas("ns", ref, 7)  # a PATCH of /scale; the watch brings the change back
    wait_until(lambda: cache.get_scale("ns", ref).replicas == 7)
    assert [r.verb for r in apiserver.requests if r.verb != "watch"] == ["patch"]


@pytest.mark.parametrize("ref,path", [
    pytest.param(ScaleTargetRef("serving.example.com/v1", "InferencePool", "pool"),
                 "/apis/serving.example.com/v1/namespaces/ns/inferencepools/pool/scale", id="other kinds: GET"),
    pytest.param(ScaleTargetRef("apps/v1", "Deployment", "later"),
                 "/apis/apps/v1/namespaces/ns/deployments/later/scale", id="not seen yet: GET"),
])
def test_cache_asks_the_api_for_what_it_does_not_hold(apiserver: ApiServer, cache: ScaleTargetCache,
                                                      ref: ScaleTargetRef, path: str) -> None:
    apiserver.fail(r"/deployments$", status=500)  # the watch of Deployments sees nothing new
    apiserver.drop_watches()
    if ref.name == "later":
        apiserver.add_deployment("ns", "later", 2)
    apiserver.clear_log()
    assert cache.get_scale("ns", ref).replicas in (2, 4)
    assert [(r.verb, r.path) for r in apiserver.requests if r.verb == "get" and r.resource] == [("get", path)]


def test_a_cache_that_cannot_list_asks_for_every_scale(apiserver: ApiServer, make_client: Callable[..., KubeClient],
                                                       kube: KubeClient) -> None:
    """No list+watch right on Deployments (RBAC without it): every read is the GET, as before."""
    apiserver.fail(r"/deployments$", user_agent="^watcher$", status=403)
    targets = ScaleTargetCache(make_client(user_agent="watcher"), ["ns"], scales=KubeScaleClient(kube))
    targets.start()
    try:
        ref = ScaleTargetRef("apps/v1", "Deployment", "web")
        assert targets.get_scale("ns", ref).replicas == 3
        assert any(r.path.endswith("/deployments/web/scale") for r in apiserver.requests)
    finally:
        targets.stop()


@pytest.mark.parametrize("selector,expected", [
    pytest.param({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2", id="labels sorted by key"),
    pytest.param({"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["gpu", "cpu"]},
        {"key": "canary", "operator": "DoesNotExist"},
        {"key": "zone", "operator": "NotIn", "values": ["z1"]},
        {"key": "gpu", "operator": "Exists"}]},
        "app=web,!canary,gpu,tier in (cpu,gpu),zone notin (z1)", id="expressions"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "Near"}]}, None, id="unknown operator: ask /scale"),
    pytest.param(None, None, id="no selector: ask /scale"),
])
def test_selector_of_a_workload(selector: object, expected: str | None) -> None:
    raw = {"metadata": {"name": "w", "namespace": "ns"}, "spec": {"replicas": 2, "selector": selector},
           "status": {"replicas": 1}}
    scale = scale_of_workload(raw)
    assert (scale.selector if scale else None) == expected
