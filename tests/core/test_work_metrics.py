"""The work and SLO metric types in the core: counter rates, target-wide means, the
latency guard, and how a guard meets ``max`` over metrics and the partial-data hold.

Tables of facts; derived numbers carry their arithmetic. Times relative to NOW.
"""
from __future__ import annotations

import math

import pytest

from autoscaler.core import Observation, PodState, decide
from autoscaler.core.observe import Reading, Sample, counter_rates, mean_of_rates, observe, observe_mean
from autoscaler.core.proposal import MAX_GUARD_RATIO, Tolerance, classify_pods, propose
from autoscaler.core.types import MetricObservation
from autoscaler.spec import MetricSpec, MetricTarget
from tests.core.builders import NOW, OPEN, SEEN, pods, queue, spec
from tests.core.builders import observe as observation


def latency(target: float, signal: str = "ttft") -> MetricSpec:
    return MetricSpec(type="Latency", signal=signal, target=MetricTarget(value=target))


def tokens(per_replica: float) -> MetricSpec:
    return MetricSpec(type="TokenThroughput", signal="prompt", target=MetricTarget(average_value=per_replica))


def kv_cache(percent: float) -> MetricSpec:
    return MetricSpec(type="KVCacheUsage", target=MetricTarget(average_utilization=percent))


# -- counter rates --------------------------------------------------------------------------

@pytest.mark.parametrize("previous, current, rates", [
    # (1,222,500 - 1,200,000) / 15 s = 1,500 tokens/s
    pytest.param({"a": (1_200_000, 100)}, {"a": (1_222_500, 115)}, {"a": 1500}, id="increase-over-time"),
    pytest.param({}, {"a": (5, 115)}, {}, id="new-pod-is-missing-not-zero"),
    pytest.param({"a": (7, 100)}, {"a": (7, 115)}, {"a": 0}, id="idle-pod-is-zero"),
    # 100 -> 30: a restarted server began again at 0, so the increase is 30: 30 / 15 = 2/s
    pytest.param({"a": (100, 100)}, {"a": (30, 115)}, {"a": 2}, id="reset-reads-like-prometheus"),
    pytest.param({"a": (5, 115)}, {"a": (9, 115)}, {}, id="no-time-between-is-missing"),
    pytest.param({"a": (math.nan, 100)}, {"a": (9, 115)}, {}, id="nan-total-is-missing"),
    pytest.param({"a": (1, 100), "gone": (4, 100)}, {"a": (4, 103)}, {"a": 1}, id="a-pod-gone-is-not-read"),
])
def test_counter_rates(previous: dict[str, tuple[float, float]], current: dict[str, tuple[float, float]],
                       rates: dict[str, float]) -> None:
    got = counter_rates(previous, current)
    assert {p: s.value for p, s in got.items()} == rates
    assert all(s.timestamp == current[p][1] for p, s in got.items())


@pytest.mark.parametrize("numerator, denominator, mean", [
    # (5 + 60) / (10 + 30) = 1.625 s; the mean of the pods' means (0.5, 2) would be 1.25
    pytest.param({"a": 5, "b": 60}, {"a": 10, "b": 30}, 1.625, id="weighted-by-requests"),
    pytest.param({"a": 0, "b": 0}, {"a": 0, "b": 0}, 0.0, id="no-first-token-reads-zero"),
    pytest.param({"a": 5, "b": 60}, {"a": 10}, 0.5, id="only-pods-with-both"),
    pytest.param({"a": 5}, {"b": 10}, None, id="no-pod-with-both-is-missing"),
])
def test_mean_of_rates(numerator: dict[str, float], denominator: dict[str, float], mean: float | None) -> None:
    assert mean_of_rates(numerator, denominator) == mean


@pytest.mark.parametrize("sums, counts, value, error", [
    pytest.param({"a": (5, NOW), "b": (60, NOW)}, {"a": (10, NOW), "b": (30, NOW)}, 1.625, None, id="fresh"),
    # b's sum is 40 s old (> 2 x 15): b drops out of both sums: 5 / 10 = 0.5
    pytest.param({"a": (5, NOW), "b": (60, NOW - 40)}, {"a": (10, NOW), "b": (30, NOW)}, 0.5, None,
                 id="a-stale-pod-drops-out-of-both"),
    pytest.param({"a": (5, NOW - 40)}, {"a": (10, NOW)}, None,
                 "no usable ttft_seconds sum samples for the 2 pods (1 at least 30 s old, 1 without samples)",
                 id="all-sums-stale-is-missing"),
    pytest.param({}, {}, None, "no usable ttft_seconds sum samples for the 2 pods (2 without samples)",
                 id="no-series-is-missing-not-zero"),
    pytest.param({"a": (0, NOW)}, {"a": (0, NOW)}, 0.0, None, id="idle-reads-zero"),
])
def test_observe_mean(sums: dict[str, tuple[float, float]], counts: dict[str, tuple[float, float]],
                      value: float | None, error: str | None) -> None:
    got = observe_mean(Reading(per_pod=sums, counts=counts), ["a", "b"], 30, NOW, "ttft_seconds")
    assert (got.value, got.error) == (value, error)


