"""The CRD's schema for ``squareRootStaffing`` and ``Concurrency`` agrees with ``gpu-autoscaler validate``."""
from __future__ import annotations

from typing import Any

import pytest

from autoscaler.spec import SpecError, parse_scaler
from tests.deploy import manifests
from tests.deploy.test_crd_work_metrics import scaler

VALID = [
    pytest.param({"type": "TokenThroughput", "squareRootStaffing": 2, "target": {"averageValue": 10000}},
                 id="staffed-tokens"),
    pytest.param({"type": "TokenThroughput", "squareRootStaffing": 0, "target": {"averageValue": 10000}},
                 id="beta-zero"),
    pytest.param({"type": "Concurrency", "target": {"averageValue": 33.6}}, id="concurrency"),
    pytest.param({"type": "Concurrency", "target": {"value": 300}}, id="concurrency-total"),
]


@pytest.mark.parametrize("metric", VALID)
def test_valid_for_the_crd_and_the_parser(metric: dict[str, Any]) -> None:
    doc = scaler(metric)
    assert manifests.gpuscaler_errors(doc) == []
    parse_scaler(doc)


INVALID = [
    pytest.param({"type": "TokenThroughput", "squareRootStaffing": -1, "target": {"averageValue": 1}}, id="negative"),
    pytest.param({"type": "TokenThroughput", "squareRootStaffing": 11, "target": {"averageValue": 1}}, id="over-10"),
    pytest.param({"type": "TokenThroughput", "squareRootStaffing": 2, "target": {"value": 1}}, id="on-a-total"),
    pytest.param({"type": "QueueDepth", "squareRootStaffing": 2, "target": {"averageValue": 1}}, id="on-a-queue"),
    pytest.param({"type": "Concurrency", "target": {"averageUtilization": 70}}, id="concurrency-percent"),
    pytest.param({"type": "Concurrency", "signal": "prompt", "target": {"averageValue": 1}}, id="concurrency-signal"),
    pytest.param({"type": "Concurrency", "squareRootStaffing": 2, "target": {"averageValue": 1}},
                 id="concurrency-staffed"),
    pytest.param({"type": "Prometheus", "name": "running_requests", "query": "x", "target": {"value": 1}},
                 id="a-named-metric-takes-the-concurrency-key"),
]


@pytest.mark.parametrize("metric", INVALID)
def test_what_the_parser_rejects_the_crd_rejects(metric: dict[str, Any]) -> None:
    doc = scaler(metric)
    assert manifests.gpuscaler_errors(doc)
    with pytest.raises(SpecError):
        parse_scaler(doc)
