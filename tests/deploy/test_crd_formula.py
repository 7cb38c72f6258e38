"""The CRD's schema for ``spec.formula`` agrees with ``gpu-autoscaler validate`` on its shape;
the expression's syntax and names, which no OpenAPI schema can state, are checked by
``validate`` and by the controller (``ScalingActive=False InvalidSpec``)."""
from __future__ import annotations

from typing import Any

import pytest

from autoscaler.spec import SpecError, parse_scaler
from tests.deploy import manifests
from tests.deploy.test_crd_work_metrics import scaler as work_scaler

QUEUE = {"type": "QueueDepth", "target": {"averageValue": 4}}
KV = {"type": "KVCacheUsage", "target": {"averageUtilization": 80}}


def scaler(formula: Any) -> dict[str, Any]:
    doc = work_scaler(QUEUE, KV)
    doc["spec"]["formula"] = formula
    return doc


VALID = [
    pytest.param({"expression": "queue_depth + 0.5 * kv_cache_usage", "target": {"averageValue": 30}}, id="average"),
    pytest.param({"expression": "max(queue_depth, kv_cache_usage / 20)", "target": {"value": 0.001}}, id="value-at-min"),
    pytest.param({"expression": "queue_depth" + " " * (1024 - 11), "target": {"value": 1}}, id="1024-characters"),
]


@pytest.mark.parametrize("formula", VALID)
def test_valid_for_the_crd_and_the_parser(formula: dict[str, Any]) -> None:
    doc = scaler(formula)
    assert manifests.gpuscaler_errors(doc) == []
    assert parse_scaler(doc).spec.formula is not None


INVALID = [
    pytest.param({"target": {"averageValue": 1}}, id="no-expression"),
    pytest.param({"expression": "queue_depth"}, id="no-target"),
    pytest.param({"expression": "", "target": {"averageValue": 1}}, id="empty"),
    pytest.param({"expression": 3, "target": {"averageValue": 1}}, id="a-number"),
    pytest.param({"expression": "queue_depth" + " " * (1025 - 11), "target": {"value": 1}}, id="1025-characters"),
    pytest.param({"expression": "queue_depth", "target": {"averageUtilization": 50}}, id="a-percent-target"),
    pytest.param({"expression": "queue_depth", "target": {"averageValue": 1, "value": 1}}, id="two-targets"),
    pytest.param({"expression": "queue_depth", "target": {}}, id="no-target-kind"),
    pytest.param({"expression": "queue_depth", "target": {"averageValue": 0.0009}}, id="target-under-0.001"),
    pytest.param({"expression": "queue_depth", "target": {"averageValue": 1}, "name": "x"}, id="unknown-field"),
    pytest.param("queue_depth", id="not-an-object"),
]


@pytest.mark.parametrize("formula", INVALID)
def test_what_the_parser_rejects_the_crd_rejects(formula: Any) -> None:
    doc = scaler(formula)
    assert manifests.gpuscaler_errors(doc)
    with pytest.raises(SpecError):
        parse_scaler(doc)


@pytest.mark.parametrize("expression", ["queue_depth ** 2", "queue", "abs(queue_depth)", "2 * 3"])
def test_syntax_and_names_are_the_parsers_alone(expression: str) -> None:
    # The API server stores these; validate and the controller refuse them, naming the field.
    doc = scaler({"expression": expression, "target": {"averageValue": 1}})
    assert manifests.gpuscaler_errors(doc) == []
    with pytest.raises(SpecError, match=r"spec\.formula\.expression"):
        parse_scaler(doc)


def test_the_crd_documents_the_formula() -> None:
    formula = manifests.gpuscaler_schema()["properties"]["spec"]["properties"]["formula"]
    assert formula["required"] == ["expression", "target"]
    assert "led" in formula["description"] and "sum over ready pods" in formula["description"]
