"""Kubernetes' replica-calculator cases, restated as facts about our core.

Source: kubernetes/kubernetes ``pkg/controller/podautoscaler/replica_calculator_test.go``
(each row's id names the upstream test). Every row goes through ``decide`` with both
directions wide open (no stabilization, no effective rate limit), so the desired count
is the per-metric proposal of ../shared/reference/hpa-algorithm.md §1.

How the Go cases map onto our model:

* CPU ``Utilization`` → ``GPUUtilization`` with ``averageUtilization``. Our per-pod
  "request" is 100 %, so a Go level of 300m on a 1.0-CPU request is a 30 % sample. Only
  cases with equal requests (or an exact per-pod conversion) are ported.
* ``Pods`` metrics → ``QueueDepth`` with ``averageValue`` (Go milli-units / 1000).
* ``Object`` / ``External`` with a ``Value`` target → a Prometheus metric with ``value``;
  ``External``/``Object`` with ``AverageValue`` → a Prometheus metric with ``averageValue``.
* HPA's unready pods (Ready=False) → our *loading* pods (not Ready, started RECENT s
  ago), which are set aside and counted at 0 on a scale-up exactly as HPA does for CPU.
* Deliberate differences, marked ``# ours:`` on the row: HPA applies readiness only to
  CPU, we apply it to every metric (a replica still loading its model reports nothing
  useful), and a *Ready* pod counts for us even inside HPA's CPU initialization period
  (HPA's "hot CPU" pods), since Ready is what says the model has loaded.
"""
from __future__ import annotations

import math

import pytest

from autoscaler.core import Observation, decide
from autoscaler.core.rate import MAX_INT32
from autoscaler.spec import MetricSpec
from tests.core.builders import (
    NOW,
    OPEN,
    SEEN,
    gpu_util,
    observe,
    pods,
    prom,
    queue,
    rules,
    samples,
    spec,
)

WITHIN = "DesiredWithinRange"
FAILED = "FailedGetMetrics"

