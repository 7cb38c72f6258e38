"""Square-root staffing on TokenThroughput and the Concurrency metric type in the core.

Tables of facts; derived numbers carry their arithmetic. Times relative to NOW.
"""
from __future__ import annotations

import pytest

from autoscaler.core import Observation, PodState
from autoscaler.core.proposal import Tolerance, classify_pods, propose, square_root_staffing
from autoscaler.core.types import MetricObservation
from autoscaler.spec import MetricSpec, MetricTarget
from tests.core.builders import NOW, pods

TOL = Tolerance(0.1, 0.1)


def staffed(capacity: float, beta: float) -> MetricSpec:
    return MetricSpec(type="TokenThroughput", signal="prompt", target=MetricTarget(average_value=capacity),
                      square_root_staffing=beta)


def concurrency(per_replica: float) -> MetricSpec:
    return MetricSpec(type="Concurrency", target=MetricTarget(average_value=per_replica))


@pytest.mark.parametrize("work, beta, replicas", [
    pytest.param(1.4, 2, 4, id="R1.4-asks-4"),      # 1.4 + 2 x 1.183 = 3.77 -> 4
    pytest.param(9, 2, 15, id="R9-asks-15"),        # 9 + 2 x 3 = 15
    pytest.param(36, 2, 48, id="R36-asks-48"),      # 36 + 2 x 6 = 48
    pytest.param(36, 0, 36, id="beta0-is-ceil-R"),  # HPA's rule: ceil(36) = 36
    pytest.param(0, 2, 0, id="no-work-asks-none"),  # minReplicas applies later
])
def test_square_root_staffing(work: float, beta: float, replicas: int) -> None:
    assert -(-square_root_staffing(work, beta) // 1) == replicas


@pytest.mark.parametrize("current, pod_list, rates, replicas, reason_starts", [
    # R = (30,000 + 24,000) / 10,000 = 5.4; 5.4 + 2 x 2.324 = 10.05 -> 11
    pytest.param(2, pods(2), {"p0": 30_000, "p1": 24_000}, 11, "ceil(R + 2 sqrt(R)) with R = 54000 / 10000 = 5.400",
                 id="scale-up"),
    # R = 9 x 10,000 / 10,000 = 9 -> 15: within 10 % of 15 (ratio 1.0): hold
    pytest.param(15, pods(15), {f"p{i}": 6_000 for i in range(15)}, 15, "within tolerance (R 9.00 -> 15.00",
                 id="at-need-holds"),
    # R = 20 x 500 / 10,000 = 1 -> 1 + 2 = 3
    pytest.param(20, pods(20), {f"p{i}": 500 for i in range(20)}, 3, "ceil(R + 2 sqrt(R)) with R = 10000",
                 id="scale-down"),
    # 4 ready at 10,000 (R = 4 -> 8), 4 loading without samples: absolute, no double scale-up
    pytest.param(8, pods(8, loading=[4, 5, 6, 7]), {f"p{i}": 10_000 for i in range(4)}, 8,
                 "within tolerance (R 4.00 -> 8.00", id="loading-pods-are-in-current"),
    # 2 of 10 ready pods have no sample: R = 8 x 100 / 10,000 = 0.08 -> ceil(0.65) = 1 < 10: hold
    pytest.param(10, pods(10), {f"p{i}": 100 for i in range(8)}, 10, "ceil(R + 2 sqrt(R)) with R = 800",
                 id="missing-samples-never-scale-down"),
])
def test_square_root_proposal(current: int, pod_list: tuple[PodState, ...], rates: dict[str, float],
                              replicas: int, reason_starts: str) -> None:
    obs = Observation(current_replicas=current, pods=pod_list,
                      metrics={"prompt_tokens_rate": MetricObservation(per_pod=rates)})
    p = propose(staffed(10_000, 2), obs, TOL, classify_pods(pod_list, 120, NOW))
    assert p.error is None and p.replicas == replicas
    assert p.reason.startswith(reason_starts)


def test_beta_zero_is_hpas_average_value_rule() -> None:
    # ceil((30,000 + 24,000) / 2 / 10,000 x 2) = ceil(5.4) = 6, the per-pod rule's reason
    obs = Observation(current_replicas=2, pods=pods(2),
                      metrics={"prompt_tokens_rate": MetricObservation(per_pod={"p0": 30_000, "p1": 24_000})})
    p = propose(staffed(10_000, 0), obs, TOL, classify_pods(pods(2), 120, NOW))
    assert (p.replicas, p.reason) == (6, "ceil(2.700 x 2 ready pods) = 6")


@pytest.mark.parametrize("running, replicas", [
    pytest.param({"p0": 45, "p1": 35}, 3, id="over"),       # mean 40 / 33.6 = 1.190 x 2 -> ceil(2.381) = 3
    pytest.param({"p0": 34, "p1": 33}, 2, id="in-band"),    # 33.5 / 33.6 = 0.997: hold
    pytest.param({"p0": 5, "p1": 3}, 1, id="under"),        # 4 / 33.6 = 0.119 x 2 -> 1
])
def test_concurrency_takes_the_average_value_rule(running: dict[str, float], replicas: int) -> None:
    obs = Observation(current_replicas=2, pods=pods(2),
                      metrics={"running_requests": MetricObservation(per_pod=running)})
    p = propose(concurrency(33.6), obs, TOL, classify_pods(pods(2), 120, NOW))
    assert p.error is None and p.replicas == replicas
