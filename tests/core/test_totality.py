"""``decide`` is total: no value that passes validation and no metric value stops a scaler.

Issue 11, class 1: a target of ``averageValue: 0.0004`` rounded to 0 milli-units and
divided by it; ``inference_queue_depth 1e306`` overflowed ``int(v * 1000)``. Here the
strategies feed the extremes a float can hold (0, subnormals, the smallest normal,
1e306, the largest float, +Inf, NaN, negatives) as samples and as target-wide values,
against tiny and huge targets and huge policy values, and assert that ``decide``
returns a decision within [minReplicas, maxReplicas] (or the hold) without raising.
"""
from __future__ import annotations

import math
import sys

from hypothesis import example, given, settings
from hypothesis import strategies as st

from autoscaler.core import Memory, MetricObservation, Observation, PodState, decide
from autoscaler.core.rate import MAX_INT32
from autoscaler.spec import (
    Behavior,
    GPUScalerSpec,
    MetricSpec,
    MetricTarget,
    ScaleTargetRef,
    ScalingPolicy,
    ScalingRules,
)

NOW = 1_000_000.0
EXTREMES = [0.0, 5e-324, sys.float_info.min, 1e-9, 0.0004, 0.001, 1.0, 1e15, 1e306, sys.float_info.max,
            math.inf, -math.inf, math.nan, -0.0, -1.0, -sys.float_info.max]
values = st.one_of(st.sampled_from(EXTREMES), st.floats(allow_nan=True, allow_infinity=True))
targets = st.one_of(st.sampled_from([5e-324, 1e-9, 0.0004, 0.0005, 0.001, 1e15, 1e306, sys.float_info.max]),
                    st.floats(min_value=5e-324, max_value=sys.float_info.max))
policy_values = st.one_of(st.sampled_from([1, 100, MAX_INT32, 2**63, 10**400]), st.integers(min_value=1))


def _spec(kind: str, metric_type: str, target: float, max_replicas: int, policy: int) -> GPUScalerSpec:
    amount = min(target, 100.0) if kind == "averageUtilization" else target
    mtarget = MetricTarget(**{{"averageValue": "average_value", "averageUtilization": "average_utilization",
                               "value": "value"}[kind]: amount})
    metric = MetricSpec(type=metric_type, target=mtarget,
                        name="custom" if metric_type == "Prometheus" else None,
                        query="sum(x)" if metric_type == "Prometheus" else None)
    rules = ScalingRules(stabilization_window_seconds=0, tolerance=0.1, cooldown_seconds=0, select_policy="Max",
                         policies=(ScalingPolicy("Percent", policy, 15), ScalingPolicy("Pods", policy, 15)))
    return GPUScalerSpec(scale_target_ref=ScaleTargetRef("apps/v1", "Deployment", "llm"), max_replicas=max_replicas,
                         metrics=(metric,), behavior=Behavior(scale_up=rules, scale_down=rules))


@settings(max_examples=400, deadline=None)
@given(kind_type=st.sampled_from([("averageValue", "QueueDepth"), ("value", "QueueDepth"),
                                  ("averageUtilization", "GPUUtilization"), ("averageValue", "Prometheus"),
                                  ("value", "Prometheus")]),
       target=targets, samples=st.lists(values, min_size=1, max_size=4), current=st.integers(0, 6),
       status_replicas=st.one_of(st.none(), st.integers(0, 6)),
       max_replicas=st.sampled_from([1, 10, MAX_INT32]), policy=policy_values)
@example(kind_type=("averageValue", "QueueDepth"), target=0.0004, samples=[3.0], current=1, status_replicas=None,
         max_replicas=10, policy=100)
@example(kind_type=("averageValue", "QueueDepth"), target=4.0, samples=[1e306, 1.0], current=2, status_replicas=None,
         max_replicas=10, policy=100)
@example(kind_type=("value", "Prometheus"), target=0.0004, samples=[1e308], current=0, status_replicas=None,
         max_replicas=10, policy=100)
@example(kind_type=("averageValue", "Prometheus"), target=1e-9, samples=[1e308], current=3, status_replicas=0,
         max_replicas=MAX_INT32, policy=10**400)
def test_decide_never_raises(kind_type: tuple[str, str], target: float, samples: list[float], current: int,
                             status_replicas: int | None, max_replicas: int, policy: int) -> None:
    kind, metric_type = kind_type
    spec = _spec(kind, metric_type, target, max_replicas, policy)
    pods = tuple(PodState(f"p{i}", start_time=NOW - 3600) for i in range(max(current, len(samples))))
    metric = spec.metrics[0]
    if metric_type == "Prometheus":
        observed = MetricObservation(value=samples[0])
    else:
        observed = MetricObservation(per_pod={f"p{i}": v for i, v in enumerate(samples)})
    obs = Observation(current_replicas=current, pods=pods, metrics={metric.key: observed},
                      status_replicas=status_replicas)
    d = decide(spec, obs, Memory(), NOW)
    if current == 0:
        assert d.desired_replicas == 0
    else:
        assert spec.min_replicas <= d.desired_replicas <= max(spec.max_replicas, current)
    assert 0 <= d.desired_replicas <= MAX_INT32


def test_huge_queue_scales_up_to_max_not_an_error() -> None:
    """``inference_queue_depth 1e306`` is clamped (10^15), not invalid: the most load
    asks for the most replicas, capped at maxReplicas by the rate step."""
    spec = _spec("averageValue", "QueueDepth", 4.0, 10, 100)
    obs = Observation(current_replicas=2, pods=(PodState("p0"), PodState("p1")),
                      metrics={"queue_depth": MetricObservation(per_pod={"p0": 1e306, "p1": 1.0})})
    d = decide(spec, obs, Memory(), NOW)
    assert (d.desired_replicas, d.reason_code) == (10, "TooManyReplicas")  # Pods 100 allows it


def test_tiny_target_counts_as_one_milli_unit() -> None:
    """A target of 0.0004 (below validation's 0.001, built in code) reads as 0.001: a
    queue of 3 per pod asks ceil(3000 / 1 x 1) = 3000 replicas, capped at max 10."""
    spec = _spec("averageValue", "QueueDepth", 0.0004, 10, 100)
    obs = Observation(current_replicas=1, pods=(PodState("p0"),),
                      metrics={"queue_depth": MetricObservation(per_pod={"p0": 3.0})})
    d = decide(spec, obs, Memory(), NOW)
    assert d.proposals[0].replicas == 3000 and d.desired_replicas == 10
