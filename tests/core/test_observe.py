"""The one observe step (autoscaler/core/observe.py): readings -> observation, one rule.

The controller, the dry-run and the simulator all go through it, so these rows are the
whole definition of "missing": max_age 30 s (a 15 s poll), now = 1000.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from autoscaler.core import PodState
from autoscaler.core.observe import Reading, Sample, is_fresh, observe, observe_per_pod, observe_value
from tests.core.builders import prom, queue, spec

NOW = 1000.0
PODS = ("a", "b", "c")


@pytest.mark.parametrize("samples, per_pod, error", [
    pytest.param({"a": (3, NOW), "b": (5, NOW - 10)}, {"a": 3, "b": 5}, None, id="fresh-ones-count-c-absent"),
    pytest.param({"a": (3, NOW - 29.9)}, {"a": 3}, None, id="29.9-s-old-counts"),
    pytest.param({"a": (3, NOW - 30)}, {}, "1 at least 30 s old, 2 without samples", id="30-s-old-is-missing"),
    pytest.param({"a": (math.nan, NOW), "b": (math.inf, NOW), "c": (-math.inf, NOW)}, {}, "3 NaN or Inf",
                 id="nan-and-inf"),
    pytest.param({"a": (-1, NOW), "b": (2, NOW)}, {"b": 2}, None, id="negative-drops-out"),
    pytest.param({"a": (-1, NOW)}, {}, "1 negative, 2 without samples", id="only-negative"),
    pytest.param({"zz": (7, NOW)}, {}, "3 without samples", id="a-pod-not-of-the-target-does-not-count"),
    pytest.param({"a": (1e306, NOW)}, {"a": 1e306}, None, id="huge-passes-the-core-clamps-it"),
])
def test_per_pod_rule(samples: dict[str, tuple[float, float]], per_pod: dict[str, float], error: str | None) -> None:
    got = observe_per_pod(Reading(per_pod=samples), PODS, 30, NOW, "queue_depth")
    assert got.per_pod == per_pod
    if error is None:
        assert got.error is None
    else:
        assert got.error == f"no usable queue_depth samples for the 3 pods ({error})"


def test_no_pods_is_left_to_the_core() -> None:
    got = observe_per_pod(Reading(per_pod={"a": (3, NOW)}), (), 30, NOW, "queue_depth")
    assert got.error is None and got.per_pod == {}


def test_a_source_error_passes_through() -> None:
    assert observe_per_pod(Reading(error="cannot connect"), PODS, 30, NOW, "q").error == "cannot connect"
    assert observe_value(Reading(error="cannot connect"), 30, NOW).error == "cannot connect"


@pytest.mark.parametrize("sample, value, error", [
    pytest.param(Sample(12, NOW - 5), 12, None, id="fresh"),
    pytest.param(Sample(12, NOW - 30), None, "query result is 30 s old (30 s or more)", id="stale"),
    pytest.param(Sample(math.nan, NOW), None, "query returned nan", id="nan"),
    pytest.param(Sample(-3, NOW), None, "query returned -3", id="negative"),
    pytest.param(None, None, "no sample in the last 30 s", id="none"),
])
def test_value_rule(sample: Sample | None, value: float | None, error: str | None) -> None:
    got = observe_value(Reading(value=sample), 30, NOW)
    assert (got.value, got.error) == (value, error)


def test_observe_builds_the_observation_with_two_polling_intervals() -> None:
    s = spec(queue(4), prom("qps", value=10))  # pollingIntervalSeconds 15: max_age 30 s
    pods = tuple(PodState(p) for p in PODS)
    obs = observe(s, {"queue_depth": Reading(per_pod={"a": (2, NOW - 29), "b": (4, NOW - 31)})},
                  current_replicas=3, pods=pods, now=NOW, status_replicas=3)
    assert obs.metrics["queue_depth"].per_pod == {"a": 2}
    assert obs.metrics["qps"].error == "metric was not read"
    assert (obs.current_replicas, obs.status_replicas, obs.pods) == (3, 3, pods)


def test_the_rule_is_the_same_on_arrays() -> None:
    assert is_fresh(np.array([29.9, 30.0, 31.0]), 30.0).tolist() == [True, False, False]
    assert is_fresh(29.9, 30.0) and not is_fresh(30.0, 30.0)
