"""The loop with the real Kubernetes adapters against the API emulator over HTTP: pods no
node can take (CapacityAvailable, the Event, the gauge, no scale-up past them) and load
times measured from the pods' own fields (the histogram, once per pod, across polls and
a new leader). Metrics come from the map-backed fake source; time is passed to ``tick``."""
from __future__ import annotations

import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from autoscaler.kube.client import KubeClient
from autoscaler.kube.events import KubeEventSink
from autoscaler.kube.pods import KubePodLister
from autoscaler.kube.scale import KubeScaleClient
from autoscaler.kube.scalers import KubeScalerStore
from autoscaler.kube.status import parse_time
from autoscaler.loop import ControlLoop, LoopSettings, Outcome
from autoscaler.metrics.queue_depth import QUEUE_DEPTH
from autoscaler.telemetry import Telemetry
from simulations.cluster.apiserver import ApiServer
from tests.controller.fake_source import FakeMetricSource
from tests.controller.harness import scaler_doc

NS = "serving"
APP = {"app": "llm"}


class Controller:
    """One controller process's loop (a new one is a new leader: nothing in memory)."""

    def __init__(self, client: KubeClient, source: FakeMetricSource):
        self.telemetry = Telemetry()
        self.loop = ControlLoop(scalers=KubeScalerStore(client, compact_memory=True), scales=KubeScaleClient(client),
                                pods=KubePodLister(client), events=KubeEventSink(client), metrics=source,
                                telemetry=self.telemetry, settings=LoopSettings(jitter=0.0, workers=1))

    def poll(self, now: float) -> Outcome:
        [future] = self.loop.tick(now)
        return future.result(timeout=30)

    def sample(self, name: str, **labels: str) -> float | None:
        for family in text_string_to_metric_families(self.telemetry.exposition().decode()):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return None

    def close(self) -> None:
        self.loop.close()


def scaler(api: ApiServer, **spec: Any) -> None:
    api.add_gpuscaler(scaler_doc(NS, "llm", interval=15, **spec))


def condition(api: ApiServer, type_: str) -> dict[str, Any]:
    return next(c for c in api.gpuscaler(NS, "llm")["status"]["conditions"] if c["type"] == type_)


def warnings(api: ApiServer, reason: str) -> list[dict[str, Any]]:
    return [e for e in api.events(NS) if e["reason"] == reason and e["type"] == "Warning"]


def test_pods_that_cannot_schedule_hold_the_count_and_say_so_once(api: ApiServer, client: KubeClient) -> None:
    source = FakeMetricSource()
    api.add_deployment(NS, "llm", 2, APP)
    [ready] = api.add_pods(NS, APP, prefix="llm")
    [waiting] = api.add_unschedulable_pods(NS, APP, prefix="llm")
    scaler(api)
    t = time.time()
    source.set(QUEUE_DEPTH, NS, ready, 12, t)
    first = Controller(client, source)
    try:
        # 1 ready replica at 12 (target 4) asks ceil(3.0 x 1) = 3, but 1 pod waits for a GPU: hold at 2
        out = first.poll(t)
        assert out.decision is not None and (out.decision.desired_replicas, out.decision.reason_code) == (
            2, "Unschedulable")
        assert not out.applied and api.deployment(NS, "llm")["spec"]["replicas"] == 2
        capacity = condition(api, "CapacityAvailable")
        assert (capacity["status"], capacity["reason"]) == ("False", "Unschedulable")
        assert capacity["message"] == f"1 pod(s) of the target cannot be scheduled: {ApiServer.NO_FREE_GPU}"
        assert first.sample("gpu_autoscaler_unschedulable_replicas", namespace=NS, scaler="llm") == 1
        first.poll(t + 15)
        [event] = warnings(api, "Unschedulable")
        assert event.get("count", 1) == 1 and ApiServer.NO_FREE_GPU in event["message"]
    finally:
        first.close()

    second = Controller(client, source)  # a new leader: the Event was already announced
    try:
        source.set(QUEUE_DEPTH, NS, ready, 12, t + 30)
        second.poll(t + 30)
        [event] = warnings(api, "Unschedulable")
        assert event.get("count", 1) == 1

        # A GPU was freed: the pod is placed (loading, so capacity on its way) and scale-up resumes:
        # 12 on the ready one and the loading one at 0: (12 + 0) / 2 = 6, ceil(1.5 x 2) = 3
        api.set_pod_condition(NS, waiting, "PodScheduled", "True")
        source.set(QUEUE_DEPTH, NS, ready, 12, t + 45)
        out = second.poll(t + 45)
        assert out.decision is not None and out.decision.desired_replicas == 3 and out.applied
        assert condition(api, "CapacityAvailable")["status"] == "True"
        assert second.sample("gpu_autoscaler_unschedulable_replicas", namespace=NS, scaler="llm") == 0
    finally:
        second.close()


def test_each_new_replica_is_measured_once_and_auto_keeps_the_figure(api: ApiServer, client: KubeClient) -> None:
    source = FakeMetricSource()
    api.add_deployment(NS, "llm", 2, APP)
    [old] = api.add_pods(NS, APP, prefix="llm")
    scaler(api, startupSeconds="auto")
    t = time.time()
    source.set(QUEUE_DEPTH, NS, old, 4, t)
    first = Controller(client, source)
    count = "gpu_autoscaler_replica_startup_seconds_count"
    try:
        first.poll(t)  # measuring begins: the pod already Ready is not measured
        assert first.sample(count, namespace=NS, scaler="llm") is None
        [new] = api.add_pods(NS, APP, prefix="llm", ready=False)
        created = parse_time(api.get("", "pods", NS, new)["metadata"]["creationTimestamp"])
        api.set_pod_condition(NS, new, "Ready", "True", at=created + 95)
        for i in (1, 2, 3):  # seen Ready on three polls, measured on the first
            source.set(QUEUE_DEPTH, NS, old, 4, t + 15 * i)
            source.set(QUEUE_DEPTH, NS, new, 4, t + 15 * i)
            first.poll(t + 15 * i)
        assert first.sample(count, namespace=NS, scaler="llm") == 1
        assert first.sample("gpu_autoscaler_replica_startup_seconds_sum", namespace=NS, scaler="llm") == 95
        assert first.sample("gpu_autoscaler_replica_startup_seconds_bucket", namespace=NS, scaler="llm",
                            le="90.0") == 0
        assert first.sample("gpu_autoscaler_replica_startup_seconds_bucket", namespace=NS, scaler="llm",
                            le="120.0") == 1
        memory = api.gpuscaler(NS, "llm")["status"]["memory"]
        assert [(s["pod"], s["seconds"]) for s in memory["startups"]] == [(new, 95.0)]
    finally:
        first.close()

    second = Controller(client, source)  # a new leader reads the figure from status, measures nothing again
    try:
        source.set(QUEUE_DEPTH, NS, old, 4, t + 60)
        source.set(QUEUE_DEPTH, NS, new, 4, t + 60)
        out = second.poll(t + 60)
        assert out.decision is not None and [s.seconds for s in out.decision.memory.startups] == [95.0]
        assert second.sample(count, namespace=NS, scaler="llm") is None
    finally:
        second.close()