# (metric, observation, expected replicas, expected reason code, expected usage or None)
CASES = [
    # --- scale up -----------------------------------------------------------------
    pytest.param(gpu_util(30), observe(3, gpu=samples(30, 50, 70)), 5, WITHIN, 50,
                 # usage (30+50+70)/3 = 50 %; ceil(3 * 50/30) = 5
                 id="ScaleUp"),
    pytest.param(gpu_util(30), observe(3, pods(3, loading=[0]), gpu=samples(30, 50, 70)), 4, "Loading", 60,
                 # ready (50+70)/2 = 60 → ratio 2; p0 counted at 0: (0+50+70)/3 = 40 %;
                 # ceil(3 * 40/30) = 4 (ceil(2 * 2) + 1 loading = 5 without it)
                 id="ScaleUpUnreadyLessScale"),
    pytest.param(gpu_util(30), observe(3, gpu=samples(30, 50, 70)), 5, WITHIN, 50,
                 # ours: p0 is Ready, so it counts although it started recently (HPA sets
                 # it aside as "hot CPU" and gets 4); = the ScaleUp row: ceil(3 * 50/30) = 5
                 id="ScaleUpHotCpuLessScale"),
    pytest.param(gpu_util(30), observe(3, pods(3, loading=[1, 2]), gpu=samples(40, 50, 70)), 3, "Loading", 40,
                 # ready p0 40 → ratio 1.33; p1, p2 at 0: 40/3 = 13 % → ratio 0.44, the
                 # direction flips → keep 3, held by the loading pods (blind: ceil(1.33) + 2 = 4;
                 # same facts as ScaleHotCpuNoScale)
                 id="ScaleUpUnreadyNoScale+ScaleHotCpuNoScale"),
    pytest.param(gpu_util(30), observe(2, pods(4, failed=[2, 3]), gpu=samples(50, 70)), 4, WITHIN, 60,
                 # failed pods ignored: (50+70)/2 = 60 → ceil(2 ready * 60/30) = 4
                 id="ScaleUpIgnoresFailedPods"),
    pytest.param(gpu_util(30), observe(2, pods(4, deleting=[2, 3]), gpu=samples(50, 70)), 4, WITHIN, 60,
                 # pods being deleted ignored: ceil(2 * 60/30) = 4
                 id="ScaleUpIgnoresDeletionPods"),
    pytest.param(queue(15), observe(3, queue_depth=samples(20, 10, 30)), 4, WITHIN, 20,
                 # (20+10+30)/3 = 20 → ceil(3 * 20/15) = 4
                 id="ScaleUpCM"),
    pytest.param(queue(15), observe(3, pods(3, loading=[2]), queue_depth=samples(50, 10, 30)), 4, "Loading", 30,
                 # ours: readiness applies to every metric. Ready (50+10)/2 = 30 → ratio 2;
                 # p2 at 0: 60/3 = 20 → ceil(3 * 20/15) = 4 (HPA counts p2's 30: ceil(3 * 2) = 6)
                 id="ScaleUpCMUnreadyHotCpuNoLessScale"),
    pytest.param(queue(15), observe(3, pods(3, loading=[0, 2]), queue_depth=samples(50, 15, 30)), 3, WITHIN, 15,
                 # ours: only p1 is ready: 15/15 = 1.0, inside the band → 3
                 # (HPA counts all three: 95/3 = 31.666 → ceil(3 * 2.11) = 7)
                 id="ScaleUpCMUnreadyHotCpuScaleWouldScaleDown"),
    pytest.param(prom(value=15), observe(3, qps=20), 4, WITHIN, 20,
                 # ceil(3 ready * 20/15) = 4
                 id="ScaleUpCMObject"),
    pytest.param(prom(average=5), observe(3, qps=20), 4, WITHIN, 20,
                 # 20 / (5 * 3) = 1.33 outside the band → ceil(20 / 5) = 4
                 id="ScaleUpCMPerPodObject"),
    pytest.param(prom(value=10), observe(3, pods(3, loading=[0, 2]), qps=50), 5, WITHIN, 50,
                 # only Running and Ready pods multiply: ceil(1 * 50/10) = 5 (15 with all three)
                 id="ScaleUpCMObjectIgnoresUnreadyPods"),
    pytest.param(queue(4.4), observe(1, queue_depth=samples(8.6)), 2, WITHIN, 8.6,
                 # a Pods metric upstream: ceil(1 * 8600/4400) = ceil(1.95) = 2
                 id="ScaleUpCMExternal"),
    pytest.param(prom(value=4.4), observe(3, pods(3, loading=[0, 2]), qps=8.6), 2, WITHIN, 8.6,
                 # ceil(1 ready * 8.6/4.4) = 2, below the current 3 (6 with all pods)
                 id="ScaleUpCMExternalIgnoresUnreadyPods"),
    pytest.param(prom(average=2.15), observe(3, qps=8.6), 4, WITHIN, 8.6,
                 # 8.6 / (2.15 * 3) = 1.33 → ceil(8.6 / 2.15) = 4
                 id="ScaleUpPerPodCMExternal"),
    # --- scale down ---------------------------------------------------------------
    pytest.param(gpu_util(50), observe(5, gpu=samples(10, 30, 50, 25, 25)), 3, WITHIN, 28,
                 # 140/5 = 28 % → ceil(5 * 28/50) = ceil(2.8) = 3
                 id="ScaleDown"),
    pytest.param(queue(20), observe(5, queue_depth=samples(12, 12, 12, 12, 12)), 3, WITHIN, 12,
                 # ceil(5 * 12/20) = 3
                 id="ScaleDownCM"),
    pytest.param(prom(average=2), observe(5, qps=6), 3, WITHIN, 6,
                 # 6 / (2 * 5) = 0.6 → ceil(6 / 2) = 3
                 id="ScaleDownPerPodCMObject"),
    pytest.param(prom(value=20), observe(5, qps=12), 3, WITHIN, 12,
                 # ceil(5 * 12/20) = 3
                 id="ScaleDownCMObject"),
    pytest.param(prom(value=14.334), observe(5, qps=8.6), 3, WITHIN, 8.6,
                 # ceil(5 * 8600/14334) = ceil(2.9998) = 3
                 id="ScaleDownCMExternal"),
    pytest.param(prom(average=2.867), observe(5, qps=8.6), 3, WITHIN, 8.6,
                 # 8600 / (2867 * 5) = 0.6 → ceil(8600 / 2867) = ceil(2.9996) = 3
                 id="ScaleDownPerPodCMExternal"),
    pytest.param(gpu_util(50), observe(5, pods(5, loading=[3, 4]), gpu=samples(10, 30, 50, 25, 25)), 2, WITHIN, 30,
                 # loading pods excluded on a scale-down: 90/3 = 30 → ceil(3 * 30/50) = ceil(1.8) = 2
                 id="ScaleDownIncludeUnreadyPods"),
    pytest.param(gpu_util(50), observe(5, pods(5, pending=[1, 2, 3, 4]), gpu=samples(10)), 1, WITHIN, 10,
                 # pending pods are unready: ceil(1 * 10/50) = 1
                 id="ScaleDownExcludeUnscheduledPods"),
    pytest.param(gpu_util(50), observe(5, gpu=samples(10, 30, 50, 25, 25)), 3, WITHIN, 28,
                 # ours: p3, p4 are Ready, so they count (HPA sets hot-CPU pods aside: 2);
                 # = the ScaleDown row: ceil(5 * 28/50) = 3
                 id="ScaleDownIgnoreHotCpuPods"),
    pytest.param(gpu_util(50), observe(5, pods(7, failed=[5, 6]), gpu=samples(10, 30, 50, 25, 25)), 3, WITHIN, 28,
                 # ceil(5 * 28/50) = 3
                 id="ScaleDownIgnoresFailedPods"),
    pytest.param(gpu_util(50), observe(5, pods(7, deleting=[5, 6]), gpu=samples(10, 30, 50, 25, 25)), 3, WITHIN, 28,
                 # ceil(5 * 28/50) = 3
                 id="ScaleDownIgnoresDeletionPods"),
    # --- tolerance ----------------------------------------------------------------
    pytest.param(queue(20), observe(3, queue_depth=samples(20, 21, 21)), 3, WITHIN, 20.666,
                 # trunc(62000/3) = 20666 milli → 1.0333, inside 1 ± 0.1
                 id="ToleranceCM"),
    pytest.param(prom(value=20), observe(3, qps=20.666), 3, WITHIN, 20.666,
                 # 20.666/20 = 1.0333, inside the band
                 id="ToleranceCMObject"),
    pytest.param(prom(average=5), observe(4, qps=20.166), 4, WITHIN, 20.166,
                 # 20166 / (5000 * 4) = 1.0083, inside the band
                 id="TolerancePerPodCMObject"),
    pytest.param(prom(value=8.888), observe(3, qps=8.6), 3, WITHIN, 8.6,
                 # 8600/8888 = 0.968, inside the band
                 id="ToleranceCMExternal"),
    pytest.param(prom(average=2.9), observe(3, qps=8.6), 3, WITHIN, 8.6,
                 # 8600 / (2900 * 3) = 0.989, inside the band
                 id="TolerancePerPodCMExternal"),
    # --- superfluous and missing samples ------------------------------------------
    pytest.param(gpu_util(100), observe(4, gpu=samples(400, 950, 300, 700, 320, 200)), 24, WITHIN, 587,
                 # samples of p4, p5 (not in the pod list) are left out of the utilization:
                 # trunc((400+950+300+700)/4) = trunc(587.5) = 587 % → ceil(4 * 5.87) = 24.
                 # (Percents above 100 are not physical for a GPU; the arithmetic is HPA's.)
                 id="SuperfluousMetrics"),
    pytest.param(gpu_util(100), observe(4, gpu=samples(40, 9.5)), 3, WITHIN, 24,
                 # trunc(49.5/2) = 24 % → ratio 0.24; p2, p3 missing, filled at 100 %:
                 # trunc(249.5/4) = 62 % → ceil(4 * 0.62) = ceil(2.48) = 3
                 id="MissingMetrics"),
    pytest.param(gpu_util(100), observe(4, gpu={}), 4, FAILED, None,
                 # no samples at all: the metric is unavailable → hold at 4
                 id="EmptyMetrics"),
    pytest.param(gpu_util(100), observe(1, gpu={"an-older-pod-name": 10}), 1, FAILED, None,
                 # the only sample belongs to no known pod → unavailable → hold
                 id="DisjointResourcesMetrics"),
    pytest.param(gpu_util(100), observe(2, gpu=samples(100)), 2, WITHIN, 100,
                 # ratio exactly 1: nothing is filled in for the missing p1 → 2
                 id="MissingMetricsNoChangeEq"),
    pytest.param(gpu_util(100), observe(2, gpu=samples(190)), 2, WITHIN, 190,
                 # ratio 1.9; p1 filled at 0: 190/2 = 95 % → 0.95, inside the band → 2
                 id="MissingMetricsNoChangeGt"),
    pytest.param(gpu_util(100), observe(2, gpu=samples(60)), 2, WITHIN, 60,
                 # ratio 0.6; p1 filled at 100 %: 160/2 = 80 % → ceil(2 * 0.8) = 2
                 id="MissingMetricsNoChangeLt"),
    pytest.param(gpu_util(50), observe(3, pods(3, loading=[0]), gpu=samples(10, 45)), 3, WITHIN, 45,
                 # ready p1 45 → 0.9; missing p2 filled at 100 %: 145/2 = 72 % → 1.45,
                 # the direction flips → keep 3
                 id="MissingMetricsUnreadyChange"),
    pytest.param(gpu_util(50), observe(3, gpu=samples(10, 45)), 3, WITHIN, 27,
                 # ours: p0 is Ready and counts: trunc(55/2) = 27 % → 0.54; p2 filled at
                 # 100 %: trunc(155/3) = 51 % → 1.02, the direction flips → 3 (HPA: 3 too)
                 id="MissingMetricsHotCpuNoChange"),
    pytest.param(gpu_util(50), observe(3, pods(3, loading=[0]), gpu=samples(10, 200)), 4, "Loading", 200,
                 # ready p1 200 → ratio 4; missing p2 and loading p0 at 0: trunc(200/3) = 66 %
                 # → ceil(3 * 66/50) = ceil(3.96) = 4 (same facts as ...HotCpuScaleUp)
                 id="MissingMetricsUnreadyScaleUp+MissingMetricsHotCpuScaleUp"),
    pytest.param(gpu_util(50), observe(4, pods(4, loading=[0]), gpu=samples(10, 10, 10)), 3, WITHIN, 10,
                 # ready p1, p2 10 → 0.2; loading p0 excluded; missing p3 at 100 %:
                 # 120/3 = 40 % → ceil(3 * 0.8) = ceil(2.4) = 3
                 id="MissingMetricsUnreadyScaleDown"),
    pytest.param(gpu_util(50), observe(2, pods(3), gpu=samples(10, 10)), 2, WITHIN, 10,
                 # surge pod p2 has no sample yet: 0.2 → p2 at 100 %: 120/3 = 40 % →
                 # ceil(3 * 0.8) = 3 > 2 while the ratio is below 1 → keep 2
                 id="DuringRollingUpdateWithMaxSurge"),
    pytest.param(queue(17), observe(2, pods(3), queue_depth=samples(10, 10)), 2, WITHIN, 10,
                 # 10/17 = 0.59 → p2 at the target: trunc(37000/3) = 12333 → 0.725 →
                 # ceil(3 * 0.725) = 3 > 2 while below 1 → keep 2
                 id="DuringRollingUpdateWithMaxSurgeCM"),
    pytest.param(queue(20), observe(5, queue_depth=samples(20, 19, 21)), 5, WITHIN, 20,
                 # ratio exactly 1 with p3, p4 missing: nothing filled in → 5
                 id="PlainMetricReplicaCalcMissingMetricsNoChangeEq"),
]


