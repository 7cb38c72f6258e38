"""KubeEventSink: core/v1 Events, deduplicated into a count like client-go's recorder."""
from __future__ import annotations

import pytest

from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import KubeError
from autoscaler.kube.events import KubeEventSink
from autoscaler.kube.status import parse_time
from autoscaler.kube.types import ScalerObject
from simulations.cluster.apiserver import ApiServer

LLM = ScalerObject("serving", "llm", "uid-1", 1, "5", {})
OTHER = ScalerObject("serving", "embed", "uid-2", 1, "6", {})


class Clock:
    def __init__(self, now: float = 1_795_933_600.0):
        self.now = now

    def __call__(self) -> float:
        self.now += 15
        return self.now


@pytest.fixture
def sink(kube: KubeClient) -> KubeEventSink:
    return KubeEventSink(kube, instance="controller-0", clock=Clock())


def summary(apiserver: ApiServer) -> list[tuple[str, str, str, int]]:
    return sorted((e["involvedObject"]["name"], e["reason"], e["message"], e["count"]) for e in apiserver.events())


def test_event_fields(apiserver: ApiServer, sink: KubeEventSink) -> None:
    sink.emit(LLM, "Normal", "SuccessfulRescale", "New size: 4; reason: queue_depth above target")
    [event] = apiserver.events("serving")
    assert event["involvedObject"] == {"apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
                                       "name": "llm", "namespace": "serving", "uid": "uid-1", "resourceVersion": "5"}
    assert (event["type"], event["count"], event["reportingComponent"], event["reportingInstance"]) == (
        "Normal", 1, "gpu-autoscaler", "controller-0")
    assert event["source"] == {"component": "gpu-autoscaler", "host": "controller-0"}
    assert event["metadata"]["name"].startswith("llm.")
    # the client re-serializes times as "+00:00"; any RFC 3339 form is fine for the API server
    assert parse_time(event["firstTimestamp"]) == parse_time(event["lastTimestamp"]) == 1_795_933_615.0


def test_repeats_become_a_count(apiserver: ApiServer, sink: KubeEventSink) -> None:
    for _ in range(3):
        sink.emit(LLM, "Warning", "FailedGetMetrics", "prometheus: connection refused")
    sink.emit(LLM, "Warning", "FailedGetMetrics", "prometheus: timeout")       # new message: new Event
    sink.emit(OTHER, "Warning", "FailedGetMetrics", "prometheus: connection refused")  # other object
    assert summary(apiserver) == [
        ("embed", "FailedGetMetrics", "prometheus: connection refused", 1),
        ("llm", "FailedGetMetrics", "prometheus: connection refused", 3),
        ("llm", "FailedGetMetrics", "prometheus: timeout", 1)]
    assert [(r.verb, r.resource) for r in apiserver.requests].count(("patch", "events")) == 2
    repeated = next(e for e in apiserver.events() if e["count"] == 3)
    assert (parse_time(repeated["firstTimestamp"]), parse_time(repeated["lastTimestamp"])) == (
        1_795_933_615.0, 1_795_933_645.0)  # first and third emit, 15 s apart


def test_an_expired_event_starts_a_new_one(apiserver: ApiServer, sink: KubeEventSink) -> None:
    sink.emit(LLM, "Normal", "SuccessfulRescale", "New size: 4")
    [event] = apiserver.events()
    apiserver.delete("", "events", "serving", event["metadata"]["name"])  # the apiserver's 1 h TTL
    sink.emit(LLM, "Normal", "SuccessfulRescale", "New size: 4")
    assert summary(apiserver) == [("llm", "SuccessfulRescale", "New size: 4", 1)]


def test_failures_never_raise_and_are_reported(apiserver: ApiServer, kube: KubeClient) -> None:
    errors: list[KubeError] = []
    sink = KubeEventSink(kube, on_error=errors.append)
    apiserver.fail(r"/events", status=403)
    sink.emit(LLM, "Normal", "SuccessfulRescale", "New size: 4")
    assert [e.status for e in errors] == [403]
    apiserver.clear_faults()
    sink.emit(LLM, "Normal", "SuccessfulRescale", "New size: 4")
    assert summary(apiserver) == [("llm", "SuccessfulRescale", "New size: 4", 1)]


def test_long_messages_are_truncated(apiserver: ApiServer, sink: KubeEventSink) -> None:
    sink.emit(LLM, "Warning", "FailedGetMetrics", "x" * 5000)
    [event] = apiserver.events()
    assert len(event["message"]) == 1024 and event["message"].endswith("...")
