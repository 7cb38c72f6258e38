"""The typed fast constructors of the values built on every poll (``MetricProposal.valid``,
``Decision.of``) give the very value their dataclass ``__init__`` gives: equal, with the
same fields and none missing (a field added to the class must be added to them too)."""
from __future__ import annotations

import dataclasses

import pytest

from autoscaler.core.types import Condition, Decision, Limit, Memory, MetricProposal, Recommendation


@pytest.mark.parametrize("without_loading", [None, 7], ids=["plain", "loading-adjusted"])
def test_a_valid_proposal_is_the_one_init_builds(without_loading: int | None) -> None:
    fast = MetricProposal.valid("queue_depth", "averageValue", 4.0, 5, 7.5, 1.875, "ceil(1.875 x 2 ready pods) = 4",
                                without_loading)
    slow = MetricProposal(key="queue_depth", target_kind="averageValue", target=4.0, replicas=5, usage=7.5,
                          ratio=1.875, reason="ceil(1.875 x 2 ready pods) = 4",
                          loading_adjusted=without_loading is not None, replicas_without_loading=without_loading)
    assert fast == slow and repr(fast) == repr(slow) and hash(fast) == hash(slow)
    assert vars(fast) == {f.name: getattr(slow, f.name) for f in dataclasses.fields(MetricProposal)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.replicas = 6  # type: ignore[misc]


def test_a_decision_is_the_one_init_builds() -> None:
    memory = Memory(recommendations=(Recommendation(1_800_000_000.0, 3),))
    fields = {
        "current_replicas": 2, "desired_replicas": 3, "action": "scale_up", "reason": "queue_depth 6 (target 4) asks 3",
        "reason_code": "DesiredWithinRange", "proposals": (MetricProposal("queue_depth", "averageValue", 4.0, 3),),
        "leading_metric": "queue_depth", "limits": (Limit("ScaleUpLimit", 5, 3, "at most 3"),),
        "conditions": (Condition("AbleToScale", "True", "ReadyForNewScale", "ok"),), "metrics_available": True,
        "memory": Memory(), "memory_if_not_applied": memory,
    }
    fast, slow = Decision.of(**fields), Decision(**fields)  # type: ignore[arg-type]
    assert fast == slow and repr(fast) == repr(slow)
    assert vars(fast) == {f.name: getattr(slow, f.name) for f in dataclasses.fields(Decision)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.desired_replicas = 4  # type: ignore[misc]


def test_observations_are_the_ones_init_builds() -> None:
    from autoscaler.core.types import MetricObservation, Observation, PodState
    sampled = MetricObservation.sampled({"a": 4.0, "b": 0.0})
    assert sampled == MetricObservation(per_pod={"a": 4.0, "b": 0.0}) and repr(sampled) == repr(
        MetricObservation(per_pod={"a": 4.0, "b": 0.0}))
    assert vars(sampled) == {f.name: getattr(MetricObservation(per_pod={"a": 4.0, "b": 0.0}), f.name)
                             for f in dataclasses.fields(MetricObservation)}
    pods = (PodState("a"), PodState("b", ready=False, start_time=1.0))
    fast = Observation.of(2, pods, {"queue_depth": sampled}, 3)
    slow = Observation(current_replicas=2, pods=pods, metrics={"queue_depth": sampled}, status_replicas=3)
    assert fast == slow and repr(fast) == repr(slow)
    assert vars(fast) == {f.name: getattr(slow, f.name) for f in dataclasses.fields(Observation)}
