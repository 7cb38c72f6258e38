"""A formula over a scaler's metrics (``spec.formula``) in the core: the expression's value
and leading term, and the decision it makes with the per-pod rules (loading, missing and
unschedulable pods), the faults that must hold, and the metrics it leaves in the max.

Tables of facts; derived numbers carry their arithmetic. Times relative to NOW.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from autoscaler.core import MetricObservation, Observation, PodState, decide
from autoscaler.core.formula import evaluate
from autoscaler.expression import parse_expression
from autoscaler.spec import FormulaSpec, GPUScalerSpec, MetricSpec, MetricTarget
from tests.core.builders import NOW, OPEN, SEEN, pods, prom, queue, samples, spec


def kv_cache(percent: float = 80) -> MetricSpec:
    return MetricSpec(type="KVCacheUsage", target=MetricTarget(average_utilization=percent))


def formula(expression: str, *metrics: MetricSpec, average: float | None = None, value: float | None = None,
            **kw: object) -> GPUScalerSpec:
    target = MetricTarget(average_value=average) if average is not None else MetricTarget(value=value)
    base = spec(*(metrics or (queue(4), kv_cache())), behavior=OPEN, **kw)  # type: ignore[arg-type]
    return replace(base, formula=FormulaSpec(expression, parse_expression(expression), target))


# -- the expression: its value and the term that led -------------------------------------------

@pytest.mark.parametrize("expression, values, value, led", [
    # 16 + 0.5 x 100 = 66; the terms are 16 and 50: the KV cache led
    pytest.param("q + 0.5 * kv", {"q": 16, "kv": 100}, 66, "kv", id="sum-kv-leads"),
    # 40 + 0.5 x 20 = 50; 40 > 10: the queue led
    pytest.param("q + 0.5 * kv", {"q": 40, "kv": 20}, 50, "q", id="sum-queue-leads"),
    # (5 + 5) + 8: the terms are 5, 5 and 8, not (5 + 5) and 8: c led
    pytest.param("a + b + c", {"a": 5, "b": 5, "c": 8}, 18, "c", id="a-chain-is-one-sum"),
    # 1 - (2 - 5) = 4; the terms are +1, -2 and +5: c led
    pytest.param("a - (b - c)", {"a": 1, "b": 2, "c": 5}, 4, "c", id="signs-through-parentheses"),
    pytest.param("a - b", {"a": 3, "b": 10}, -7, "a", id="a-subtracted-term-never-leads"),
    pytest.param("q + 2", {"q": 1}, 3, "q", id="a-constant-term-never-leads"),
    # max(3, 2 x 2) = 4: the second argument won
    pytest.param("max(a, 2 * b)", {"a": 3, "b": 2}, 4, "b", id="max-names-the-winner"),
    pytest.param("max(a, b)", {"a": 2, "b": 2}, 2, "a", id="max-first-of-equals"),
    pytest.param("min(a, b)", {"a": 3, "b": 2}, 2, "b", id="min-names-the-winner"),
    pytest.param("max(q, 2)", {"q": 1}, 2, "2", id="a-constant-floor-that-wins-is-named"),
    pytest.param("a / b", {"a": 6, "b": 3}, 2, "a / b", id="a-ratio-of-two-metrics-is-named-whole"),
    pytest.param("-a + 3 * b", {"a": 1, "b": 1}, 2, "b", id="negated-term"),
    pytest.param("2 * (a + b)", {"a": 1, "b": 4}, 10, "b", id="scaled-sum-names-its-leader"),
])
def test_evaluate(expression: str, values: dict[str, float], value: float, led: str) -> None:
    got = evaluate(parse_expression(expression), values)
    assert (got.value, got.led, got.error) == (value, led, None)


@pytest.mark.parametrize("expression, values, error", [
    pytest.param("a / b", {"a": 4, "b": 0}, "division by zero in a / b (b is 0)", id="division-by-zero"),
    pytest.param("a / (b - b)", {"a": 4, "b": 1}, "division by zero in a / (b - b) (b - b is 0)",
                 id="division-by-a-zero-difference"),
    # 1 / 1e-320 overflows to +Inf: no number of replicas
    pytest.param("a / b", {"a": 1, "b": 1e-320}, "the result is inf", id="overflow-is-undefined"),
])
def test_evaluate_undefined(expression: str, values: dict[str, float], error: str) -> None:
    got = evaluate(parse_expression(expression), values)
    assert got.error == error


# -- the decision ------------------------------------------------------------------------------

def obs(current: int, pod_list: tuple[PodState, ...] | None = None, **metrics: MetricObservation) -> Observation:
    return Observation(current_replicas=current, pods=pods(current) if pod_list is None else pod_list,
                       metrics=metrics)


def per_pod(*values: float) -> MetricObservation:
    return MetricObservation(per_pod=samples(*values))


def value(v: float) -> MetricObservation:
    return MetricObservation(value=v)


QKV = "queue_depth + 0.5 * kv_cache_usage"

DECISIONS = [
    # queue 6 + 10 = 16, KV 60 + 40 = 100 %: 16 + 0.5 x 100 = 66; 66 / (20 x 2) = 1.65 -> ceil(66 / 20) = 4
    pytest.param(formula(QKV, average=20), obs(2, queue_depth=per_pod(6, 10), kv_cache_usage=per_pod(60, 40)),
                 4, "DesiredWithinRange", "formula (kv_cache_usage led) 66 (target 20) asks 4; 2 -> 4",
                 id="kv-cache-leads-the-sum"),
    # 30 + 30 = 60 and 0.5 x (10 + 10) = 10: 70 / 20 = 3.5 -> 4, the queue led
    pytest.param(formula(QKV, average=20), obs(2, queue_depth=per_pod(30, 30), kv_cache_usage=per_pod(10, 10)),
                 4, "DesiredWithinRange", "formula (queue_depth led) 70 (target 20) asks 4; 2 -> 4",
                 id="queue-leads-the-sum"),
    # value target, HPA's Object rule: 66 / 33 = 2 -> ceil(2 x 2 ready) = 4
    pytest.param(formula(QKV, value=33), obs(2, queue_depth=per_pod(6, 10), kv_cache_usage=per_pod(60, 40)),
                 4, "DesiredWithinRange", "formula (kv_cache_usage led) 66 (target 33) asks 4; 2 -> 4",
                 id="value-target"),
    # 4 x 1 = 4 and 0.5 x 4 x 2 = 4: 8 / 20 = 0.4 -> ceil(0.4) = 1 (OPEN: no stabilization)
    pytest.param(formula(QKV, average=20), obs(4, queue_depth=per_pod(1, 1, 1, 1), kv_cache_usage=per_pod(2, 2, 2, 2)),
                 1, "DesiredWithinRange", "formula (queue_depth led) 8 (target 20) asks 1; 4 -> 1", id="scale-down"),
    # 66 / (20 x 3) = 1.1: inside the 0.1 band, hold
    pytest.param(formula(QKV, average=20), obs(3, queue_depth=per_pod(6, 10, 0), kv_cache_usage=per_pod(60, 40, 0)),
                 3, "DesiredWithinRange", "formula (kv_cache_usage led) 66 (target 20) asks 3; hold at 3",
                 id="within-tolerance"),
    # max(16 / 4, 120 / 50) = max(4, 2.4) = 4 replicas' worth against 1 each: 4
    pytest.param(formula("max(queue_depth / 4, kv_cache_usage / 50)", average=1),
                 obs(2, queue_depth=per_pod(8, 8), kv_cache_usage=per_pod(60, 60)),
                 4, "DesiredWithinRange", "formula (queue_depth led) 4 (target 1) asks 4; 2 -> 4", id="max-of-two"),
    # queue 1 + 1 = 2; 2 - 10 = -8 counts as 0: ceil(0) = 0, then minReplicas 1
    pytest.param(formula("queue_depth - 10", queue(4), average=1), obs(2, queue_depth=per_pod(1, 1)),
                 1, "TooFewReplicas", "formula (queue_depth led) 0 (target 1) asks 0; TooFewReplicas 0->1", id="negative-is-zero"),
    # a target-wide metric stands for its value: 900 tokens/s / 100 + queue 2 = 11 -> ceil(11 / 1) = 11
    pytest.param(formula("tps / 100 + queue_depth", queue(4), prom("tps", value=1), average=1),
                 obs(2, queue_depth=per_pod(1, 1), tps=value(900)),
                 11, "DesiredWithinRange", "formula (tps led) 11 (target 1) asks 11; 2 -> 11", id="target-wide-name"),
]


@pytest.mark.parametrize("scaler, observation, desired, code, words", DECISIONS)
def test_decide_with_a_formula(scaler: GPUScalerSpec, observation: Observation, desired: int, code: str,
                               words: str) -> None:
    d = decide(scaler, observation, SEEN, NOW)
    assert (d.desired_replicas, d.reason_code) == (desired, code)
    assert d.reason.startswith(words), d.reason
    active = next(c for c in d.conditions if c.type == "ScalingActive")
    assert active.message == f"the desired count was computed from {words.split(')')[0]})"
    # the formula replaces the metrics it names; status lists it, keyed "formula"
    assert "formula" in [p.key for p in d.proposals]
    assert not {m.key for m in scaler.metrics if m.key in scaler.formula.names} & {p.key for p in d.proposals}  # type: ignore[union-attr]


def test_a_metric_the_formula_does_not_name_still_joins_the_max() -> None:
    # formula: queue 1 + 1 = 2 -> 2; qps 9 against 1 a replica -> ceil(9 / 1) = 9: qps leads
    scaler = formula("queue_depth", queue(4), prom("qps", average=1), average=1)
    d = decide(scaler, obs(2, queue_depth=per_pod(1, 1), qps=value(9)), SEEN, NOW)
    assert (d.desired_replicas, d.leading_metric) == (9, "qps")
    assert d.reason.startswith("qps 9 (target 1) asks 9")
    assert [p.key for p in d.proposals] == ["formula", "qps"]


# -- faults: the formula's proposal is invalid, and the poll holds -----------------------------

FAULTS = [
    pytest.param(obs(4, queue_depth=MetricObservation.failed("prometheus down"), kv_cache_usage=per_pod(1, 1, 1, 1)),
                 "formula: queue_depth: prometheus down", id="a-named-metric-failed"),
    pytest.param(obs(4, kv_cache_usage=per_pod(1, 1, 1, 1)), "formula: queue_depth: no data for this metric",
                 id="a-named-metric-absent"),
    pytest.param(obs(4, queue_depth=per_pod(math.nan, math.nan, -1, math.inf), kv_cache_usage=per_pod(1, 1, 1, 1)),
                 "formula: queue_depth: no samples for ready pods", id="only-nan-negative-inf-samples"),
]


@pytest.mark.parametrize("observation, message", FAULTS)
def test_a_fault_in_a_named_metric_holds(observation: Observation, message: str) -> None:
    # Without the fault, queue 4 x 0 and KV 4 x 1 % would ask ceil(2 / 20) = 1: a scale-down from 4.
    d = decide(formula(QKV, average=20), observation, SEEN, NOW)
    assert (d.desired_replicas, d.reason_code, d.metrics_available) == (4, "FailedGetMetrics", False)
    assert d.memory.consecutive_failures == 1
    assert next(c for c in d.conditions if c.type == "ScalingActive").message == message


@pytest.mark.parametrize("tps, error", [
    pytest.param(value(0), "division by zero in queue_depth / tps (tps is 0)", id="division-by-zero"),
    pytest.param(value(math.nan), "tps: no valid value", id="nan-value"),
    pytest.param(MetricObservation.failed("timeout"), "tps: timeout", id="failed-value"),
])
def test_an_undefined_result_holds(tps: MetricObservation, error: str) -> None:
    # queue 1 x 4 / tps: with tps 100, 0.04 replicas' worth -> 1; undefined: hold at 4
    scaler = formula("queue_depth / tps", queue(4), prom("tps", value=1), average=1)
    d = decide(scaler, obs(4, queue_depth=per_pod(1, 1, 1, 1), tps=tps), SEEN, NOW)
    assert (d.desired_replicas, d.reason_code) == (4, "FailedGetMetrics")
    assert d.reason == f"metrics unavailable (formula: {error}): hold at 4"


def test_an_invalid_formula_beside_a_valid_metric_asking_less_holds() -> None:
    # qps asks ceil(1 / 1) = 1 of 4; the formula is undefined: no scale-down on partial data
    scaler = formula("queue_depth / tps", queue(4), prom("tps", value=1), prom("qps", average=1), average=1)
    d = decide(scaler, obs(4, queue_depth=per_pod(1, 1, 1, 1), tps=value(0), qps=value(1)), SEEN, NOW)
    assert (d.desired_replicas, d.reason_code) == (4, "FailedGetMetrics")
    assert d.memory.consecutive_failures == 0  # a partial poll breaks the streak, as for any metric


# -- loading, missing and unschedulable pods ---------------------------------------------------

LOADING = pods(4, loading=(2, 3))


@pytest.mark.parametrize("scaler, observation, desired, code, reason", [
    # 2 ready at 8, 2 loading: 16 / 4 = 4 = current: hold. Blind to the loading ones it would
    # be ceil(8/4 x 2) + 2 = 6, a second scale-up for the same load.
    pytest.param(formula("queue_depth", queue(4), average=4), obs(4, LOADING, queue_depth=per_pod(8, 8)),
                 4, "Loading", "formula (queue_depth led) 16 (target 4) asks 4; Loading 6->4", id="loading-count-as-capacity"),
    # 2 ready at 16: 32 / 4 = 8 of 4: a scale-up, by the load only (blind: 8 + 2 = 10)
    pytest.param(formula("queue_depth", queue(4), average=4), obs(4, LOADING, queue_depth=per_pod(16, 16)),
                 8, "Loading", "formula (queue_depth led) 32 (target 4) asks 8; Loading 10->8", id="loading-scale-up"),
    # every replica loading: nothing reports; hold, not a failure
    pytest.param(formula(QKV, average=20), obs(2, pods(2, loading=(0, 1)), queue_depth=per_pod(), kv_cache_usage=per_pod()),
                 2, "Loading", "every replica is still loading its model", id="all-loading-holds"),
    # a loading pod's sample is set aside: (4 + 4) / 4 = 2, not (4 + 4 + 99) / 4 -> 27; the answer
    # is the count for the whole load, so it may be below current (the scale-down window guards it)
    pytest.param(formula("queue_depth", queue(4), average=4), obs(3, pods(3, loading=(2,)), queue_depth=per_pod(4, 4, 99)),
                 2, "DesiredWithinRange", "formula (queue_depth led) 8 (target 4) asks 2; 3 -> 2",
                 id="a-loading-sample-is-set-aside"),
    # target-wide values alone read no pod: no Loading limit, as for a Prometheus metric (12 / 1 = 12)
    pytest.param(formula("tps / 100", prom("tps", value=1), average=1), obs(4, LOADING, tps=value(1200)),
                 12, "DesiredWithinRange", "formula (tps led) 12 (target 1) asks 12; 4 -> 12", id="target-wide-only"),
    # 4 ready, samples of 2: 2 / 4 -> 1 would scale down on load unseen: keep current
    pytest.param(formula("queue_depth", queue(4), average=4), obs(4, queue_depth=per_pod(1, 1)),
                 4, "DesiredWithinRange", "formula (queue_depth led) 2 (target 4) asks 4; hold at 4", id="missing-pods-keep-current"),
    # a stuck pod (not ready past startupSeconds) is set aside, never counted: 2 ready at 1 -> 2 / 1 = 2
    pytest.param(formula("queue_depth", queue(4), average=1), obs(3, pods(3, stuck=(2,)), queue_depth=per_pod(1, 1, 50)),
                 2, "DesiredWithinRange", "formula (queue_depth led) 2 (target 1) asks 2; 3 -> 2", id="stuck-set-aside"),
])
def test_pods_that_do_not_report(scaler: GPUScalerSpec, observation: Observation, desired: int, code: str,
                                 reason: str) -> None:
    d = decide(scaler, observation, SEEN, NOW)
    assert (d.desired_replicas, d.reason_code) == (desired, code), d.reason
    assert reason in d.reason, d.reason


def test_unschedulable_pods_neither_report_nor_count() -> None:
    # 2 ready at 2 and 2 waiting for a node: 4 / 1 = 4 = current; the waiting pods' samples
    # (none) are not read, and the capacity rule keeps the count from growing past them
    waiting = PodState("p2", ready=False, phase="Pending", unschedulable="0/3 nodes: Insufficient nvidia.com/gpu")
    pod_list = pods(2) + (waiting, replace(waiting, name="p3"))
    scaler = formula("queue_depth", queue(4), average=1)
    d = decide(scaler, obs(4, pod_list, queue_depth=per_pod(4, 4)), SEEN, NOW)
    # 8 / 1 = 8 asked, but no scale-up while pods wait for a node
    assert (d.desired_replicas, d.reason_code) == (4, "Unschedulable")
    assert d.reason.startswith("formula (queue_depth led) 8 (target 1) asks 8")


def test_without_a_formula_nothing_changes() -> None:
    # the same observation through max over metrics: queue avg 8 / 4 -> 4, kv 50 % of 80 -> 2
    plain = spec(queue(4), kv_cache(), behavior=OPEN)
    d = decide(plain, obs(2, queue_depth=per_pod(8, 8), kv_cache_usage=per_pod(50, 50)), SEEN, NOW)
    assert (d.desired_replicas, d.leading_metric) == (4, "queue_depth")
    assert [p.key for p in d.proposals] == ["queue_depth", "kv_cache_usage"]


def test_a_long_leading_term_fits_status_leading_metric() -> None:
    # a / b with two 200-character names: "formula (a / b led)" would be 419 characters; the
    # CRD holds status.leadingMetric to 253, so the term is cut
    a, b = "a" * 200, "b" * 200
    scaler = formula(f"{a} / {b}", prom(a, average=1), prom(b, average=1), average=1)
    d = decide(scaler, obs(2, **{a: value(8), b: value(2)}), SEEN, NOW)
    assert d.desired_replicas == 4  # 8 / 2 = 4 -> ceil(4 / 1)
    assert d.leading_metric is not None and len(d.leading_metric) == 253
    assert d.leading_metric.startswith(f"formula ({a} / bbb") and d.leading_metric.endswith("b... led)")