def test_the_observe_step_takes_a_latency_as_a_mean_or_as_a_recorded_value() -> None:
    s = spec(latency(1.0), queue(4))
    live = Reading(per_pod={"p0": (5, NOW), "p1": (60, NOW)}, counts={"p0": (10, NOW), "p1": (30, NOW)})
    recorded = Reading(value=Sample(1.625, NOW - 5))
    for reading in (live, recorded):
        obs = observe(s, {"ttft_seconds": reading}, current_replicas=2, pods=pods(2), now=NOW)
        assert obs.metrics["ttft_seconds"].value == 1.625


# -- the guard's proposal ---------------------------------------------------------------------

TOL = Tolerance(0.1, 0.1)


@pytest.mark.parametrize("current, pod_list, ttft, target, replicas, reason", [
    pytest.param(4, pods(4), 0.4, 1.0, 1, "at or below target (ratio 0.400): the guard asks only minReplicas (1)",
                 id="below-target-asks-min"),
    pytest.param(4, pods(4), 1.0, 1.0, 1, "at or below target (ratio 1.000): the guard asks only minReplicas (1)",
                 id="at-target-asks-min"),
    pytest.param(4, pods(4), 1.08, 1.0, 4, "above target within tolerance (ratio 1.080): keep current",
                 id="inside-the-band-holds"),
    # ceil(4 x 1.5) = 6
    pytest.param(4, pods(4), 1.5, 1.0, 6, "ceil(min(1.500, 2) x 4 ready) = 6", id="above-scales-by-ratio"),
    # ratio 8 capped at 2: ceil(4 x 2) = 8
    pytest.param(4, pods(4), 8.0, 1.0, 8, "ceil(min(8.000, 2) x 4 ready) = 8", id="ratio-capped-at-2"),
    # 2 ready, 2 loading: ceil(2 x 1.5) = 3 <= 4: the loading ones are capacity on its way
    pytest.param(4, pods(4, loading=[2, 3]), 1.5, 1.0, 4,
                 "ceil(1.500 x 2 ready) = 3; with 2 replicas still loading, current covers it: keep current",
                 id="loading-replicas-count"),
    # 4 ready, 2 loading (another metric's step) at ratio 2: ceil(4 x 2) = 8 > 6: the guard
    # does not wait for the two, it asks for the 2 still missing
    pytest.param(6, pods(6, loading=[4, 5]), 2.5, 1.0, 8, "ceil(min(2.500, 2) x 4 ready) = 8",
                 id="asks-what-loading-does-not-cover"),
    # the next poll, its own step loading: 4 ready still, ceil(4 x 2) = 8 = current: hold
    # (one doubling of the ready capacity per load time, not 8 -> 16 -> 32)
    pytest.param(8, pods(8, loading=[4, 5, 6, 7]), 3.0, 1.0, 8,
                 "ceil(2.000 x 4 ready) = 8; with 4 replicas still loading, current covers it: keep current",
                 id="one-doubling-per-load-time"),
    # 1 ready, 3 stuck: ceil(1 x 1.5) = 2 < 4: broken SLO never scales down
    pytest.param(4, pods(4, stuck=[1, 2, 3]), 1.5, 1.0, 4,
                 "ceil(1.500 x 1 ready) = 2; never below current while above target: keep current",
                 id="never-below-current-when-broken"),
    pytest.param(2, pods(2, loading=[0, 1]), 3.0, 1.0, 2, "above target with no ready replica: keep current",
                 id="all-loading-holds"),
])
def test_guard_proposal(current: int, pod_list: tuple[PodState, ...], ttft: float, target: float, replicas: int,
                        reason: str) -> None:
    obs = Observation(current_replicas=current, pods=pod_list,
                      metrics={"ttft_seconds": MetricObservation(value=ttft)})
    p = propose(latency(target), obs, TOL, classify_pods(pod_list, 120, NOW), min_replicas=1)
    assert (p.replicas, p.reason, p.error) == (replicas, reason, None)
    assert MAX_GUARD_RATIO == 2.0


def test_a_guard_without_data_is_invalid() -> None:
    obs = Observation(current_replicas=4, pods=pods(4), metrics={"ttft_seconds": MetricObservation.failed("stale")})
    p = propose(latency(1.0), obs, TOL, classify_pods(pods(4), 120, NOW))
    assert (p.replicas, p.error) == (None, "stale")


# -- a guard among other metrics: max over metrics and the partial-data hold -------------------

