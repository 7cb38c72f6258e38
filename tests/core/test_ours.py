"""What the core adds to HPA, as tables of facts.

Per-direction tolerance, ``cooldownSeconds``, loading and stuck replicas, holding on
missing data, the fallback, ``paused``, bad samples, the first-sight seeding of the
recommendation history, and the two memories a decision hands back.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from autoscaler.core import HOLD, SCALE_DOWN, SCALE_UP, Memory, MetricObservation, Observation, decide
from autoscaler.spec import Fallback, GPUScalerSpec, MetricSpec
from tests.core.builders import (
    NOW,
    SEEN,
    asking,
    observe,
    pods,
    prom,
    queue,
    recs,
    rules,
    samples,
    spec,
)

WITHIN = "DesiredWithinRange"
FAILED = "FailedGetMetrics"


def open_spec(*metrics: MetricSpec, up_tol: float = 0.0, down_tol: float = 0.0, up_cool: int = 0,
              down_cool: int = 0, down_window: int = 0, **kw: object) -> GPUScalerSpec:
    """No rate limit worth the name; tolerances, cooldowns and the down window as given."""
    up = rules([("Pods", 100_000, 15)], tolerance=up_tol, cooldown=up_cool)
    down = rules([("Percent", 100, 15)], tolerance=down_tol, cooldown=down_cool, window=down_window)
    return spec(*metrics, up=up, down=down, **kw)  # type: ignore[arg-type]


# --- per-direction tolerance ---------------------------------------------------------
# (queue average over 10 ready pods, target 10, up tolerance, down tolerance, expected)
TOLERANCE_CASES = [
    pytest.param(14, 0.5, 0.1, 10, WITHIN, id="1.4 inside a 0.5 up band: hold"),
    pytest.param(14, 0.1, 0.5, 14, WITHIN, id="1.4 outside a 0.1 up band: ceil(10 * 1.4) = 14"),
    pytest.param(8.5, 0.1, 0.2, 10, WITHIN, id="0.85 inside a 0.2 down band: hold"),
    pytest.param(8.5, 0.2, 0.1, 9, WITHIN, id="0.85 outside a 0.1 down band: ceil(10 * 0.85) = 9"),
    pytest.param(10.1, 0.0, 0.5, 11, WITHIN, id="no up band: 1.01 → ceil(10.1) = 11"),
    pytest.param(6, 0.0, 0.5, 10, WITHIN, id="a 0.5 down band holds 0.6"),
    pytest.param(5, 0.0, 0.5, 10, WITHIN, id="0.5 on the edge of a 0.5 down band: inclusive, hold"),
    pytest.param(4.9, 0.0, 0.5, 5, WITHIN, id="0.49 just outside a 0.5 down band: ceil(4.9) = 5"),
]


@pytest.mark.parametrize(("average", "up_tol", "down_tol", "expected", "reason"), TOLERANCE_CASES)
def test_per_direction_tolerance(average: float, up_tol: float, down_tol: float, expected: int, reason: str) -> None:
    s = open_spec(queue(10), up_tol=up_tol, down_tol=down_tol)
    decision = decide(s, observe(10, queue_depth=samples(*[average] * 10)), SEEN, NOW)
    assert decision.desired_replicas == expected
    assert decision.reason_code == reason


# --- cooldownSeconds -------------------------------------------------------------------
# (proposal, up cooldown, down cooldown, seconds since last scale-up, since last
#  scale-down, expected from current 10, reason)
COOLDOWN_CASES = [
    pytest.param(15, 60, 0, 30, None, 10, "Cooldown", id="scale-up 30 s into a 60 s up cooldown: hold"),
    pytest.param(15, 60, 0, 60, None, 15, WITHIN, id="scale-up once the 60 s up cooldown is over"),
    pytest.param(15, 60, 0, None, 10, 15, WITHIN, id="a recent scale-down does not hold a scale-up"),
    pytest.param(15, 0, 600, 1, 1, 15, WITHIN, id="no up cooldown: scale up again 1 s later"),
    pytest.param(5, 0, 120, None, 60, 10, "Cooldown", id="scale-down 60 s into a 120 s down cooldown: hold"),
    pytest.param(5, 0, 120, 60, None, 10, "Cooldown",
                 id="a scale-down also waits out the down cooldown after a scale-up"),
    pytest.param(5, 0, 120, 121, 130, 5, WITHIN, id="scale-down after both events are 120 s old"),
    pytest.param(5, 600, 0, 1, 1, 5, WITHIN, id="the up cooldown never holds a scale-down"),
    pytest.param(10, 600, 600, 1, 1, 10, WITHIN, id="a hold is never a cooldown"),
]


@pytest.mark.parametrize(("proposal", "up_cool", "down_cool", "since_up", "since_down", "expected", "reason"),
                         COOLDOWN_CASES)
def test_cooldown(proposal: int, up_cool: int, down_cool: int, since_up: float | None, since_down: float | None,
                  expected: int, reason: str) -> None:
    metric, obs = asking(proposal, 10)
    memory = replace(SEEN, last_scale_up_time=None if since_up is None else NOW - since_up,
                     last_scale_down_time=None if since_down is None else NOW - since_down)
    decision = decide(open_spec(metric, up_cool=up_cool, down_cool=down_cool), obs, memory, NOW)
    assert decision.desired_replicas == expected
    assert decision.reason_code == reason


def test_cooldown_limit_says_what_it_held() -> None:
    metric, obs = asking(15, 10)
    decision = decide(open_spec(metric, up_cool=60), obs, replace(SEEN, last_scale_up_time=NOW - 20), NOW)
    (limit,) = decision.limits
    assert (limit.name, limit.before, limit.after) == ("Cooldown", 15, 10)
    assert decision.action == HOLD
    limited = {c.type: c for c in decision.conditions}["ScalingLimited"]
    assert (limited.status, limited.reason) == ("True", "Cooldown")


# --- loading and stuck replicas ----------------------------------------------------------
# Queue depth, target 4. (pods, samples, expected, reason)
READINESS_CASES = [
    pytest.param(pods(4, loading=[2, 3]), samples(8, 8), 4, "Loading",
                 # two ready at 8 asked for 4 and got them; the two new ones are loading:
                 # (8+8+0+0)/4 = 4 → ratio 1 → hold, no second scale-up (blind: ceil(2 * 2) + 2 = 6)
                 id="capacity on its way: no second scale-up for the same load"),
    pytest.param(pods(4, pending=[2, 3]), samples(8, 8), 4, "Loading",
                 # Pending pods without a start time are loading too
                 id="pending pods are capacity on its way"),
    pytest.param(pods(4, loading=[2, 3]), samples(12, 12), 6, "Loading",
                 # (12+12+0+0)/4 = 6 → 1.5 → ceil(4 * 1.5) = 6 (blind: ceil(2 * 3) + 2 = 8)
                 id="more load than the loading replicas cover: scale up for the rest only"),
    pytest.param(pods(4, loading=[2, 3]), samples(8.4, 8.4), 4, "Loading",
                 # ready at 2.1 x target, but with the loading pods at 0: 16.8/4 = 4.2 → 1.05,
                 # inside the band → hold (ignoring them: ceil(2 * 2.1) = 5, a scale-up)
                 id="loading replicas count toward the tolerance band"),
    pytest.param(pods(4), samples(8, 8, 8, 8), 8, WITHIN,
                 # four ready at 8: ceil(4 * 2) = 8
                 id="no loading replicas: plain HPA"),
    pytest.param(pods(3, loading=[2]), samples(4, 4, 100), 3, WITHIN,
                 # the loading pod's own sample is set aside: ready (4+4)/2 = 4 → 1.0
                 id="a loading replica's sample does not count"),
    pytest.param(pods(3, stuck=[2]), samples(4, 4, 100), 3, WITHIN,
                 # a stuck pod's sample is set aside too
                 id="a stuck replica's sample does not count"),
    pytest.param(pods(3, stuck=[2]), samples(8, 8), 4, WITHIN,
                 # stuck is not capacity on its way: no zero-fill, ceil(2 ready * 2) = 4
                 id="a stuck replica is not counted as capacity"),
    pytest.param(pods(3, stuck=[1, 2]), samples(4.8), 3, WITHIN,
                 # one ready at 1.2 x target: ceil(1 * 1.2) = 2 would be a scale-down while
                 # over target because two pods are stuck; missing data never scales down
                 id="stuck replicas never turn an overload into a scale-down"),
    pytest.param(pods(2, loading=[0, 1]), {}, 2, "Loading",
                 # a rollout from scratch: no replica can report load yet. Not a metrics
                 # failure (the fallback must not fire while the model loads): hold
                 id="every replica loading, no samples: hold, not a failure"),
]


@pytest.mark.parametrize(("pod_list", "per_pod", "expected", "reason"), READINESS_CASES)
def test_loading_and_stuck_replicas(pod_list: tuple, per_pod: dict[str, float], expected: int, reason: str) -> None:
    s = open_spec(queue(4), up_tol=0.1, down_tol=0.1)
    decision = decide(s, observe(len(pod_list), pod_list, queue_depth=per_pod), SEEN, NOW)
    assert decision.desired_replicas == expected
    assert decision.reason_code == reason
    assert decision.metrics_available
    assert decision.memory.consecutive_failures == 0


# (seconds since the not-Ready pod started, expected class as the decision shows it)
STARTUP_CASES = [
    pytest.param(119, "Loading", id="started 119 s ago with startupSeconds 120: loading"),
    pytest.param(120, WITHIN, id="started 120 s ago with startupSeconds 120: stuck"),
]


@pytest.mark.parametrize(("age", "reason"), STARTUP_CASES)
def test_startup_seconds_boundary(age: float, reason: str) -> None:
    # two ready at 8 and one not Ready; target 4 → 4 either way (ceil(16/4)), but only
    # a loading pod is capacity on its way
    pod_list = pods(2) + (replace(pods(1)[0], name="p2", ready=False, start_time=NOW - age),)
    decision = decide(open_spec(queue(4), up_tol=0.1), observe(3, pod_list, queue_depth=samples(8, 8)), SEEN, NOW)
    assert decision.desired_replicas == 4
    assert decision.reason_code == reason


# --- missing data: hold, partial failure, fallback -------------------------------------------
def _failing(current: int, *names: str) -> Observation:
    return observe(current, **{n: "!timeout" for n in names})


# (metrics, observation, memory, fallback, expected from the observation's current, reason,
#  consecutive failures afterwards)
MISSING_CASES = [
    pytest.param((prom(value=10),), _failing(5, "qps"), SEEN, None, 5, FAILED, 1,
                 id="the only metric fails: hold"),
    pytest.param((prom(value=10),), observe(5), SEEN, None, 5, FAILED, 1,
                 id="the metric is absent from the observation: hold"),
    pytest.param((queue(4),), observe(5, queue_depth={}), SEEN, None, 5, FAILED, 1,
                 id="no samples at all: hold"),
    pytest.param((queue(4),), observe(5, queue_depth=samples(math.nan, math.nan)), SEEN, None, 5, FAILED, 1,
                 id="only NaN samples: hold"),
    pytest.param((prom(value=10),), observe(5, qps=math.nan), SEEN, None, 5, FAILED, 1, id="a NaN value: hold"),
    pytest.param((prom(value=10),), observe(5, qps=math.inf), SEEN, None, 5, FAILED, 1, id="an infinite value: hold"),
    pytest.param((prom(value=10),), observe(5, qps=-1.0), SEEN, None, 5, FAILED, 1, id="a negative value: hold"),
    pytest.param((queue(4), prom(value=10)), observe(5, queue_depth=samples(1, 1, 1, 1, 1), qps="!timeout"), SEEN,
                 None, 5, FAILED, 0,
                 # the queue alone asks ceil(5 * 0.25) = 2; one metric is missing: no scale-down.
                 # Partial data is not an outage: the failure streak does not grow.
                 id="partial failure: no scale-down"),
    pytest.param((queue(4), prom(value=10)), observe(5, queue_depth=samples(8, 8, 8, 8, 8), qps="!timeout"), SEEN,
                 None, 10, WITHIN, 0,
                 # the queue alone asks ceil(5 * 2) = 10: a scale-up on partial data is allowed
                 id="partial failure: scale-up allowed"),
    pytest.param((queue(4), prom(value=10)), observe(5, queue_depth=samples(4, 4, 4, 4, 4), qps="!timeout"), SEEN,
                 None, 5, WITHIN, 0,
                 # the queue asks exactly 5: not fewer than current, so the decision goes on
                 id="partial failure: the valid metrics ask for current"),
    pytest.param((prom(value=10),), _failing(2, "qps"), replace(SEEN, consecutive_failures=1), Fallback(3, 4), 2,
                 FAILED, 2,
                 id="fallback: 2 failures of 3: still holding"),
    pytest.param((prom(value=10),), _failing(2, "qps"), replace(SEEN, consecutive_failures=2), Fallback(3, 4), 4,
                 "Fallback", 3,
                 # min(max(2, 4, 1), 1000) = 4
                 id="fallback: the 3rd failure raises to fallback.replicas"),
    pytest.param((prom(value=10),), _failing(6, "qps"), replace(SEEN, consecutive_failures=9), Fallback(3, 4), 6,
                 "Fallback", 10,
                 # min(max(6, 4, 1), 1000) = 6: a floor, never a reason to shrink
                 id="fallback never scales down"),
    pytest.param((prom(value=10),), _failing(2, "qps"), replace(SEEN, consecutive_failures=2), Fallback(3, None), 2,
                 FAILED, 3,
                 id="a threshold without fallback.replicas only holds"),
    pytest.param((queue(4), prom(value=10)), observe(2, queue_depth=samples(1, 1), qps="!timeout"),
                 replace(SEEN, consecutive_failures=5), Fallback(3, 4), 2, FAILED, 0,
                 # a valid metric is still there: partial data holds, it is not an outage,
                 # and it breaks the streak of failed polls
                 id="partial failure never triggers the fallback"),
    pytest.param((prom(value=10),), observe(2, qps=10.0), replace(SEEN, consecutive_failures=5), Fallback(3, 4), 2,
                 WITHIN, 0,
                 # 10/10 = 1: data is back, the count restarts
                 id="a good poll resets the failure count"),
]


@pytest.mark.parametrize(("metrics", "obs", "memory", "fallback", "expected", "reason", "failures"), MISSING_CASES)
def test_missing_data(metrics: tuple[MetricSpec, ...], obs: Observation, memory: Memory, fallback: Fallback | None,
                      expected: int, reason: str, failures: int) -> None:
    decision = decide(open_spec(*metrics, up_tol=0.1, down_tol=0.1, fallback=fallback), obs, memory, NOW)
    assert decision.desired_replicas == expected
    assert decision.reason_code == reason
    assert decision.memory.consecutive_failures == failures
    assert decision.metrics_available == (reason not in (FAILED, "Fallback"))


def test_fallback_is_capped_by_max_and_raised_by_min() -> None:
    metric = prom(value=10)
    capped = decide(open_spec(metric, max_replicas=3, fallback=Fallback(1, 8)), _failing(2, "qps"), SEEN, NOW)
    raised = decide(open_spec(metric, min_replicas=5, fallback=Fallback(1, 4)), _failing(5, "qps"), SEEN, NOW)
    # min(max(2, 8, 1), 3) = 3; min(max(5, 4, 5), 1000) = 5
    assert (capped.desired_replicas, capped.reason_code) == (3, "Fallback")
    assert (raised.desired_replicas, raised.reason_code) == (5, "Fallback")


# (seconds since the last scale-up, expected from 2, reason) with up cooldown 60 s
FALLBACK_COOLDOWN_CASES = [
    pytest.param(10, 2, "Cooldown", id="fallback 10 s after a scale-up waits out the 60 s up cooldown"),
    pytest.param(60, 4, "Fallback", id="fallback once the up cooldown is over"),
]


@pytest.mark.parametrize(("since_up", "expected", "reason"), FALLBACK_COOLDOWN_CASES)
def test_fallback_waits_out_the_up_cooldown(since_up: float, expected: int, reason: str) -> None:
    memory = replace(SEEN, consecutive_failures=2, last_scale_up_time=NOW - since_up)
    s = open_spec(prom(value=10), up_cool=60, fallback=Fallback(3, 4))
    decision = decide(s, _failing(2, "qps"), memory, NOW)
    assert (decision.desired_replicas, decision.reason_code) == (expected, reason)
    assert decision.memory.consecutive_failures == 3


def test_metrics_unavailable_records_no_recommendation() -> None:
    decision = decide(open_spec(prom(value=10), down_window=300), _failing(5, "qps"), SEEN, NOW)
    assert decision.memory.recommendations == SEEN.recommendations
    assert decision.memory == decision.memory_if_not_applied


# --- bad samples are missing samples -----------------------------------------------------
# Queue depth, target 4, current 3.
BAD_SAMPLE_CASES = [
    pytest.param(samples(8, 8, 8), 6, id="all good: ceil(3 * 2) = 6"),
    pytest.param(samples(8, 8, math.nan), 4,
                 # p2 is missing on a scale-up: (8+8+0)/3 = 5.33 → ceil(3 * 1.33) = 4
                 id="NaN on a scale-up counts as 0"),
    pytest.param(samples(8, 8, math.inf), 4, id="Inf on a scale-up counts as 0"),
    pytest.param(samples(8, 8, -3), 4, id="negative on a scale-up counts as 0"),
    pytest.param(samples(1, 1, 1), 1, id="all good: ceil(3 * 0.25) = 1"),
    pytest.param(samples(1, 1, math.nan), 2,
                 # p2 is missing on a scale-down: at the target, (1+1+4)/3 = 2 → ceil(3 * 0.5) = 2
                 id="NaN on a scale-down counts at the target"),
    pytest.param(samples(1, 1, -math.inf), 2, id="-Inf on a scale-down counts at the target"),
]


@pytest.mark.parametrize(("per_pod", "expected"), BAD_SAMPLE_CASES)
def test_bad_samples_are_missing(per_pod: dict[str, float], expected: int) -> None:
    decision = decide(open_spec(queue(4), up_tol=0.1, down_tol=0.1), observe(3, queue_depth=per_pod), SEEN, NOW)
    assert decision.desired_replicas == expected


# --- paused ------------------------------------------------------------------------------
PAUSED_CASES = [
    pytest.param(observe(3, queue_depth=samples(40, 40, 40)), 3, id="load 10x the target: hold"),
    pytest.param(observe(3, queue_depth=samples(0, 0, 0)), 3, id="no load: hold"),
    pytest.param(observe(30, queue_depth={}), 30, id="above maxReplicas: still hold"),
    pytest.param(observe(3, metrics={"queue_depth": MetricObservation.failed("timeout")}), 3,
                 id="metrics failing: hold, no failure counted"),
]


@pytest.mark.parametrize(("obs", "expected"), PAUSED_CASES)
def test_paused_holds(obs: Observation, expected: int) -> None:
    decision = decide(open_spec(queue(4), max_replicas=10, paused=True, fallback=Fallback(1, 8)), obs, SEEN, NOW)
    assert (decision.desired_replicas, decision.action, decision.reason_code) == (expected, HOLD, "Paused")
    assert decision.memory.consecutive_failures == 0


# --- first sight: the seeded history ------------------------------------------------------
def test_new_scaler_does_not_scale_down_inside_the_window() -> None:
    """Every poll asks for 3 of 10; the seeded 10 holds them until it is 300 s old."""
    s = open_spec(queue(4), up_tol=0.1, down_tol=0.1, down_window=300)
    memory = Memory()
    seen = []
    for t in (0, 15, 150, 285, 299, 300):
        obs = observe(10, queue_depth=samples(*[1.2] * 10))  # ceil(10 * 0.3) = 3
        decision = decide(s, obs, memory, NOW + t)
        memory = decision.memory_if_not_applied
        seen.append((t, decision.desired_replicas, decision.reason_code))
    assert seen == [(0, 10, "ScaleDownStabilized"), (15, 10, "ScaleDownStabilized"),
                    (150, 10, "ScaleDownStabilized"), (285, 10, "ScaleDownStabilized"),
                    (299, 10, "ScaleDownStabilized"), (300, 3, WITHIN)]


def test_seeding_records_the_current_count_at_now() -> None:
    decision = decide(open_spec(queue(4), down_window=300), observe(10, queue_depth=samples(*[1.2] * 10)),
                      Memory(), NOW)
    assert [(r.timestamp, r.replicas) for r in decision.memory.recommendations] == [(NOW, 10), (NOW, 3)]


def test_new_scaler_scales_up_at_once() -> None:
    decision = decide(open_spec(queue(4), up_tol=0.1), observe(2, queue_depth=samples(8, 8)), Memory(), NOW)
    assert (decision.desired_replicas, decision.action) == (4, SCALE_UP)


def test_restarted_scaler_with_memory_is_not_reseeded() -> None:
    # memory carried over (e.g. from status) whose records are all old: no new seed
    decision = decide(open_spec(queue(4), down_window=300), observe(10, queue_depth=samples(*[1.2] * 10)),
                      Memory(recommendations=recs((10, 400))), NOW)
    assert (decision.desired_replicas, decision.action) == (3, SCALE_DOWN)


# --- the memory to keep ---------------------------------------------------------------------
MEMORY_CASES = [
    pytest.param(15, SCALE_UP, id="scale-up"),
    pytest.param(5, SCALE_DOWN, id="scale-down"),
    pytest.param(10, HOLD, id="hold"),
]


@pytest.mark.parametrize(("proposal", "action"), MEMORY_CASES)
def test_memory_if_applied_and_if_not(proposal: int, action: str) -> None:
    metric, obs = asking(proposal, 10)
    decision = decide(open_spec(metric), obs, SEEN, NOW)
    applied, not_applied = decision.memory, decision.memory_if_not_applied
    assert decision.action == action
    # both remember this poll's recommendation
    assert applied.recommendations == not_applied.recommendations
    assert not_applied.recommendations[-1].replicas == proposal
    # only the applied memory records the scale event and its time
    assert not_applied.scale_events == () and not_applied.last_scale_up_time is None
    assert not_applied.last_scale_down_time is None
    if action == HOLD:
        assert applied == not_applied
    else:
        (event,) = applied.scale_events
        direction = "up" if action == SCALE_UP else "down"
        assert (event.timestamp, event.direction, event.replicas) == (NOW, direction, abs(proposal - 10))
        assert applied.last_scale_up_time == (NOW if action == SCALE_UP else None)
        assert applied.last_scale_down_time == (NOW if action == SCALE_DOWN else None)


def test_not_applied_memory_leaves_the_policy_budget_untouched() -> None:
    """A dry run that keeps ``memory_if_not_applied`` may ask again at once; one that
    keeps ``memory`` has spent the Pods 4 / 60 s budget."""
    metric, _ = asking(20, 10)
    s = spec(metric, up=rules([("Pods", 4, 60)], tolerance=0.0))
    first = decide(s, asking(20, 10)[1], SEEN, NOW)
    assert first.desired_replicas == 14  # 10 + 4
    again_not_applied = decide(s, asking(20, 10)[1], first.memory_if_not_applied, NOW + 15)
    again_applied = decide(s, asking(20, 14)[1], first.memory, NOW + 15)
    assert again_not_applied.desired_replicas == 14  # nothing spent: 10 + 4
    assert (again_applied.desired_replicas, again_applied.reason_code) == (14, "ScaleUpLimit")  # 14 - 4 + 4