@pytest.mark.parametrize(("metric", "obs", "expected", "reason", "usage"), CASES)
def test_replica_calculator_case(metric: MetricSpec, obs: Observation, expected: int, reason: str,
                                 usage: float | None) -> None:
    decision = decide(spec(metric, behavior=OPEN), obs, SEEN, NOW)
    assert decision.desired_replicas == expected
    assert decision.reason_code == reason
    if usage is not None:
        assert decision.proposals[0].usage == pytest.approx(usage)


# Upstream's per-HPA tolerances (KEP-4951): Tolerances{scaleDown, scaleUp}.
TOLERANCE_CASES = [
    pytest.param(gpu_util(100), observe(3, gpu=samples(101, 101, 101)), 0.0, 0.0, 4,
                 # 909/0.9, 1010/1.0, 1111/1.1 are each exactly 101 %: 1.01 with no band →
                 # ceil(3 * 1.01) = 4
                 id="ConfigurableTolerance/Outside of a 0% tolerance"),
    pytest.param(queue(20), observe(3, queue_depth=samples(20, 21, 21)), 0.1, 0.01, 4,
                 # 20.666/20 = 1.033 > 1.01 → ceil(3 * 1.033) = 4
                 id="ConfigurableToleranceCM"),
    pytest.param(prom(value=20), observe(3, qps=20.666), 0.1, 0.01, 4,
                 # ceil(3 * 1.033) = 4
                 id="ConfigurableToleranceCMObject"),
    pytest.param(prom(average=5), observe(4, qps=20.208), 0.1, 0.01, 5,
                 # 20208 / (5000 * 4) = 1.0104 > 1.01 → ceil(20.208 / 5) = 5
                 id="ConfigurableTolerancePerPodCMObject"),
    pytest.param(prom(value=8.8), observe(3, qps=8.9), 0.1, 0.01, 4,
                 # 8900/8800 = 1.0114 → ceil(3 * 1.0114) = 4
                 id="ConfigurableToleranceCMExternal"),
    pytest.param(prom(average=2.8), observe(3, qps=8.6), 0.1, 0.01, 4,
                 # 8600 / (2800 * 3) = 1.024 → ceil(8.6 / 2.8) = 4
                 id="ConfigurableTolerancePerPodCMExternal"),
]


