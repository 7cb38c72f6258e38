"""``squareRootStaffing`` and ``Concurrency`` in a GPUScaler spec: what parses, and each error names its field."""
from __future__ import annotations

from typing import Any

import pytest

from autoscaler.spec import SpecError, parse_scaler


def doc(metric: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
            "metadata": {"name": "llm", "namespace": "serving"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "llm"}, "maxReplicas": 8, "metrics": [metric]}}


@pytest.mark.parametrize("metric, key, beta", [
    pytest.param({"type": "TokenThroughput", "squareRootStaffing": 2, "target": {"averageValue": 10000}},
                 "prompt_tokens_rate", 2.0, id="staffed"),
    pytest.param({"type": "TokenThroughput", "target": {"averageValue": 10000}}, "prompt_tokens_rate", 0.0,
                 id="default-is-hpa"),
    pytest.param({"type": "Concurrency", "target": {"averageValue": 33.6}}, "running_requests", 0.0,
                 id="concurrency"),
])
def test_parses(metric: dict[str, Any], key: str, beta: float) -> None:
    (m,) = parse_scaler(doc(metric)).spec.metrics
    assert (m.key, m.square_root_staffing) == (key, beta)


@pytest.mark.parametrize("metric, field, message", [
    pytest.param({"type": "TokenThroughput", "squareRootStaffing": -1, "target": {"averageValue": 1}},
                 "spec.metrics[0].squareRootStaffing", "expected a number >= 0, got -1", id="negative"),
    pytest.param({"type": "TokenThroughput", "squareRootStaffing": "2", "target": {"averageValue": 1}},
                 "spec.metrics[0].squareRootStaffing", "expected a finite number", id="a-string"),
    pytest.param({"type": "TokenThroughput", "squareRootStaffing": 2, "target": {"value": 1}},
                 "spec.metrics[0].squareRootStaffing", "applies only to an averageValue target", id="on-a-total"),
    pytest.param({"type": "QueueDepth", "squareRootStaffing": 2, "target": {"averageValue": 1}},
                 "spec.metrics[0].squareRootStaffing", "applies only to type TokenThroughput", id="on-a-queue"),
    pytest.param({"type": "Concurrency", "target": {"averageUtilization": 70}},
                 "spec.metrics[0].target.averageUtilization", "applies only to type", id="concurrency-percent"),
])
def test_errors_name_the_field(metric: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_scaler(doc(metric))
    assert field in str(e.value) and message in str(e.value)
