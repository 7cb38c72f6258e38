"""Kubernetes' behavior and controller cases, restated as facts about our core.

Sources: kubernetes/kubernetes ``pkg/controller/podautoscaler/horizontal_test.go``
(TestScalingWithRules, TestCalculateScale{Up,Down}Limit..., TestNormalizeDesiredReplicas-
WithBehavior, TestStoreScaleEvents and the controller-level tests named in each id).

Upstream calls the normalization helpers directly with a "prenormalized" count; we go
through ``decide`` with one metric that asks for exactly that count (see
``builders.asking``: a target-wide value against ``averageValue: 1`` with tolerance 0).
A spec without ``behavior`` means HPA v2's default behavior here, never HPA's legacy
path: controller cases that upstream ran on the legacy path are ported only where the
default behavior gives the same answer, and none relies on its ``scaleUpLimitFactor = 8``.
Upstream's ``recommendations: []`` (seen before, nothing recent) is our ``SEEN`` memory;
``recommendations: nil`` (first sight) is an empty ``Memory()``, which we seed with the
current count as HPA does.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from autoscaler.core import Memory, Observation, Recommendation, ScaleEvent, decide
from autoscaler.core.rate import period_start, record_scale_event
from autoscaler.spec import DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP, MetricSpec, ScalingRules
from tests.core.builders import (
    NOW,
    SEEN,
    asking,
    events,
    gpu_util,
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


def gen(pods_: int = 0, pods_period: int = 0, percent: int = 0, percent_period: int = 0, window: int = 0,
        select: str = "Max") -> ScalingRules:
    """Upstream's generateScalingRules(pods, podsPeriod, percent, percentPeriod, window),
    with tolerance 0 so that ``asking(n)`` proposes exactly n."""
    policies = []
    if pods_:
        policies.append(("Pods", pods_, pods_period))
    if percent:
        policies.append(("Percent", percent, percent_period))
    return rules(policies, window=window, select=select, tolerance=0.0)


UP0 = replace(DEFAULT_SCALE_UP, tolerance=0.0)
DOWN0 = replace(DEFAULT_SCALE_DOWN, tolerance=0.0)

# (current, proposal, min, max, up rules, down rules, scale events, expected, reason)
RATE_CASES = [
    pytest.param(5, 7, 3, 8, UP0, DOWN0, (), 7, WITHIN,
                 # default up limit max(2 * 5, 5 + 4) = 10 >= 7
                 id="prenormalized desired replicas within range"),
    pytest.param(3, 1, 2, 8, UP0, DOWN0, (), 2, "TooFewReplicas",
                 # default down limit trunc(3 * 0) = 0 < min 2 → 2
                 id="prenormalized desired replicas < minReplicas"),
    pytest.param(20, 1000, 1, 10, UP0, DOWN0, (), 10, "TooManyReplicas",
                 # current 20 is above max 10: straight to 10
                 id="maxReplicas is the limit because maxReplicas < scaleUpLimit"),
    pytest.param(100, 1000, 100, 150, UP0, DOWN0, (), 150, "TooManyReplicas",
                 # limit max(200, 104) = 200 > max 150
                 id="desired replica count is more than the maximum replica count"),
    pytest.param(3, 1000, 1, 2000, gen(0, 0, 1, 60), DOWN0, (), 4, "ScaleUpLimit",
                 # Percent 1: ceil(3 * 1.01) = 4
                 id="scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies"),
    pytest.param(1000, 3, 3, 2000, UP0, gen(20, 60), (), 980, "ScaleDownLimit",
                 # Pods 20: 1000 - 20 = 980 (upstream marks this row testThis and skips it)
                 id="scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies"),
    pytest.param(10, 50, 1, 1000, UP0, DOWN0, (), 20, "ScaleUpLimit",
                 # max(10 * 2, 10 + 4) = 20
                 id="scaleUp with default behavior"),
    pytest.param(10, 500, 1, 1000, gen(100, 60, 100, 60), DOWN0, (), 110, "ScaleUpLimit",
                 # max(10 + 100, 10 * 2) = 110
                 id="scaleUp with pods policy larger than percent policy"),
    pytest.param(10, 500, 1, 1000, gen(2, 60, 100, 60), DOWN0, (), 20, "ScaleUpLimit",
                 # max(10 + 2, 10 * 2) = 20
                 id="scaleUp with percent policy larger than pods policy"),
    pytest.param(10, 50, 1, 1000, gen(100, 60), DOWN0, (), 50, WITHIN,
                 # 10 + 100 = 110 >= 50
                 id="scaleUp with spec MaxReplicas limitation with large pod policy"),
    pytest.param(10, 50, 1, 1000, gen(10000, 60), DOWN0, (), 50, WITHIN,
                 # 10 + 10000 >= 50
                 id="scaleUp with spec MaxReplicas limitation with large percent policy"),
    pytest.param(10, 50, 1, 1000, gen(30, 60), DOWN0, (), 40, "ScaleUpLimit",
                 # 10 + 30 = 40
                 id="scaleUp with pod policy limitation"),
    pytest.param(10, 50, 1, 1000, gen(0, 0, 200, 60), DOWN0, (), 30, "ScaleUpLimit",
                 # ceil(10 * 3) = 30
                 id="scaleUp with percent policy limitation"),
    pytest.param(100, 2, 1, 1000, UP0, gen(20, 60, 1, 60, 300), (), 80, "ScaleDownLimit",
                 # min(100 - 20, trunc(100 * 0.99)) = min(80, 99) = 80
                 id="scaleDown with percent policy larger than pod policy"),
    pytest.param(100, 2, 1, 1000, UP0, gen(2, 60, 1, 60, 300), (), 98, "ScaleDownLimit",
                 # min(100 - 2, 99) = 98
                 id="scaleDown with pod policy larger than percent policy"),
    pytest.param(10, 0, 1, 1000, UP0, gen(100, 60, window=300), (), 1, "TooFewReplicas",
                 # 10 - 100 = -90 < min 1 → 1 (same facts as "...MinReplicas limitation with large pod policy")
                 id="scaleDown with spec MinReplicas=nil limitation with large pod policy"),
    pytest.param(10, 2, 5, 1000, UP0, gen(0, 0, 100, 60, 300), (), 5, "TooFewReplicas",
                 # trunc(10 * 0) = 0 < min 5 → 5
                 id="scaleDown with spec MinReplicas limitation with large percent policy"),
    pytest.param(10, 2, 1, 1000, UP0, gen(5, 60, window=300), (), 5, "ScaleDownLimit",
                 # 10 - 5 = 5
                 id="scaleDown with pod policy limitation"),
    pytest.param(10, 5, 1, 1000, UP0, gen(0, 0, 50, 60, 300), (), 5, WITHIN,
                 # trunc(10 * 0.5) = 5 <= 5
                 id="scaleDown with percent policy limitation"),
    pytest.param(100, 500, 1, 200, gen(300, 60), DOWN0, events("up", [1, 5, 9], 120), 200, "TooManyReplicas",
                 # start 100 - 9 = 91 (the +5 is 60 s old, not younger than 60 s); 91 + 300 > 200
                 id="scaleUp with spec MaxReplicas limitation with large pod policy and events"),
    pytest.param(100, 500, 1, 200, gen(0, 0, 10000, 60), DOWN0, events("up", [1, 5, 9], 120), 200,
                 "TooManyReplicas",
                 # ceil(91 * 101) > 200
                 id="scaleUp with spec MaxReplicas limitation with large percent policy and events"),
    pytest.param(100, 500, 1, 1000, gen(5, 120), DOWN0, events("up", [1, 5, 9], 120), 100, "ScaleUpLimit",
                 # period start 100 - 15 = 85; 85 + 5 = 90 < current → no scale-up at all
                 id="scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events"),
    pytest.param(100, 500, 1, 1000, gen(150, 120), DOWN0, events("up", [1, 5, 9], 120), 235, "ScaleUpLimit",
                 # 100 - 15 + 150 = 235
                 id="scaleUp with pod policy and previous scale up events"),
    pytest.param(100, 500, 1, 1000, gen(0, 0, 200, 120), DOWN0, events("up", [1, 5, 9], 120), 255, "ScaleUpLimit",
                 # ceil((100 - 15) * 3) = 255
                 id="scaleUp with percent policy and previous scale up events"),
    pytest.param(6, 24, 1, 1000, gen(0, 0, 300, 300), DOWN0, events("up", [4], 120) + events("down", [2], 120),
                 16, "ScaleUpLimit",
                 # both histories count: start 6 - 4 + 2 = 4; ceil(4 * 4) = 16
                 id="scaleUp with percent policy and previous scale up and down events"),
    pytest.param(10, 5, 1, 1000, UP0, DOWN0, events("down", [1, 5, 9], 120), 5, WITHIN,
                 # default Percent 100 / 15 s: none of the events is younger than 15 s
                 id="scaleDown with default policy and previous events"),
    pytest.param(100, 0, 1, 1000, UP0, gen(115, 120, window=300), events("down", [1, 5, 9], 120), 1,
                 "TooFewReplicas",
                 # start 100 + 15 = 115; 115 - 115 = 0 < min 1 → 1
                 id="scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events"),
    pytest.param(100, 0, 5, 1000, UP0, gen(130, 120, window=300), events("down", [1, 5, 9], 120), 5,
                 "TooFewReplicas",
                 # 115 - 130 = -15 < min 5 → 5
                 id="scaleDown with spec MinReplicas limitation with large pod policy and previous events"),
    pytest.param(100, 2, 5, 1000, UP0, gen(0, 0, 100, 120, 300), events("down", [1, 5, 9], 120), 5,
                 "TooFewReplicas",
                 # trunc(115 * 0) = 0 < min 5 → 5
                 id="scaleDown with spec MinReplicas limitation with large percent policy and previous events"),
    pytest.param(100, 2, 1, 1000, UP0, gen(5, 120, window=300), events("down", [1, 5, 9], 120), 100,
                 "ScaleDownLimit",
                 # 115 - 5 = 110 > current → capped at 100: no scale-down
                 id="scaleDown with pod policy limitation and previous events"),
    pytest.param(100, 0, 1, 1000, UP0, gen(0, 0, 50, 120, 300), events("down", [2, 4, 6], 120), 56,
                 "ScaleDownLimit",
                 # trunc((100 + 12) * 0.5) = 56
                 id="scaleDown with percent policy limitation and previous events"),
    pytest.param(10, 1, 1, 1000, UP0, gen(0, 0, 50, 180), events("up", [2], 120) + events("down", [4], 120), 6,
                 "ScaleDownLimit",
                 # start 10 - 2 + 4 = 12; trunc(12 * 0.5) = 6
                 id="scaleDown with percent policy and previous scale up and down events"),
    pytest.param(100, 0, 1, 1000, UP0, gen(0, 0, 10, 120, 300), events("down", [10, 10, 10], 120), 100,
                 "ScaleDownLimit",
                 # trunc(130 * 0.9) = 117 > 100 → keep 100
                 id="scaleDown with previous events preventing further scale down"),
    pytest.param(10, 5, 1, 1000, UP0, gen(0, 0, 1000, 120, 300), events("down", [10, 10, 10], 120), 5, WITHIN,
                 # trunc(40 * -9) = -360 <= 5
                 id="scaleDown with with previous events still allowing more scale down"),
    pytest.param(100, 200, 1, 1000, gen(1000, 60), DOWN0, events("up", [8, 12, 9, 11], 120), 200, WITHIN,
                 # only the +9 (45 s) and +11 (15 s) are in the 60 s period: 80 + 1000 >= 200
                 id="check 'outdated' flag for events for one behavior for up"),
    pytest.param(100, 200, 1, 1000, gen(1000, 120, 100, 60), DOWN0, events("up", [8, 12, 9, 11], 120), 200, WITHIN,
                 # max(60 + 1000, ceil(80 * 2)) >= 200
                 id="check that events were not marked 'outdated' for two different policies in the behavior for up"),
    pytest.param(100, 200, 1, 1000, gen(1000, 30, 100, 60), DOWN0, events("up", [8, 12, 9, 11], 120), 200, WITHIN,
                 # max(89 + 1000, 160) >= 200
                 id="check that events were marked 'outdated' for two different policies in the behavior for up"),
    pytest.param(100, 5, 1, 1000, UP0, gen(1000, 60, window=300), events("down", [8, 12, 9, 11], 120), 5, WITHIN,
                 # 120 - 1000 <= 5
                 id="check 'outdated' flag for events for one behavior for down"),
    pytest.param(100, 5, 1, 1000, UP0, gen(1000, 120, 100, 60, 300), events("down", [8, 12, 9, 11], 120), 5,
                 WITHIN,
                 # min(140 - 1000, 0) <= 5
                 id="check that events were not marked 'outdated' for two different policies in the behavior for down"),
    pytest.param(100, 5, 1, 1000, UP0, gen(1000, 30, 100, 60, 300), events("down", [8, 12, 9, 11], 120), 5,
                 WITHIN,
                 # min(111 - 1000, 0) <= 5
                 id="check that events were marked 'outdated' for two different policies in the behavior for down"),
    pytest.param(1, 10, 1, 1000, gen(2, 60, 50, 60, 300, select="Min"), DOWN0, (), 2, "ScaleUpLimit",
                 # selectPolicy Min: min(1 + 2, ceil(1 * 1.5)) = 2
                 id="TestCalculateScaleUpLimitWithScalingRules"),
    pytest.param(5, 1, 1, 1000, UP0, gen(2, 60, 50, 60, 300, select="Min"), (), 3, "ScaleDownLimit",
                 # selectPolicy Min: max(5 - 2, trunc(5 * 0.5)) = max(3, 2) = 3
                 id="TestCalculateScaleDownLimitWithBehaviors"),
]


@pytest.mark.parametrize(("current", "proposal", "min_r", "max_r", "up", "down", "history", "expected", "reason"),
                         RATE_CASES)
def test_scaling_with_rules(current: int, proposal: int, min_r: int, max_r: int, up: ScalingRules,
                            down: ScalingRules, history: tuple[ScaleEvent, ...], expected: int,
                            reason: str) -> None:
    metric, obs = asking(proposal, current)
    memory = replace(SEEN, scale_events=history)
    decision = decide(spec(metric, min_replicas=min_r, max_replicas=max_r, up=up, down=down), obs, memory, NOW)
    assert decision.desired_replicas == expected
    assert decision.reason_code == reason


# (recommendations as (replicas, age s), current, proposal, up window, down window,
#  expected, reason, recommendations that can still count afterwards)
STABILIZATION_CASES = [
    pytest.param((), 100, 5, 0, 0, 5, WITHIN, [5],
                 # first sight: the seeded 100 is not younger than a 0 s window
                 id="empty recommendations for scaling down"),
    pytest.param(((4, 120), (5, 60)), 100, 3, 0, 180, 5, "ScaleDownStabilized", [3, 4, 5],
                 # down ceiling max(3, 4, 5) = 5
                 id="simple scale down stabilization"),
    pytest.param(((4, 120), (5, 60)), 1, 7, 300, 0, 4, "ScaleUpStabilized", [4, 5, 7],
                 # up floor min(7, 4, 5) = 4
                 id="simple scale up stabilization"),
    pytest.param(((1, 120), (2, 60)), 100, 3, 300, 0, 3, WITHIN, [1, 2, 3],
                 # floor min(3, 1, 2) = 1, ceiling 3: clamp(100, 1, 3) = 3
                 id="no scale down stabilization"),
    pytest.param(((4, 120), (5, 60)), 1, 3, 0, 300, 3, WITHIN, [3, 4, 5],
                 # floor 3, ceiling max(3, 4, 5) = 5: clamp(1, 3, 5) = 3
                 id="no scale up stabilization"),
    pytest.param(((10, 600), (9, 540)), 100, 3, 0, 0, 3, WITHIN, [3],
                 # both records are past both windows (upstream reuses one slot and keeps
                 # the other; we drop them: the records that can still count are the same)
                 id="no scale down stabilization, reuse recommendation element"),
    pytest.param(((10, 600), (9, 540)), 1, 100, 0, 0, 100, WITHIN, [100],
                 id="no scale up stabilization, reuse recommendation element"),
    pytest.param(((10, 600), (4, 60), (5, 120), (9, 540)), 100, 3, 0, 180, 5, "ScaleDownStabilized", [3, 4, 5],
                 # ceiling max(3, 4, 5) = 5; 10 and 9 are outside 180 s
                 id="scale down stabilization, reuse one of obsolete recommendation element"),
    pytest.param(((10, 6000), (6, 60), (5, 120), (9, 180)), 1, 100, 300, 0, 5, "ScaleUpStabilized",
                 [5, 6, 9, 100],
                 # floor min(100, 6, 5, 9) = 5
                 id="scale up stabilization, reuse one of obsolete recommendation element"),
    pytest.param(((2, 6000), (3, 180)), 2, 1, 300, 300, 2, "ScaleDownStabilized", [1, 3],
                 # floor min(1, 3) = 1, ceiling max(1, 3) = 3: clamp(2, 1, 3) = 2
                 id="scale up and down stabilization, do not scale up when prenormalized rec goes down"),
    pytest.param(((2, 6000), (1, 180)), 2, 3, 300, 300, 2, "ScaleUpStabilized", [1, 3],
                 # floor min(3, 1) = 1, ceiling max(3, 1) = 3: clamp(2, 1, 3) = 2
                 id="scale up and down stabilization, do not scale down when prenormalized rec goes up"),
]


@pytest.mark.parametrize(("history", "current", "proposal", "up_window", "down_window", "expected", "reason",
                          "kept"), STABILIZATION_CASES)
def test_normalize_desired_replicas_with_behavior(history: tuple[tuple[int, float], ...], current: int,
                                                  proposal: int, up_window: int, down_window: int,
                                                  expected: int, reason: str, kept: list[int]) -> None:
    up = rules([("Pods", 100_000, 15)], window=up_window, tolerance=0.0)
    down = rules([("Percent", 100, 15)], window=down_window, tolerance=0.0)
    metric, obs = asking(proposal, current)
    decision = decide(spec(metric, up=up, down=down), obs, Memory(recommendations=recs(*history)), NOW)
    assert decision.desired_replicas == expected
    assert decision.reason_code == reason
    horizon = max(up_window, down_window)
    live = [r.replicas for r in decision.memory.recommendations if r.timestamp > NOW - horizon or r.timestamp == NOW]
    assert sorted(live) == kept


def _gpu(current: int, *values: float, pod_list: tuple | None = None) -> Observation:
    return observe(current, pod_list, gpu=samples(*values))


def _with_failed(obs: Observation, name: str = "qps") -> Observation:
    return replace(obs, metrics={**obs.metrics, **observe(0, (), **{name: "!something went wrong"}).metrics})


LEVELS = (10, 30, 50, 25, 25)  # 100m, 300m, 500m, 250m, 250m of 1-CPU requests: 28 % on average

# (metrics, min, max, up rules or None, observation, memory, expected, reason)
CONTROLLER_CASES = [
    pytest.param((gpu_util(50),), 2, 6, None, _gpu(5, *LEVELS), Memory(), 5, "ScaleDownStabilized",
                 # ceil(5 * 28/50) = 3, but the history is seeded with 5 on first sight
                 # and the 300 s scale-down window holds it
                 id="TestScaleDownStabilizeInitialSize"),
    pytest.param((gpu_util(50),), 2, 6, None, _gpu(5, *LEVELS), SEEN, 3, WITHIN,
                 # seen before, nothing in the window: ceil(5 * 0.56) = 3
                 id="TestScaleDown"),
    pytest.param((gpu_util(50),), 2, 6, gen(0, 0, 100, 15, 30), _gpu(5, *LEVELS), SEEN, 3, WITHIN,
                 # a scale-up rule does not affect the scale-down: 3
                 id="TestScaleDownWithScalingRules"),
    pytest.param((gpu_util(100),), 1, 5, None, _gpu(4, 50, 50, 50, pod_list=pods(3)),
                 Memory(recommendations=recs((10, 600), (4, 60))), 4, "ScaleDownStabilized",
                 # ceil(3 pods * 0.5) = 2; the 4 of a minute ago holds it (the 10 is too old)
                 id="TestStabilizeDownscale"),
    pytest.param((gpu_util(50), prom(value=1)), 2, 6, None, _with_failed(_gpu(5, *LEVELS)), SEEN, 5,
                 "FailedGetMetrics",
                 # the valid metric asks 3 < 5 while the other failed: no scale-down on partial data
                 id="TestNoScaleDownOneMetricInvalid+TestNoScaleDownOneMetricEmpty"),
    pytest.param((gpu_util(30), prom(value=0.1)), 2, 6, None, _with_failed(_gpu(3, 30, 40, 50)), Memory(), 4,
                 WITHIN,
                 # ceil(3 * 40/30) = 4 > 3: a scale-up on partial data is allowed
                 id="TestScaleUpOneMetricEmpty+TestScaleUpOneMetricInvalid"),
    pytest.param((prom(value=1),), 2, 6, None, _with_failed(_gpu(3)), Memory(), 3, "FailedGetMetrics",
                 # no valid metric at all: hold
                 id="TestScaleUpBothMetricsEmpty"),
    pytest.param((gpu_util(100),), 2, 6, None, _gpu(4, 400, 950, 300, 700, 320, 200), Memory(), 6,
                 "TooManyReplicas",
                 # proposal 24; default limit max(8, 8) = 8 >= max 6 → 6
                 id="TestSuperfluousMetrics"),
    pytest.param((gpu_util(100),), 2, 6, None, _gpu(4, 40, 9.5), SEEN, 3, WITHIN,
                 # see ReplicaCalcMissingMetrics: 3
                 id="TestMissingMetrics"),
    pytest.param((gpu_util(50),), 1, 5, None, _gpu(4, 100, pod_list=pods(1)), SEEN, 2, WITHIN,
                 # one pod at 100 % (200m of 0.2): ceil(1 * 100/50) = 2
                 id="TestMissingReports"),
    pytest.param((queue(0.1),), 1, 100, gen(0, 0, 700, 60), observe(3, queue_depth=samples(1, 2, 3)), Memory(),
                 24, "ScaleUpLimit",
                 # 100m/200m/300m of 100m requests at a 10 % target = queue 1, 2, 3 vs 0.1:
                 # ceil(3 * 20) = 60; Percent 700 allows ceil(3 * 8) = 24
                 id="TestUpscaleCap"),
    pytest.param((queue(0.1),), 1, 20, gen(0, 0, 700, 60), observe(3, queue_depth=samples(1, 2, 3)), Memory(),
                 20, "TooManyReplicas",
                 # 24 allowed by the policy, but max 20
                 id="TestUpscaleCapGreaterThanMaxReplicas"),
    pytest.param((gpu_util(50),), 1, 8, None, replace(_gpu(4, 50, 50, 50, 50, 50, pod_list=pods(5)),
                                                      status_replicas=5), Memory(), 4, WITHIN,
                 # a 25 % surge: 5 pods at exactly the target → ratio 1 → keep spec's 4
                 id="TestMoreReplicasThanSpecNoScale"),
    pytest.param((gpu_util(50),), 1, 5, None, _gpu(2, 50, 50), Memory(), 2, WITHIN,
                 # 200m of 0.4 = 50 % each: ratio 1 → no change
                 id="TestEventNotCreated"),
    pytest.param((gpu_util(50),), 1, 5, None, _gpu(1, 100), Memory(), 2, WITHIN,
                 # 200m of 0.2 = 100 %: ceil(1 * 2) = 2
                 id="TestEventCreated"),
    pytest.param((gpu_util(90),), 2, 6, None, _gpu(1, 0, 0, 0, 0, pod_list=pods(4)), Memory(), 2,
                 "TooFewReplicas",
                 # current 1 < min 2: straight to 2, metrics unread
                 id="TestScaleUpRCImmediately"),
    pytest.param((gpu_util(50),), 2, 5, None, _gpu(6, 80, 95, 10, pod_list=pods(3)), Memory(), 5,
                 "TooManyReplicas",
                 # current 6 > max 5: straight to 5
                 id="TestScaleDownRCImmediately"),
    pytest.param((gpu_util(90),), 3, 5, None, _gpu(0, pod_list=()), Memory(), 0, "ScalingDisabled",
                 # 0 replicas with minReplicas 3: autoscaling is off
                 id="TestZeroReplicas"),
    pytest.param((gpu_util(90),), 3, 5, None, _gpu(2), Memory(), 3, "TooFewReplicas",
                 id="TestTooFewReplicas"),
    pytest.param((gpu_util(90),), 3, 5, None, _gpu(10), Memory(), 5, "TooManyReplicas",
                 id="TestTooManyReplicas"),
    pytest.param((gpu_util(90),), 2, 5, None, _gpu(3, 0, 0, 0), SEEN, 2, "TooFewReplicas",
                 # 0 % everywhere asks 0; min 2
                 id="TestMinReplicasDesiredZero"),
    pytest.param((queue(20),), 1, 5, None, observe(3, queue_depth=samples(20, 20.001, 21)), Memory(), 3, WITHIN,
                 # trunc(61001/3) = 20333 milli → 1.017, inside the band
                 id="TestToleranceCM"),
    pytest.param((prom(value=20),), 1, 5, None, observe(3, qps=20.05), Memory(), 3, WITHIN,
                 # 20.05/20 = 1.0025
                 id="TestToleranceCMObject"),
    pytest.param((prom(value=8.666),), 2, 6, None, observe(4, qps=8.6), Memory(), 4, WITHIN,
                 # 8600/8666 = 0.992
                 id="TestToleranceCMExternal"),
    pytest.param((prom(average=2.2),), 2, 6, None, observe(4, qps=8.6), Memory(), 4, WITHIN,
                 # 8600 / (2200 * 4) = 0.977 (same facts as TolerancePerPodCMExternal)
                 id="TestTolerancePerPodCMObject+TestTolerancePerPodCMExternal"),
    pytest.param((prom(average=10),), 2, 6, None, observe(3, qps=40), Memory(), 4, WITHIN,
                 # ceil(40 / 10) = 4
                 id="TestScaleUpPerPodCMObject"),
    pytest.param((prom(value=6.666),), 2, 6, None, observe(3, qps=8.6), Memory(), 4, WITHIN,
                 # ceil(3 * 8600/6666) = ceil(3.87) = 4
                 id="TestScaleUpCMExternal"),
    pytest.param((prom(average=2.222),), 2, 6, None, observe(3, qps=8.6), Memory(), 4, WITHIN,
                 # ceil(8600 / 2222) = ceil(3.87) = 4
                 id="TestScaleUpPerPodCMExternal"),
    pytest.param((prom(value=14.4),), 2, 6, None, observe(5, qps=8.6), SEEN, 3, WITHIN,
                 # ceil(5 * 8600/14400) = ceil(2.99) = 3
                 id="TestScaleDownCMExternal"),
    pytest.param((prom(average=3),), 2, 6, None, observe(5, qps=8.6), SEEN, 3, WITHIN,
                 # ceil(8.6 / 3) = 3
                 id="TestScaleDownPerPodCMExternal"),
    pytest.param((queue(20),), 2, 6, None, observe(5, queue_depth=samples(12, 12, 12, 12, 12)), SEEN, 3, WITHIN,
                 # ceil(5 * 12/20) = 3
                 id="TestScaleDownCM"),
    pytest.param((prom(value=20),), 2, 6, None, observe(5, qps=12), SEEN, 3, WITHIN,
                 # ceil(5 * 12/20) = 3
                 id="TestScaleDownCMObject"),
]


@pytest.mark.parametrize(("metrics", "min_r", "max_r", "up", "obs", "memory", "expected", "reason"),
                         CONTROLLER_CASES)
def test_controller_case(metrics: tuple[MetricSpec, ...], min_r: int, max_r: int, up: ScalingRules | None,
                         obs: Observation, memory: Memory, expected: int, reason: str) -> None:
    decision = decide(spec(*metrics, min_replicas=min_r, max_replicas=max_r, up=up), obs, memory, NOW)
    assert decision.desired_replicas == expected
    assert decision.reason_code == reason


# Condition words, as HPA's controller tests pin them (type, status, reason).
CONDITION_CASES = [
    pytest.param((gpu_util(50),), _gpu(2, 50, 50), Memory(), ("AbleToScale", "True", "ReadyForNewScale"),
                 id="TestEventNotCreated"),
    pytest.param((gpu_util(50),), _gpu(5, *LEVELS), Memory(), ("AbleToScale", "True", "ScaleDownStabilized"),
                 id="TestScaleDownStabilizeInitialSize"),
    pytest.param((gpu_util(100),), _gpu(4, 400, 950, 300, 700), Memory(), ("ScalingLimited", "True", "TooManyReplicas"),
                 id="TestSuperfluousMetrics"),
    pytest.param((gpu_util(30),), _gpu(3, 30, 50, 70), Memory(), ("ScalingLimited", "False", "DesiredWithinRange"),
                 id="TestScaleUp"),
    pytest.param((prom(value=1),), _with_failed(_gpu(3)), SEEN, ("ScalingActive", "False", "FailedGetMetrics"),
                 # HPA says FailedGet<Kind>Metric; our metric kinds share one word
                 id="TestConditionFailedGetMetrics"),
    pytest.param((gpu_util(30),), _gpu(3, 30, 50, 70), Memory(), ("ScalingActive", "True", "ValidMetricFound"),
                 id="statusOk"),
]


@pytest.mark.parametrize(("metrics", "obs", "memory", "condition"), CONDITION_CASES)
def test_condition_case(metrics: tuple[MetricSpec, ...], obs: Observation, memory: Memory,
                        condition: tuple[str, str, str]) -> None:
    decision = decide(spec(*metrics, min_replicas=2, max_replicas=6), obs, memory, NOW)
    found = {c.type: (c.type, c.status, c.reason) for c in decision.conditions}
    assert found[condition[0]] == condition


# TestStoreScaleEvents: what the history holds after a change of 5, for each direction.
# (previous events as (change, age s), policies, change younger than 60 s before, kept changes)
STORE_CASES = [
    pytest.param((), [("Pods", 10, 60), ("Percent", 100, 60)], 0, [5],
                 id="empty entries with two-policy-behavior"),
    pytest.param(((7, 61),), [("Pods", 10, 60), ("Percent", 100, 60)], 0, [5],
                 # 61 s is past the longest period (60 s): dropped
                 id="one outdated entry to be replaced with behavior"),
    pytest.param(((7, 58),), [("Pods", 10, 60), ("Percent", 100, 60)], 7, [5, 7],
                 id="one actual entry to be not touched with behavior"),
    pytest.param(((7, 61), (6, 59)), [("Pods", 10, 60)], 6, [5, 6],
                 id="two entries, one of them to be replaced"),
    pytest.param(((8, 29), (6, 59), (7, 61), (9, 61)), [("Pods", 10, 60), ("Percent", 100, 30)], 14, [5, 6, 8],
                 # the longest period is 60 s: 7 and 9 go (upstream keeps 7 marked outdated)
                 id="replace one entry, use policies with different periods"),
    pytest.param(((7, 58), (6, 59)), [("Pods", 10, 120), ("Percent", 100, 30)], 13, [5, 6, 7],
                 id="two entries, both actual"),
]


@pytest.mark.parametrize("direction", ["up", "down"])
@pytest.mark.parametrize(("previous", "policies", "before", "kept"), STORE_CASES)
def test_store_scale_events(direction: str, previous: tuple[tuple[int, float], ...],
                            policies: list[tuple[str, int, int]], before: int, kept: list[int]) -> None:
    history = tuple(ScaleEvent(NOW - age, direction, change) for change, age in previous)
    # the change in that direction inside the last 60 s, read back from the period's start
    start = period_start(10, history, 60, NOW)
    assert abs(10 - start) == before
    these, other = rules(policies), rules([])
    up, down = (these, other) if direction == "up" else (other, these)
    stored = record_scale_event(history, 10, 15 if direction == "up" else 5, up, down, NOW)
    assert sorted(e.replicas for e in stored) == kept
    assert all(e.direction == direction for e in stored)


# Rules that no upstream test pins (../shared/reference/hpa-algorithm.md §4, last list).
UNPINNED_CASES = [
    pytest.param(asking(11, 10), rules([("Pods", 100, 15)], tolerance=0.1), rules([("Percent", 100, 15)]),
                 SEEN, 10, WITHIN,
                 # 11/10 = 1.1 sits on the band's edge: inclusive → no change
                 id="tolerance band is inclusive (upper edge)"),
    pytest.param(asking(9, 10), rules([("Pods", 100, 15)]), rules([("Percent", 100, 15)], tolerance=0.1),
                 SEEN, 10, WITHIN,
                 # 9/10 = 0.9: inclusive lower edge → no change
                 id="tolerance band is inclusive (lower edge)"),
    pytest.param(asking(1, 9), rules([("Pods", 100, 15)], tolerance=0), rules([("Percent", 50, 15)], tolerance=0),
                 SEEN, 4, "ScaleDownLimit",
                 # the floor is trunc(9 * 0.5) = trunc(4.5) = 4 (rounding up would hold at 5)
                 id="percent scale-down policy truncates"),
    pytest.param(asking(100, 10), rules([("Pods", 4, 60)], tolerance=0), rules([("Percent", 100, 15)]),
                 replace(SEEN, scale_events=(ScaleEvent(NOW - 60, "up", 4),)), 14, "ScaleUpLimit",
                 # the +4 exactly 60 s old is outside the period: 10 + 4 = 14
                 id="an event exactly periodSeconds old does not count"),
    pytest.param(asking(100, 10), rules([("Pods", 4, 60)], tolerance=0), rules([("Percent", 100, 15)]),
                 replace(SEEN, scale_events=(ScaleEvent(NOW - 59, "up", 4),)), 10, "ScaleUpLimit",
                 # 59 s old counts: start 6, 6 + 4 = 10 → no scale-up
                 id="an event younger than periodSeconds counts"),
    pytest.param(asking(3, 10), rules([("Pods", 100, 15)], tolerance=0),
                 rules([("Percent", 100, 15)], window=300, tolerance=0),
                 Memory(recommendations=(Recommendation(NOW - 300, 10),)), 3, WITHIN,
                 # a recommendation exactly 300 s old is outside a 300 s window
                 id="stabilization window compares strictly"),
]


@pytest.mark.parametrize(("asked", "up", "down", "memory", "expected", "reason"), UNPINNED_CASES)
def test_unpinned_rule(asked: tuple[MetricSpec, Observation], up: ScalingRules, down: ScalingRules,
                       memory: Memory, expected: int, reason: str) -> None:
    metric, obs = asked
    decision = decide(spec(metric, up=up, down=down), obs, memory, NOW)
    assert decision.desired_replicas == expected
    assert decision.reason_code == reason