@pytest.mark.parametrize("queue_depth, ttft, desired, code", [
    # queue: ceil(avg 3 / 4 x 4) = 3; guard below target asks min 1: max(3, 1) = 3, a scale-down
    pytest.param([3, 3, 3, 3], 0.5, 3, "DesiredWithinRange", id="guard-ok-does-not-hold-replicas-up"),
    # queue asks 3; guard 1.5 s / 1 s: ceil(4 x 1.5) = 6: max(3, 6) = 6
    pytest.param([3, 3, 3, 3], 1.5, 6, "DesiredWithinRange", id="guard-broken-wins"),
    # queue: ceil(12 / 4 x 4) = 12; guard 1.5 asks 6: max = 12
    pytest.param([12, 12, 12, 12], 1.5, 12, "DesiredWithinRange", id="queue-wins-over-broken-guard"),
    # queue unavailable, guard OK asks 1 < 4: partial data never scales down: hold
    pytest.param(None, 0.5, 4, "FailedGetMetrics", id="queue-missing-guard-ok-holds"),
    # queue unavailable, guard broken asks 6 > 4: a scale-up on partial data, as HPA allows
    pytest.param(None, 1.5, 6, "DesiredWithinRange", id="queue-missing-guard-broken-scales-up"),
    # guard unavailable, queue asks 3 < 4: hold
    pytest.param([3, 3, 3, 3], None, 4, "FailedGetMetrics", id="guard-missing-holds"),
    # guard unavailable, queue asks ceil(12 / 4 x 4) = 12 > 4: scale up
    pytest.param([12, 12, 12, 12], None, 12, "DesiredWithinRange", id="guard-missing-queue-scales-up"),
])
def test_a_guard_among_metrics(queue_depth: list[float] | None, ttft: float | None, desired: int,
                               code: str) -> None:
    s = spec(queue(4), latency(1.0), behavior=OPEN)
    metrics = {
        "queue_depth": MetricObservation.failed("down") if queue_depth is None
        else MetricObservation(per_pod={f"p{i}": v for i, v in enumerate(queue_depth)}),
        "ttft_seconds": MetricObservation.failed("stale") if ttft is None else MetricObservation(value=ttft),
    }
    d = decide(s, Observation(current_replicas=4, pods=pods(4), metrics=metrics), SEEN, NOW)
    assert (d.desired_replicas, d.reason_code) == (desired, code), d.reason


def test_a_guard_that_holds_never_counts_as_a_failure() -> None:
    """Queue missing and the SLO holding: a hold, but a partial poll: no failure counted,
    so the fallback does not fire."""
    s = spec(queue(4), latency(1.0), behavior=OPEN)
    obs = observation(4, metrics={"queue_depth": MetricObservation.failed("down"),
                                  "ttft_seconds": MetricObservation(value=0.2)})
    d = decide(s, obs, SEEN, NOW)
    assert d.memory.consecutive_failures == 0 and d.desired_replicas == 4


def test_a_guard_alone_goes_to_min_when_the_slo_holds() -> None:
    # with HPA's default behavior the scale-down waits out its 300 s window; OPEN has none
    d = decide(spec(latency(2.0), min_replicas=2, behavior=OPEN),
               observation(6, metrics={"ttft_seconds": MetricObservation(value=0.3)}), SEEN, NOW)
    assert (d.desired_replicas, d.proposals[0].replicas) == (2, 2)


# -- the per-pod work types take HPA's per-pod rules ---------------------------------------------

@pytest.mark.parametrize("metric, key, per_pod, desired", [
    # (30,000 + 18,000) / 2 = 24,000 tokens/s a pod; ceil(24,000 / 12,000 x 2) = 4
    pytest.param(tokens(12_000), "prompt_tokens_rate", [30_000, 18_000], 4, id="tokens-average-value"),
    # a saturated replica reads its capacity, 20,000: ceil(20,000 / 10,000 x 2) = 4 (doubles)
    pytest.param(tokens(10_000), "prompt_tokens_rate", [20_000, 20_000], 4, id="tokens-saturated-half-capacity"),
    # target at capacity: ratio 20,000 / 20,000 = 1: inside the band, blind to the overload
    pytest.param(tokens(20_000), "prompt_tokens_rate", [20_000, 20_000], 2, id="tokens-target-at-capacity-blind"),
    # (90 + 60) / 2 = 75 %; ceil(75 / 50 x 2) = 3
    pytest.param(kv_cache(50), "kv_cache_usage", [90, 60], 3, id="kv-cache-percent"),
])
def test_work_types_take_the_per_pod_rules(metric: MetricSpec, key: str, per_pod: list[float], desired: int) -> None:
    obs = observation(2, metrics={key: MetricObservation(per_pod={f"p{i}": v for i, v in enumerate(per_pod)})})
    d = decide(spec(metric, behavior=OPEN), obs, SEEN, NOW)
    assert d.desired_replicas == desired, d.reason
