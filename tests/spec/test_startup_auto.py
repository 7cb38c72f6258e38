"""``startupSeconds``: a number of seconds, or ``auto`` (measured; 120 until measured)."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from autoscaler.spec import SpecError, parse_scaler

MINIMAL: dict[str, Any] = {
    "apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
    "metadata": {"name": "llm", "namespace": "serving"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"}, "maxReplicas": 16,
             "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}}]},
}


def with_startup(value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(MINIMAL)
    doc["spec"]["startupSeconds"] = value
    return doc


@pytest.mark.parametrize("value,seconds,auto", [
    pytest.param(90, 90, False, id="declared"),
    pytest.param(0, 0, False, id="zero"),
    pytest.param("auto", 120, True, id="auto: measured, 120 until then"),
])
def test_startup_seconds(value: Any, seconds: int, auto: bool) -> None:
    spec = parse_scaler(with_startup(value), "scaler.yaml").spec
    assert (spec.startup_seconds, spec.startup_auto) == (seconds, auto)


def test_absent_is_the_declared_default() -> None:
    spec = parse_scaler(copy.deepcopy(MINIMAL), "scaler.yaml").spec
    assert (spec.startup_seconds, spec.startup_auto) == (120, False)


@pytest.mark.parametrize("value,expected", [
    pytest.param("fast", "expected an integer >= 0 or 'auto', got a string ('fast')", id="another word"),
    pytest.param("Auto", "expected an integer >= 0 or 'auto'", id="case matters, as in the CRD"),
    pytest.param("120", "expected an integer >= 0 or 'auto'", id="a number in quotes"),
    pytest.param(-1, "expected an integer >= 0, got -1", id="negative"),
    pytest.param(1.5, "expected an integer, got a number (1.5)", id="a fraction"),
])
def test_bad_startup_seconds_is_named(value: Any, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_scaler(with_startup(value), "scaler.yaml")
    [(path, message)] = [(e.path, e.message) for e in info.value.errors]
    assert path == "spec.startupSeconds" and expected in message, message
