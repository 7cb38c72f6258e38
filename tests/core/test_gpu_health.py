"""Pods whose GPU cannot serve (the exporter's ``gpu_healthy`` 0), as tables: which pods
the health reading marks, and what a marked pod does to each kind of proposal."""
from __future__ import annotations

from dataclasses import replace

import pytest

from autoscaler.core import MetricObservation, PodState, decide
from autoscaler.core.health import UNHEALTHY, mark_unhealthy
from autoscaler.core.holds import capacity_condition
from autoscaler.core.observe import Reading, Sample
from autoscaler.core.proposal import classify_pods
from autoscaler.spec import MetricSpec, MetricTarget
from tests.core.builders import NOW, OPEN, SEEN, observe, pods, queue, samples, spec

FRESH, OLD = NOW - 5, NOW - 300


def marked(reading: Reading) -> list[str]:
    return [p.name for p in mark_unhealthy(pods(3), reading, 30.0, NOW) if p.gpu_unhealthy is not None]


@pytest.mark.parametrize("reading,expected", [
    pytest.param(Reading(per_pod={"p0": Sample(1, FRESH), "p1": Sample(0, FRESH)}), ["p1"], id="0 marks the pod"),
    pytest.param(Reading(per_pod={"p1": Sample(0, OLD)}), [], id="a stale 0 marks nobody"),
    pytest.param(Reading(per_pod={"p1": Sample(float("nan"), FRESH)}), [], id="NaN marks nobody"),
    pytest.param(Reading(error="cannot connect to Prometheus"), [], id="a failed fetch marks nobody"),
    pytest.param(Reading(per_pod={}), [], id="no series (dcgm-exporter only): healthy"),
    pytest.param(Reading(per_pod={"p9": Sample(0, FRESH)}), [], id="another target's pod"),
    pytest.param(Reading(per_pod={"p0": Sample(0, FRESH), "p2": Sample(0.0, FRESH)}), ["p0", "p2"], id="two"),
])
def test_mark_unhealthy(reading: Reading, expected: list[str]) -> None:
    assert marked(reading) == expected


def broken(n: int, *lost: int) -> tuple[PodState, ...]:
    return tuple(replace(p, gpu_unhealthy=UNHEALTHY) if i in lost else p for i, p in enumerate(pods(n)))


def test_an_unhealthy_pod_is_set_aside_as_stuck() -> None:
    classes = classify_pods(broken(3, 1), 120, NOW)
    assert classes.unhealthy == {"p1"} and "p1" in classes.stuck and "p1" in classes.set_aside
    assert classes.candidates == {"p0", "p2"}


STAFFED = MetricSpec(type="QueueDepth", target=MetricTarget(average_value=4), square_root_staffing=1.0)


@pytest.mark.parametrize("metric,pod_list,per_pod,desired,why", [
    # 8 at target, one GPU lost: 7 serve 32 waiting at 32/7 = 4.57 each (ratio 1.143), ceil(1.143 x 7) + 1 = 9
    pytest.param(queue(4), broken(8, 7), samples(*[32 / 7] * 7, 0), 9, "ceil(1.143 x 7 ready pods) + 1", id="replaced"),
    pytest.param(queue(4), broken(8), samples(*[32 / 7] * 7, 0), 8, "within tolerance", id="same load, all healthy"),
    # the lost pod's sample (it may still answer) is never counted: 6 at 2 = ratio 0.5, ceil(0.5 x 6) + 1 = 4
    pytest.param(queue(4), broken(7, 6), samples(*[2] * 6, 40), 4, "ceil(0.500 x 6 ready pods) + 1", id="down"),
    # a ready pod without a sample and a lost one: 2 at 8 and 1 missing filled 0: 16/3 = 5.33, ceil(1.333 x 3) + 1 = 5
    pytest.param(queue(4), broken(4, 3), samples(8, 8), 5, "incl. assumed ones) + 1", id="rebalanced"),
    # square-root staffing: R = 24 / 4 = 6, 6 + sqrt(6) + 1 = 9.45 -> 10
    pytest.param(STAFFED, broken(6, 5), samples(*[4.8] * 5, 0), 10, "sqrt(R)) + 1", id="staffed"),
])
def test_a_lost_gpu_is_replaced(metric: MetricSpec, pod_list: tuple[PodState, ...], per_pod: dict[str, float],
                                desired: int, why: str) -> None:
    obs = replace(observe(len(pod_list), pod_list), metrics={metric.key: MetricObservation(per_pod=per_pod)})
    d = decide(spec(metric, behavior=OPEN), obs, SEEN, NOW)
    assert d.desired_replicas == desired, d.proposals[0].reason
    assert why in d.proposals[0].reason


def test_capacity_condition_names_the_pod() -> None:
    assert capacity_condition(observe(3, broken(3))).status == "True"
    c = capacity_condition(observe(3, broken(3, 2)))
    assert (c.status, c.reason) == ("False", "GPUUnhealthy")
    assert c.message == f"1 pod(s) of the target hold a GPU that cannot serve, not counted as capacity: p2: {UNHEALTHY}"


def test_a_formula_replaces_a_lost_gpu_too() -> None:
    """``queue_depth`` against averageValue 4 as a formula: 7 healthy pods at 32/7 sum to 32,
    8 replicas' worth of load for 7 serving (32 / (4 x 7) = 1.14, outside the band): 8 + 1 = 9.
    Counting the broken pod among the current ones would read 32 / (4 x 8) = 1.0 and hold."""
    from autoscaler.expression import parse_expression
    from autoscaler.spec import FormulaSpec

    metric = queue(4)
    scaler = replace(spec(metric, behavior=OPEN),
                     formula=FormulaSpec("queue_depth", parse_expression("queue_depth"), MetricTarget(average_value=4)))
    obs = replace(observe(8, broken(8, 7)), metrics={metric.key: MetricObservation(per_pod=samples(*[32 / 7] * 7, 0))})
    d = decide(scaler, obs, SEEN, NOW)
    assert d.desired_replicas == 9, d.proposals[0].reason
    assert d.proposals[0].reason.endswith("+ 1 with a GPU unhealthy = 9")
    healthy = replace(obs, pods=pods(8), metrics={metric.key: MetricObservation(per_pod=samples(*[4] * 8))})
    assert decide(scaler, healthy, SEEN, NOW).desired_replicas == 8  # same load, all serving: hold
