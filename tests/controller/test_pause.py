"""Pausing one direction through the real Kubernetes adapters against the API emulator
over HTTP: the spec fields (``pausedScaleIn``, ``pausedScaleOut``) and the annotations
on the GPUScaler object, toggled as ``kubectl annotate`` does (a merge patch through the
official client), take effect within one poll, with the ``Paused`` condition, the
``ScalingLimited`` reason and a Normal Event when a pause starts and when it ends.
Metrics come from the map-backed fake source; time is passed to ``tick``."""
from __future__ import annotations

import time
from typing import Any

from kubernetes import client as k8s

from autoscaler.kube.client import KubeClient
from autoscaler.kube.events import KubeEventSink
from autoscaler.kube.pods import KubePodLister
from autoscaler.kube.scale import KubeScaleClient
from autoscaler.kube.scalers import KubeScalerStore
from autoscaler.loop import ControlLoop, LoopSettings, Outcome
from autoscaler.metrics.queue_depth import QUEUE_DEPTH
from autoscaler.telemetry import Telemetry
from simulations.cluster.apiserver import ApiServer
from tests.controller.fake_source import FakeMetricSource
from tests.controller.harness import scaler_doc

NS = "serving"
APP = {"app": "llm"}
IN = "gpuautoscaler.io/paused-scale-in"
OUT = "gpuautoscaler.io/paused-scale-out"
#: No scale-down window and no tolerance: a poll's proposal is applied at once unless paused.
BEHAVIOR = {"scaleDown": {"stabilizationWindowSeconds": 0, "tolerance": 0},
            "scaleUp": {"tolerance": 0}}


class Controller:
    """One controller process's loop (a new one is a new leader: nothing in memory)."""

    def __init__(self, client: KubeClient, source: FakeMetricSource):
        self.loop = ControlLoop(scalers=KubeScalerStore(client, compact_memory=True), scales=KubeScaleClient(client),
                                pods=KubePodLister(client), events=KubeEventSink(client), metrics=source,
                                telemetry=Telemetry(), settings=LoopSettings(jitter=0.0, workers=1))

    def poll(self, now: float) -> Outcome:
        [future] = self.loop.tick(now)
        return future.result(timeout=30)

    def close(self) -> None:
        self.loop.close()


def annotate(client: KubeClient, annotations: dict[str, str | None]) -> None:
    """``kubectl annotate gsc llm KEY=VALUE`` (None: ``KEY-``): a merge patch of metadata only."""
    k8s.CustomObjectsApi(client.api_client).patch_namespaced_custom_object(
        "gpuautoscaler.io", "v1alpha1", NS, "gpuscalers", "llm", {"metadata": {"annotations": annotations}})


def condition(api: ApiServer, type_: str) -> dict[str, Any] | None:
    return next((c for c in api.gpuscaler(NS, "llm")["status"]["conditions"] if c["type"] == type_), None)


def normal_events(api: ApiServer) -> list[tuple[str, str, int]]:
    return sorted((e["reason"], e["message"], e.get("count", 1)) for e in api.events(NS) if e["type"] == "Normal"
                  and e["reason"] != "SuccessfulRescale")


def replicas(api: ApiServer) -> int:
    return int(api.deployment(NS, "llm")["spec"]["replicas"])


