"""The metric-type registry (autoscaler/metrics): one definition per type, one list.

What the rest of the code asks of a type comes from its definition, so these checks
are what a new type's module must satisfy to plug in.
"""
from __future__ import annotations

import pytest

from autoscaler.metrics.registry import DEFINITIONS, EXPORTERS, FIXED_KEYS, SIGNALS, definition_of, series_of
from autoscaler.metrics.types import MetricDefinition, MetricType
from autoscaler.spec import METRIC_TYPES, RESERVED_KEYS, MetricSpec, MetricTarget


def test_every_type_is_registered_once_and_is_a_spec_choice() -> None:
    assert sorted(d.type for d in DEFINITIONS) == sorted(MetricType)
    assert tuple(str(d.type) for d in DEFINITIONS) == METRIC_TYPES


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: str(d.type))
def test_a_definition_is_complete(definition: MetricDefinition) -> None:
    assert definition.target_kinds and set(definition.target_kinds) <= {"averageValue", "averageUtilization", "value"}
    if definition.per_pod:
        # Per-pod types are fetched by signal: each signal needs our exporter's series
        # (the default --signal-source, and what the simulated fleet reports).
        assert definition.key is not None and definition.signals
        assert all(s in definition.series["ours"] for s in definition.signals)
    else:
        assert definition.key is None and "name" in definition.fields  # keyed by the spec's name
    assert definition.key not in RESERVED_KEYS


def test_every_signal_source_has_every_signal() -> None:
    for exporters in [(), *((e,) for e in EXPORTERS), ("dcgm", "vllm")]:
        assert set(series_of(exporters)) == set(SIGNALS)


@pytest.mark.parametrize("type_, key, per_pod", [
    ("QueueDepth", "queue_depth", True),
    ("GPUUtilization", "gpu_utilization", True),
    ("Prometheus", "tokens", False),
])
def test_a_spec_built_from_a_string_takes_its_definition(type_: str, key: str, per_pod: bool) -> None:
    m = MetricSpec(type=type_, target=MetricTarget(value=10), name="tokens", query="sum(tokens)")
    assert m.type is MetricType(type_) and m.definition is definition_of(type_)
    assert (m.key, m.per_pod) == (key, per_pod)


def test_fixed_keys_are_the_built_in_ones() -> None:
    assert {"queue_depth", "gpu_utilization"} == FIXED_KEYS
