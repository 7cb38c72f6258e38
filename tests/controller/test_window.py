"""A metric ``window`` through the real Kubernetes adapters against the API emulator over
HTTP: the controller decides on the window's mean, reports it in status and the Event,
never lets old values stand in for a failed fetch, keeps the window in process (a steady
scaler writes no status; a new leader starts with an empty window). Metrics come from
the map-backed fake source; time is passed to ``tick``."""
from __future__ import annotations

import time

from autoscaler.kube.client import KubeClient
from autoscaler.metrics.queue_depth import QUEUE_DEPTH
from simulations.cluster.apiserver import ApiServer
from tests.controller.fake_source import FakeMetricSource
from tests.controller.harness import scaler_doc
from tests.controller.test_pause import APP, BEHAVIOR, NS, Controller, condition, replicas

WINDOWED = [{"type": "QueueDepth", "target": {"averageValue": 4}, "window": "60s"}]


def load(source: FakeMetricSource, pods: list[str], per_pod: float, at: float) -> None:
    for p in pods:
        source.set(QUEUE_DEPTH, NS, p, per_pod, at)


def status_writes(api: ApiServer) -> int:
    return sum(1 for r in api.requests if r.method in ("PUT", "PATCH") and r.subresource == "status")


def test_the_controller_decides_on_the_window_mean(api: ApiServer, client: KubeClient) -> None:
    source = FakeMetricSource()
    api.add_deployment(NS, "llm", 2, APP)
    pods = api.add_pods(NS, APP, 2, prefix="llm")
    api.add_gpuscaler(scaler_doc(NS, "llm", interval=15, behavior=BEHAVIOR, metrics=WINDOWED))
    t = time.time()
    controller = Controller(client, source)
    try:
        # 45 s on target (4 a pod), then one poll at 16 a pod: unsmoothed ceil(2 x 16/4) = 8;
        # over 60 s (4 + 4 + 4 + 16) / 4 = 7 a pod: ceil(2 x 7/4) = 4.
        for k in range(3):
            load(source, pods, 4, t + 15 * k)
            out = controller.poll(t + 15 * k)
            assert out.decision is not None and out.decision.desired_replicas == 2
        writes = status_writes(api)
        assert writes == 1  # a steady scaler writes status once: the window is not in status
        load(source, pods, 16, t + 45)
        out = controller.poll(t + 45)
        assert out.decision is not None and out.applied and replicas(api) == 4
        status = api.gpuscaler(NS, "llm")["status"]
        [metric] = status["currentMetrics"]
        assert (metric["name"], metric["value"]) == ("queue_depth", 7)
        [event] = [e for e in api.events(NS) if e["reason"] == "SuccessfulRescale"]
        assert event["message"].startswith("New size: 4; reason: queue_depth 7")
        pods += api.add_pods(NS, APP, 2, prefix="llm")

        # Prometheus goes down: the metric is unavailable this poll and the count holds at
        # 4; the old values never stand in for it (they would read 7 a pod: no scale-down
        # either way here, but the condition says the metrics are missing, not averaged).
        source.down = True
        out = controller.poll(t + 60)
        assert out.decision is not None and out.decision.desired_replicas == 4 and not out.decision.metrics_available
        available = condition(api, "ScalingActive")
        assert available is not None and available["status"] == "False"
        source.down = False
    finally:
        controller.close()

    # A new leader starts with an empty window: its first poll decides on the raw value
    # (4 pods at 2 a pod, ratio 0.5: ceil(4 x 0.5) = 2), as a scaler without a window would.
    second = Controller(client, source)
    try:
        load(source, pods, 2, t + 75)
        out = second.poll(t + 75)
        assert out.decision is not None
        assert [p.usage for p in out.decision.proposals] == [2]
        assert out.decision.desired_replicas == 2
    finally:
        second.close()


def test_the_controller_decides_on_the_look_ahead(api: ApiServer, client: KubeClient) -> None:
    """Queues climbing 4, 6, 8 a pod on 2 pods (8, 12, 16 in all): 30 s ahead the total is
    16 + 30 x 4/15 = 24, 12 a pod, and the controller scales 2 -> 6 where the reactive
    count is ceil(16 / 4) = 4; status and the Event show the lifted value it decided on."""
    source = FakeMetricSource()
    api.add_deployment(NS, "llm", 2, APP)
    pods = api.add_pods(NS, APP, 2, prefix="llm")
    metrics = [{"type": "QueueDepth", "target": {"averageValue": 4}, "lookAhead": {"ahead": "30s"}}]
    api.add_gpuscaler(scaler_doc(NS, "llm", interval=15, behavior=BEHAVIOR, metrics=metrics))
    t = time.time()
    controller = Controller(client, source)
    try:
        for k, per_pod in enumerate((4.0, 6.0)):
            load(source, pods, per_pod, t + 15 * k)
            controller.poll(t + 15 * k)
        load(source, pods, 8, t + 30)
        out = controller.poll(t + 30)
        assert out.decision is not None and out.applied
        assert replicas(api) == 6
        [metric] = api.gpuscaler(NS, "llm")["status"]["currentMetrics"]
        assert (metric["name"], metric["value"]) == ("queue_depth", 12)
        [event] = [e for e in api.events(NS) if e["reason"] == "SuccessfulRescale"][-1:]
        assert event["message"].startswith("New size: 6; reason: queue_depth 12 (target 4; look-ahead +8 in 30 s) asks 6")
    finally:
        controller.close()