def test_the_scale_in_annotation_toggles_within_one_poll(api: ApiServer, client: KubeClient) -> None:
    source = FakeMetricSource()
    api.add_deployment(NS, "llm", 6, APP)
    pods = api.add_pods(NS, APP, 6, prefix="llm")
    api.add_gpuscaler(scaler_doc(NS, "llm", interval=15, behavior=BEHAVIOR))
    t = time.time()

    def load(per_pod: float, at: float) -> None:
        for p in pods:
            source.set(QUEUE_DEPTH, NS, p, per_pod, at)

    controller = Controller(client, source)
    try:
        # 6 replicas at 4 a pod (target 4): ratio 1, hold; never paused, no Paused condition
        load(4, t)
        out = controller.poll(t)
        assert out.decision is not None and out.decision.desired_replicas == 6
        assert condition(api, "Paused") is None and normal_events(api) == []

        # An incident: the annotation goes on and the queue empties a little, 2 a pod asks
        # ceil(6 x 2/4) = 3; the next poll holds at 6 and says why.
        annotate(client, {IN: "true"})
        assert api.gpuscaler(NS, "llm")["metadata"]["generation"] == 1  # an annotation is not a spec change
        load(2, t + 15)
        out = controller.poll(t + 15)
        assert out.decision is not None and (out.decision.desired_replicas, out.decision.reason_code) == (
            6, "ScaleInPaused")
        assert not out.applied and replicas(api) == 6
        paused = condition(api, "Paused")
        assert paused is not None and (paused["status"], paused["reason"], paused["message"]) == (
            "True", "ScaleInPaused",
            f"scale-in is paused (never below the current count): annotation {IN}='true'")
        limited = condition(api, "ScalingLimited")
        assert limited is not None and (limited["status"], limited["reason"]) == ("True", "ScaleInPaused")
        assert normal_events(api) == [("ScaleInPaused", paused["message"], 1)]

        # Scale-up is not paused: 8 a pod asks ceil(6 x 8/4) = 12, capped at maxReplicas 10
        load(8, t + 30)
        out = controller.poll(t + 30)
        assert out.decision is not None and out.applied and replicas(api) == 10
        assert normal_events(api) == [("ScaleInPaused", paused["message"], 1)]  # no second Event
        pods += api.add_pods(NS, APP, 4, prefix="llm")

        # The incident is over: the annotation comes off, and the very next poll scales in:
        # 10 pods at 1 a pod asks ceil(10 x 1/4) = 3
        annotate(client, {IN: None})
        load(1, t + 45)
        out = controller.poll(t + 45)
        assert out.decision is not None and out.applied and replicas(api) == 3
        paused = condition(api, "Paused")
        assert paused is not None and (paused["status"], paused["reason"]) == ("False", "NotPaused")
        assert [e[0] for e in normal_events(api)] == ["ScaleInPaused", "ScaleInResumed"]
    finally:
        controller.close()


def test_the_spec_field_and_the_annotation_or_together_and_a_new_leader_does_not_repeat(
        api: ApiServer, client: KubeClient) -> None:
    source = FakeMetricSource()
    api.add_deployment(NS, "llm", 4, APP)
    pods = api.add_pods(NS, APP, 4, prefix="llm")
    api.add_gpuscaler(scaler_doc(NS, "llm", interval=15, behavior=BEHAVIOR, pausedScaleOut=True))
    t = time.time()
    for p in pods:
        source.set(QUEUE_DEPTH, NS, p, 8, t)  # 8 a pod asks ceil(4 x 8/4) = 8

    first = Controller(client, source)
    try:
        out = first.poll(t)
        assert out.decision is not None and (out.decision.desired_replicas, out.decision.reason_code) == (
            4, "ScaleOutPaused")
        paused = condition(api, "Paused")
        assert paused is not None and (paused["reason"], paused["message"]) == (
            "ScaleOutPaused", "scale-out is paused (never above the current count): spec.pausedScaleOut")
        # "false" on the annotation does not lift what the spec holds (they OR)
        annotate(client, {OUT: "false", IN: "yes"})
        for p in pods:
            source.set(QUEUE_DEPTH, NS, p, 8, t + 15)
        out = first.poll(t + 15)
        assert out.decision is not None and out.decision.desired_replicas == 4 and replicas(api) == 4
        paused = condition(api, "Paused")
        assert paused is not None and (paused["status"], paused["reason"]) == (
            "True", "ScaleInPaused,ScaleOutPaused")
        assert f"annotation {IN}='yes' (neither true nor false: taken as true)" in paused["message"]
        assert [e[0] for e in normal_events(api)] == ["ScaleInPaused", "ScaleOutPaused"]
    finally:
        first.close()

    second = Controller(client, source)  # a new leader: both pauses were already announced
    try:
        for p in pods:
            source.set(QUEUE_DEPTH, NS, p, 8, t + 30)
        second.poll(t + 30)
        assert [(e[0], e[2]) for e in normal_events(api)] == [("ScaleInPaused", 1), ("ScaleOutPaused", 1)]
        # The whole scaler paused by annotation too: a third pause starts
        annotate(client, {"gpuautoscaler.io/paused": "true"})
        second.poll(t + 45)
        assert [e[0] for e in normal_events(api)] == ["Paused", "ScaleInPaused", "ScaleOutPaused"]
        assert condition(api, "Paused")["reason"] == "Paused,ScaleInPaused,ScaleOutPaused"  # type: ignore[index]
        assert replicas(api) == 4
    finally:
        second.close()
