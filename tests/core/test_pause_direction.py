"""Pausing one direction (``pausedScaleIn``, ``pausedScaleOut``), as tables of facts.

A paused direction holds the count at current in that direction, as the last step
(``apply_pause``), on every path: the metrics' path, the fallback, and a count outside
[min, max] (a scale-in pause holds above max; a scale-out pause lets the raise to min
through). The proposal still enters the recommendation history, so stabilization is
right when the pause ends.

Queue depth against ``averageValue: 4``: each pod's queue over 4 is the ratio, and the
proposal is ``ceil(current * ratio)``.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from autoscaler.core import HOLD, SCALE_DOWN, SCALE_UP, Decision, MetricObservation, Observation, decide
from autoscaler.core.holds import SCALE_IN_PAUSED, SCALE_OUT_PAUSED
from autoscaler.spec import Fallback, GPUScalerSpec
from tests.core.builders import NOW, SEEN, observe, queue, rules, samples, spec

IN, OUT = SCALE_IN_PAUSED, SCALE_OUT_PAUSED


def paused(*, scale_in: bool = False, scale_out: bool = False, up_pods: int = 100_000, down_window: int = 0,
           **kw: object) -> GPUScalerSpec:
    """Queue depth 4, no tolerance, up policies of ``up_pods`` a period, and the pauses given."""
    s = spec(queue(4), up=rules([("Pods", up_pods, 15)], tolerance=0.0),
             down=rules([("Percent", 100, 15)], tolerance=0.0, window=down_window), **kw)  # type: ignore[arg-type]
    return replace(s, paused_scale_in=scale_in, paused_scale_out=scale_out)


def each(current: int, per_pod: float) -> Observation:
    return observe(current, queue_depth=samples(*[per_pod] * current))


FAILING = {"queue_depth": MetricObservation.failed("timeout")}

# (spec, observation, expected desired, expected reason code, the limits' names in order)
CASES = [
    # --- the metrics' path
    pytest.param(paused(scale_in=True), each(6, 2), 6, IN, [IN],
                 id="in paused: 6 at 2 asks ceil(6 x 2/4) = 3, held at 6"),
    pytest.param(paused(scale_in=True), each(6, 6), 9, "DesiredWithinRange", [],
                 id="in paused: 6 at 6 asks ceil(6 x 6/4) = 9, scale-up goes on"),
    pytest.param(paused(scale_out=True), each(6, 6), 6, OUT, [OUT],
                 id="out paused: asks 9, held at 6"),
    pytest.param(paused(scale_out=True), each(6, 2), 3, "DesiredWithinRange", [],
                 id="out paused: asks 3, scale-down goes on"),
    pytest.param(paused(scale_in=True, scale_out=True), each(6, 6), 6, OUT, [OUT], id="both: asks 9, held at 6"),
    pytest.param(paused(scale_in=True, scale_out=True), each(6, 2), 6, IN, [IN], id="both: asks 3, held at 6"),
    pytest.param(paused(scale_in=True), each(6, 4), 6, "DesiredWithinRange", [],
                 id="in paused, nothing asked: ratio 1, no limit"),
    pytest.param(paused(scale_out=True, up_pods=2), each(2, 18), 2, OUT, ["ScaleUpLimit", OUT],
                 id="out paused after the rate step: 2 at 18 asks 9, policies allow 4, held at 2"),
    pytest.param(paused(scale_in=True, min_replicas=5), each(6, 2), 6, IN, ["TooFewReplicas", IN],
                 id="in paused after the min bound: asks 3, min 5 gives 5, held at 6"),
    # --- a count outside [min, max]
    pytest.param(paused(scale_in=True, max_replicas=4), each(6, 0), 6, IN, ["TooManyReplicas", IN],
                 id="in paused above max 4: held at 6 (capacity first)"),
    pytest.param(paused(scale_out=True, max_replicas=4), each(6, 0), 4, "TooManyReplicas", ["TooManyReplicas"],
                 id="out paused above max 4: down to 4"),
    pytest.param(paused(scale_out=True, min_replicas=8), each(6, 0), 8, "TooFewReplicas", ["TooFewReplicas"],
                 id="out paused below min 8: the raise to min goes through"),
    pytest.param(paused(scale_in=True, min_replicas=8), each(6, 0), 8, "TooFewReplicas", ["TooFewReplicas"],
                 id="in paused below min 8: up to 8"),
    # --- metrics unavailable: hold, then the fallback floor
    pytest.param(paused(scale_out=True, fallback=Fallback(1, 8)), observe(3, metrics=FAILING), 3, OUT,
                 ["Fallback", OUT], id="out paused: the fallback's raise to 8 is held at 3"),
    pytest.param(paused(scale_in=True, fallback=Fallback(1, 8)), observe(3, metrics=FAILING), 8, "Fallback",
                 ["Fallback"], id="in paused: the fallback raises 3 to 8"),
    pytest.param(paused(scale_in=True), observe(3, metrics=FAILING), 3, "FailedGetMetrics", [],
                 id="in paused, no fallback: hold as ever"),
]


@pytest.mark.parametrize(("s", "obs", "expected", "code", "limits"), CASES)
def test_a_paused_direction_holds_at_current(s: GPUScalerSpec, obs: Observation, expected: int, code: str,
                                             limits: list[str]) -> None:
    decision = decide(s, obs, SEEN, NOW)
    assert (decision.desired_replicas, decision.reason_code) == (expected, code)
    assert [lim.name for lim in decision.limits] == limits
    if code in (IN, OUT):
        assert decision.action == HOLD and decision.limits[-1].after == obs.current_replicas
        assert f"hold at {obs.current_replicas}" in decision.reason or "paused" in decision.reason


def test_the_limit_and_the_condition_say_what_is_paused() -> None:
    decision = decide(paused(scale_in=True), each(6, 2), SEEN, NOW)
    [limit] = decision.limits
    assert (limit.name, limit.before, limit.after) == (IN, 3, 6)
    assert limit.message == "scale-in is paused: no fewer than the current 6 (asked 3)"
    limited = next(c for c in decision.conditions if c.type == "ScalingLimited")
    assert (limited.status, limited.reason, limited.message) == ("True", IN, limit.message)
    assert decision.reason.endswith(f"{IN} 3->6: {limit.message}; hold at 6")


def test_the_recommendation_is_recorded_while_paused() -> None:
    """The held poll still remembers what the metrics asked (3), not what was kept (6)."""
    decision = decide(paused(scale_in=True, down_window=300), each(6, 2), SEEN, NOW)
    assert decision.memory.recommendations[-1].replicas == 3
    assert decision.memory.scale_events == () and decision.memory == decision.memory_if_not_applied


# (when the queue fell to 2 a pod, when the pause ended, when the count first went down)
LIFT_CASES = [
    pytest.param(0, 600, 600, id="fell 600 s before the lift: the window holds only 3s, down at once"),
    pytest.param(540, 600, 780, id="fell 60 s before the lift: the last 6, asked at 480, holds it to 480 + 300"),
    pytest.param(540, 0, 780, id="never paused: the same time, the pause changed nothing"),
]


@pytest.mark.parametrize(("fell_at", "lifted_at", "down_at"), LIFT_CASES)
def test_stabilization_is_right_when_the_pause_ends(fell_at: float, lifted_at: float, down_at: float) -> None:
    """Polls every 60 s at 6 replicas; the queue at 4 a pod (asks 6) until ``fell_at``,
    then 2 a pod (asks 3); scale-in paused until ``lifted_at``; scale-down window 300 s."""
    memory = SEEN
    first_down = None
    decision: Decision | None = None
    for t in range(0, 1200, 60):
        s = paused(scale_in=t < lifted_at, down_window=300)
        decision = decide(s, each(6, 2 if t >= fell_at else 4), memory, NOW + t)
        if decision.action == SCALE_DOWN:
            first_down = t
            break
        assert decision.action != SCALE_UP
        memory = decision.memory_if_not_applied
    assert first_down == down_at
    assert decision is not None and decision.desired_replicas == 3
