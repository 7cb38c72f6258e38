"""The CRD's schema for the work and SLO metric types agrees with ``gpu-autoscaler validate``:
what one accepts the other accepts, and what the parser rejects the API server rejects."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from autoscaler.spec import SpecError, parse_scaler
from tests.deploy import manifests

BASE: dict[str, Any] = {
    "apiVersion": "gpuautoscaler.io/v1alpha1",
    "kind": "GPUScaler",
    "metadata": {"name": "llm", "namespace": "serving"},
    "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "llm"}, "maxReplicas": 8, "metrics": []},
}


def scaler(*metrics: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["spec"]["metrics"] = list(metrics)
    return doc


VALID = [
    pytest.param({"type": "TokenThroughput", "target": {"averageValue": 12000}}, id="tokens-default-signal"),
    pytest.param({"type": "TokenThroughput", "signal": "generation", "target": {"value": 90000}},
                 id="generation-value"),
    pytest.param({"type": "KVCacheUsage", "target": {"averageUtilization": 80}}, id="kv-percent"),
    pytest.param({"type": "Latency", "target": {"value": 2}}, id="ttft-default-signal"),
    pytest.param({"type": "Latency", "signal": "queueTime", "target": {"value": 0.5}}, id="queue-time"),
]


@pytest.mark.parametrize("metric", VALID)
def test_the_new_types_are_valid_for_the_crd_and_the_parser(metric: dict[str, Any]) -> None:
    doc = scaler(metric)
    assert manifests.gpuscaler_errors(doc) == []
    parse_scaler(doc)


INVALID = [
    pytest.param({"type": "TokenThroughput", "signal": "smActive", "target": {"averageValue": 1}},
                 id="gpu-signal-on-tokens"),
    pytest.param({"type": "TokenThroughput", "target": {"averageUtilization": 50}}, id="percent-tokens"),
    pytest.param({"type": "GPUUtilization", "signal": "prompt", "target": {"averageUtilization": 50}},
                 id="token-signal-on-gpu"),
    pytest.param({"type": "KVCacheUsage", "signal": "ttft", "target": {"averageUtilization": 50}},
                 id="signal-on-kv"),
    pytest.param({"type": "KVCacheUsage", "target": {"averageUtilization": 120}}, id="kv-over-100"),
    pytest.param({"type": "Latency", "target": {"averageValue": 2}}, id="latency-per-replica"),
    pytest.param({"type": "Latency", "signal": "generation", "target": {"value": 2}}, id="token-signal-on-latency"),
    pytest.param({"type": "Latency", "name": "slo", "target": {"value": 2}}, id="name-on-latency"),
    pytest.param({"type": "Prometheus", "name": "ttft_seconds", "query": "x", "target": {"value": 1}},
                 id="a-named-metric-takes-a-latency-key"),
]


@pytest.mark.parametrize("metric", INVALID)
def test_what_the_parser_rejects_the_crd_rejects(metric: dict[str, Any]) -> None:
    doc = scaler(metric)
    assert manifests.gpuscaler_errors(doc)
    with pytest.raises(SpecError):
        parse_scaler(doc)