@pytest.mark.parametrize(("metric", "obs", "down_tol", "up_tol", "expected"), TOLERANCE_CASES)
def test_configurable_tolerance_case(metric: MetricSpec, obs: Observation, down_tol: float, up_tol: float,
                                     expected: int) -> None:
    up = rules([("Pods", 100_000, 15)], tolerance=up_tol)
    down = rules([("Percent", 100, 15)], tolerance=down_tol)
    decision = decide(spec(metric, up=up, down=down), obs, SEEN, NOW)
    assert decision.desired_replicas == expected
    assert decision.reason_code == WITHIN


# Facts about the proposal itself, read from the decision's proposals. From zero: our
# GPUScaler validation keeps minReplicas >= 1 (so a validated scaler at 0 replicas is
# ScalingDisabled), but the core follows HPA when handed minReplicas 0.
BIG = (2**63 - 1) / 1000  # MaxInt64 milli-units
PROPOSAL_CASES = [
    pytest.param(prom(value=15), observe(0, (), qps=20), 0, 2, 2, WITHIN,
                 # from zero: ceil(20/15) = 2, no pod count (horizontal_test.go)
                 id="TestScaleUpFromZeroCMObject"),
    pytest.param(prom(value=1), observe(0, (), qps=1), 0, 1, 1, WITHIN,
                 # from zero the band is ignored: ceil(1/1) = 1 (horizontal_test.go)
                 id="TestScaleUpFromZeroIgnoresToleranceCMObject"),
    pytest.param(prom(value=0.001), observe(3, qps=BIG), 1, MAX_INT32, 1000, "TooManyReplicas",
                 # ceil(3 * 9.2e18) is capped at MaxInt32, then at maxReplicas
                 id="ReplicaCalcScaleUpOverflow"),
    pytest.param(prom(average=0.001), observe(1, qps=BIG), 1, MAX_INT32, 1000, "TooManyReplicas",
                 # ceil(9.2e18 / 1) is capped at MaxInt32, then at maxReplicas
                 id="ExternalPerPodMetricReplicaOverflow"),
    pytest.param(prom(average=BIG), observe(1, qps=BIG), 1, 1, 1, WITHIN,
                 # usage / (target * 1) = 1.0, inside the band → status replicas 1
                 id="ExternalPerPodMetricUsageOverflow"),
]


@pytest.mark.parametrize(("metric", "obs", "min_replicas", "proposal", "expected", "reason"), PROPOSAL_CASES)
def test_proposal_case(metric: MetricSpec, obs: Observation, min_replicas: int, proposal: int, expected: int,
                       reason: str) -> None:
    decision = decide(spec(metric, min_replicas=min_replicas, behavior=OPEN), obs, SEEN, NOW)
    assert decision.proposals[0].replicas == proposal
    assert (decision.desired_replicas, decision.reason_code) == (expected, reason)
    assert not math.isnan(decision.proposals[0].ratio or 0.0)
