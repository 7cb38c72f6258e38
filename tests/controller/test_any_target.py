"""Any workload with a /scale (issue 13), through the loop with the real Kubernetes adapters
(ScaleTargetCache, as the controller wires it) against the API emulator over HTTP: a
LeaderWorkerSet scaled end to end by its leaders' queues, a kind without /scale reported
as a condition and an Event, and an Argo Rollout whose CRD is installed while we run."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from autoscaler.kube.client import KubeClient
from autoscaler.kube.discovery import RESTMapper
from autoscaler.kube.events import KubeEventSink
from autoscaler.kube.pods import KubePodLister
from autoscaler.kube.scale import KubeScaleClient, ScaleTargetCache
from autoscaler.kube.scalers import KubeScalerStore
from autoscaler.loop import ControlLoop, LoopSettings, Outcome
from autoscaler.metrics.queue_depth import QUEUE_DEPTH
from autoscaler.telemetry import Telemetry
from simulations.cluster.apiserver import ApiServer, ResourceType
from tests.controller.fake_source import FakeMetricSource
from tests.controller.harness import scaler_doc

NS = "serving"
LWS = ("leaderworkerset.x-k8s.io", "leaderworkersets")
NAME = "leaderworkerset.sigs.k8s.io/name"
INDEX = "leaderworkerset.sigs.k8s.io/worker-index"
#: What the LWS controller writes at status.hpaPodSelector (the CRD's scale selectorpath): leaders only.
LEADERS = f"{NAME}=llama,{INDEX}=0"
ROLLOUT = ResourceType("argoproj.io", "v1alpha1", "rollouts", "Rollout", True, True)


@pytest.fixture
def loop(client: KubeClient, source: FakeMetricSource) -> Iterator[ControlLoop]:
    """As autoscaler/controller.py wires it; discovery refreshes on every miss (miss_refresh 0)
    so the test need not wait 10 s for a CRD installed later."""
    targets = ScaleTargetCache(client, [NS], scales=KubeScaleClient(client, RESTMapper(client, miss_refresh=0)))
    targets.start()
    assert targets.wait_synced(5)
    control = ControlLoop(scalers=KubeScalerStore(client, compact_memory=True), scales=targets,
                          pods=KubePodLister(client), events=KubeEventSink(client), metrics=source,
                          telemetry=Telemetry(), settings=LoopSettings(jitter=0.0, workers=1))
    yield control
    control.close()
    targets.stop()


@pytest.fixture
def source() -> FakeMetricSource:
    return FakeMetricSource()


def poll(loop: ControlLoop, now: float) -> Outcome:
    [future] = loop.tick(now)
    return future.result(timeout=30)


def scaler(api: ApiServer, api_version: str, kind: str, name: str) -> None:
    doc = scaler_doc(NS, "llm", interval=15)
    doc["spec"]["scaleTargetRef"] = {"apiVersion": api_version, "kind": kind, "name": name}
    api.add_gpuscaler(doc)


def condition(api: ApiServer, type_: str) -> dict[str, Any]:
    return next(c for c in api.gpuscaler(NS, "llm")["status"]["conditions"] if c["type"] == type_)


def test_a_leaderworkerset_is_scaled_by_its_leaders(api: ApiServer, loop: ControlLoop,
                                                    source: FakeMetricSource) -> None:
    """2 groups of 4 pods (a leader and 3 workers each). The scale's selector picks the 2
    leaders, which hold the queue: 12 each against a target of 4 asks ceil(12 / 4 x 2) = 6
    groups, within HPA's default scale-up limit max(2 + 100 %, 2 + 4) = 6. Had the workers
    been counted (8 pods, 6 without a queue reading), the proposal would not be 6."""
    api.create(*LWS, {"metadata": {"name": "llama", "namespace": NS},
                      "spec": {"replicas": 2, "leaderWorkerTemplate": {"size": 4}},
                      "status": {"replicas": 2, "hpaPodSelector": LEADERS}})
    t = time.time()
    for group in range(2):
        [leader] = api.add_pods(NS, {NAME: "llama", INDEX: "0"}, prefix=f"llama-{group}")
        source.set(QUEUE_DEPTH, NS, leader, 12, t)
        for worker in range(1, 4):
            api.add_pods(NS, {NAME: "llama", INDEX: str(worker)}, prefix=f"llama-{group}-{worker}")
    scaler(api, "leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", "llama")
    api.clear_log()

    out = poll(loop, t)

    assert out.decision is not None and (out.decision.current_replicas, out.decision.desired_replicas) == (2, 6)
    assert out.applied and out.failures == {}
    lws = api.get(*LWS, NS, "llama")
    assert lws is not None and lws["spec"]["replicas"] == 6
    assert condition(api, "AbleToScale")["status"] == "True"
    scale = f"/apis/{LWS[0]}/v1/namespaces/{NS}/leaderworkersets/llama/scale"
    assert [(r.verb, r.path) for r in api.requests if "leaderworkerset" in r.path] == [
        ("get", f"/apis/{LWS[0]}/v1"), ("get", scale), ("patch", scale)]
    # What the deploy/components/leaderworkerset component grants for it (tests/deploy/test_components.py):
    assert {(g, r, v) for g, r, v in api.rbac_requirements() if g == LWS[0]} == {
        (LWS[0], "leaderworkersets/scale", "get"), (LWS[0], "leaderworkersets/scale", "patch")}


def test_a_kind_without_scale_is_a_condition_and_an_event(api: ApiServer, loop: ControlLoop) -> None:
    api.create("serving.example.com", "modelcaches", {"metadata": {"name": "weights", "namespace": NS}, "spec": {}})
    scaler(api, "serving.example.com/v1", "ModelCache", "weights")

    out = poll(loop, time.time())

    message = ("cannot read the scale of ModelCache/weights: kind ModelCache in serving.example.com/v1 "
               "has no scale subresource (modelcaches/scale is not served)")
    assert out.decision is None and out.failures == {"FailedGetScale": message}
    able = condition(api, "AbleToScale")
    assert (able["status"], able["reason"], able["message"]) == ("False", "FailedGetScale", message)
    [event] = [e for e in api.events(NS) if e["reason"] == "FailedGetScale"]
    assert (event["type"], event["message"]) == ("Warning", message)
    assert not [r for r in api.requests if r.resource == "modelcaches"]  # never asked for a /scale it has not


def test_a_crd_installed_later_is_scaled_without_a_restart(api: ApiServer, loop: ControlLoop,
                                                          source: FakeMetricSource) -> None:
    scaler(api, "argoproj.io/v1alpha1", "Rollout", "llm")
    t = time.time()
    out = poll(loop, t)
    assert out.failures == {"FailedGetScale": "cannot read the scale of Rollout/llm: the API server does not "
                                              "serve argoproj.io/v1alpha1 (is its CustomResourceDefinition installed?)"}

    api.register_type(ROLLOUT)  # Argo Rollouts installed; its scale's selector is at status.selector
    api.create("argoproj.io", "rollouts", {"metadata": {"name": "llm", "namespace": NS}, "spec": {"replicas": 1},
                                           "status": {"replicas": 1, "selector": "app=llm"}})
    [pod] = api.add_pods(NS, {"app": "llm"}, prefix="llm")
    source.set(QUEUE_DEPTH, NS, pod, 8, t + 15)
    out = poll(loop, t + 15)

    assert out.decision is not None and out.applied and out.decision.desired_replicas == 2  # ceil(8 / 4 x 1)
    rollout = api.get("argoproj.io", "rollouts", NS, "llm")
    assert rollout is not None and rollout["spec"]["replicas"] == 2
    assert condition(api, "AbleToScale")["status"] == "True"


def test_a_target_whose_scale_has_no_selector_yet_holds(api: ApiServer, loop: ControlLoop) -> None:
    """A LeaderWorkerSet just created, before its controller wrote status.hpaPodSelector: its
    scale's selector is "" (which would match every pod in the namespace). No pods are
    listed with it and nothing is scaled; the failure says why."""
    api.create(*LWS, {"metadata": {"name": "llama", "namespace": NS}, "spec": {"replicas": 2}})
    api.add_pods(NS, {"app": "unrelated"}, count=3, prefix="other")
    scaler(api, "leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", "llama")

    out = poll(loop, time.time())

    assert not out.applied
    assert "refusing to list pods in serving with an empty selector" in out.failures["FailedGetMetrics"]
    lws = api.get(*LWS, NS, "llama")
    assert lws is not None and lws["spec"]["replicas"] == 2
    assert not [r for r in api.requests if r.resource == "pods"]
