"""Policies: Knative's KPA restated, the oracle's plan, and HPA/KEDA as GPUScaler specs."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from autoscaler.spec import Behavior, parse_scaler
from simulations.engine import simulate
from simulations.fleet import Snapshot
from simulations.policies import FleetView, KpaPolicy, Plan, build_policy
from simulations.policies.core import CorePolicy, hpa_util, keda_queue, ours
from simulations.policies.plan import _forward_max
from simulations.scenario import Scenario
from simulations.traces import Arrivals, RequestTrace
from tests.simulations.conftest import UNIT_MODEL, make_scenario, scaler_doc
from tests.simulations.test_engine import load_step


def view(now: float, current: int, ready: int | None = None, metrics: Snapshot | None = None) -> FleetView:
    ready = current if ready is None else ready
    serial = np.arange(current)
    return FleetView(now=now, current_replicas=current, ready_replicas=ready, pod_serial=serial,
                     pod_ready=serial < ready, pod_start=np.zeros(current), metrics=metrics)


def snapshot(queue: list[float], util: list[float], sm: list[float], t: float = 0.0) -> Snapshot:
    n = len(queue)
    return Snapshot(time=t, serial=np.arange(n), queue_total=float(sum(queue)),
                    running_total=0.0, in_system=float(sum(queue)),
                    series={"inference_queue_depth": np.array(queue, float), "inference_running_requests": np.zeros(n),
                            "gpu_utilization_ratio": np.array(util, float) / 100,
                            "gpu_sm_active_ratio": np.array(sm, float) / 100})


# ---------------------------------------------------------------- KPA

def kpa(slots: int = 10) -> KpaPolicy:
    # target concurrency per pod = containerConcurrency (the slots, 10) x 70 % = 7
    return KpaPolicy(make_scenario(model=replace(UNIT_MODEL, slots=slots),
                                   policies={"ours": {"scaler": scaler_doc(maxReplicas=100)}}))


def feed(p: KpaPolicy, values: list[float], start: float = 1.0) -> float:
    t = start
    for v in values:
        p.observe(t, v, 0)
        t += 1.0
    return t - 1.0


@pytest.mark.parametrize(("samples", "ready", "expected"), [
    pytest.param([70.0] * 61, 10, 10, id="steady: ceil(70 / 7) = 10"),
    pytest.param([140.0] * 61, 10, 20, id="double: ceil(140 / 7) = 20 (panic at 20/10 = 200 %)"),
    pytest.param([70.0] * 55 + [300.0] * 6, 10, 43,
                 id="burst: panic window ceil(300 / 7) = 43 >= 2 x 10 ready -> 43"),
    pytest.param([7.0] * 61, 10, 5, id="drop: ceil(7 / 7) = 1, but at most halve: floor(10 / 2) = 5"),
    pytest.param([90.0] * 61, 10, 13, id="stable, under the panic threshold: ceil(90 / 7) = 13"),
])
def test_kpa_decisions(samples: list[float], ready: int, expected: int) -> None:
    p = kpa()
    now = feed(p, samples) + p.k.metrics_delay_s
    assert p.decide(view(now, ready)) == expected


def test_kpa_holds_until_it_has_a_full_stable_window() -> None:
    p = kpa()
    now = feed(p, [0.0] * 30)
    assert p.decide(view(now, 10)) == 10


def test_kpa_never_scales_down_in_panic_and_leaves_it_after_a_stable_window() -> None:
    p = kpa()
    t = feed(p, [70.0] * 55 + [300.0] * 6)
    assert p.decide(view(t + 1, 10)) == 43
    t = feed(p, [70.0] * 30, start=t + 1)       # calmer, but still within 60 s of the last panic
    assert p.decide(view(t + 1, 43)) == 43
    t = feed(p, [70.0] * 40, start=t + 1)       # 70 s without crossing the threshold: back to stable
    assert p.decide(view(t + 1, 43)) == 21       # stable wants 10, but at most halve: floor(43 / 2) = 21


def test_kpa_respects_the_bounds() -> None:
    p = kpa()
    now = feed(p, [10_000.0] * 61)
    assert p.decide(view(now + 1, 4)) == p.max_replicas


# ---------------------------------------------------------------- oracle and static

@pytest.mark.parametrize(("x", "w", "expected"), [
    ([1, 3, 2, 0, 0, 5], 1, [1, 3, 2, 0, 0, 5]),
    ([1, 3, 2, 0, 0, 5], 2, [3, 3, 2, 0, 5, 5]),
    ([1, 3, 2, 0, 0, 5], 3, [3, 3, 2, 5, 5, 5]),
    ([4, 0, 0, 0, 0, 0, 0, 1], 5, [4, 0, 0, 1, 1, 1, 1, 1]),
])
def test_forward_max(x: list[int], w: int, expected: list[int]) -> None:
    assert _forward_max(np.array(x), w).tolist() == expected


def steady(rate_per_s: int, seconds: int, output: float, start: float = 0.0) -> Arrivals:
    t = start + np.arange(rate_per_s * seconds) / rate_per_s
    return Arrivals.of(t, np.zeros(t.shape[0]), np.full(t.shape[0], output))


def test_oracle_plans_startup_ahead() -> None:
    # 10 slots a replica, 80 % occupancy, services of 8 s: 10 req/s is 80 busy slots -> 10 replicas,
    # 1 req/s is 8 busy slots -> 1. The load jumps at 600 s; startup is 60 s, polls every 15 s.
    sc = make_scenario(model=replace(UNIT_MODEL, startup_s=60.0))
    sc = replace(sc, oracle=replace(sc.oracle, window_s=10.0))
    a = Arrivals.concat([steady(1, 600, 8.0), steady(10, 600, 8.0, start=600.0)])
    plan = Plan(RequestTrace("step", 0.0, 1200.0, a), sc)
    assert plan.at(500) == 1        # asks for the next 76 s: still quiet
    assert plan.at(540) == 8        # sees the jump at 600 coming (10 wanted, 8 at most)
    assert plan.peak == 8
    ahead = 60 + 15
    for t in range(0, 1200 - ahead):
        assert plan.plan[t] >= plan.need[t:t + ahead + 1].max()   # ready in time for all it will need


def test_static_peak_runs_the_plans_peak() -> None:
    sc = make_scenario()
    a = steady(2, 600, 8.0)
    plan = Plan(RequestTrace("flat", 0.0, 600.0, a), sc)
    static = build_policy("static_peak", sc, plan)
    assert static.decide(view(100.0, 1)) == plan.peak == 2   # 16 busy slots / (10 x 0.8) = 2


# ---------------------------------------------------------------- core-driven policies

def test_hpa_util_is_hpa_on_plain_utilization(default_scenario: Scenario) -> None:
    p = hpa_util(default_scenario)
    (m,) = p.spec.metrics
    assert (m.type, m.signal, m.target.average_utilization) == ("GPUUtilization", "utilization", 60.0)
    assert p.spec.behavior == Behavior() and p.interval_s == 15
    # four busy pods read 100 %: ceil(100 / 60 x 4) = 7
    assert p.decide(view(15.0, 4, metrics=snapshot([0] * 4, [100] * 4, [10] * 4))) == 7


def test_keda_queue_is_an_external_average_value(default_scenario: Scenario) -> None:
    p = keda_queue(default_scenario)
    (m,) = p.spec.metrics
    assert (m.type, m.name, m.target.average_value) == ("Prometheus", "inference_queue_depth_total", 5.0)
    assert p.spec.behavior == Behavior() and p.interval_s == 30
    # 23 waiting in all, 5 per replica: ceil(23 / 5) = 5 from 3
    assert p.decide(view(30.0, 3, metrics=snapshot([10, 8, 5], [100] * 3, [50] * 3))) == 5


def test_ours_uses_the_scenario_scaler(default_scenario: Scenario) -> None:
    p = ours(default_scenario)
    assert p.spec == default_scenario.ours and p.delay_s == default_scenario.metrics_delay_s
    # the default ours leads with prompt tokens against 10,000 a replica (square-root staffed)
    assert default_scenario.ours.metrics[0].target.average_value == 10_000


def test_core_policies_hold_without_metrics(default_scenario: Scenario) -> None:
    p = ours(default_scenario)
    assert p.decide(view(15.0, 4, metrics=None)) == 4
    assert p.last is not None and p.last.reason_code == "FailedGetMetrics"


# ---------------------------------------------------------------- work metrics in the simulator

def work_snapshot(t: float, serial: list[int], prompt_total: list[float], ttft_sum: list[float],
                  ttft_count: list[float], kv: list[float]) -> Snapshot:
    n = len(serial)
    zeros = np.zeros(n)
    return Snapshot(time=t, serial=np.array(serial), queue_total=0.0, running_total=0.0, in_system=0.0,
                    series={"inference_queue_depth": zeros,
                            "inference_prompt_tokens_total": np.array(prompt_total, float),
                            "inference_kv_cache_usage_ratio": np.array(kv, float),
                            "inference_time_to_first_token_seconds_sum": np.array(ttft_sum, float),
                            "inference_time_to_first_token_seconds_count": np.array(ttft_count, float)})


def work_policy() -> CorePolicy:
    doc = scaler_doc(maxReplicas=100, metrics=[
        {"type": "TokenThroughput", "signal": "prompt", "target": {"averageValue": 1000}},
        {"type": "KVCacheUsage", "target": {"averageUtilization": 50}},
        {"type": "Latency", "signal": "ttft", "target": {"value": 1.0}},
    ], behavior={"scaleDown": {"stabilizationWindowSeconds": 0}})
    policy = ours(make_scenario(policies={"ours": {"scaler": doc}}))
    assert isinstance(policy, CorePolicy)
    return policy


def test_counters_are_read_as_rates_between_the_policys_polls() -> None:
    p = work_policy()
    # First poll: no previous totals, so the token and latency rates are missing (not 0);
    # only the KV cache (a gauge) is valid, and it proposes fewer: partial data holds.
    first = work_snapshot(15.0, [0, 1], [0, 0], [0, 0], [0, 0], [0.2, 0.2])
    assert p.decide(view(15.0, 2, metrics=first)) == 2
    assert p.last is not None and p.last.reason_code == "FailedGetMetrics"
    # 15 s later: pod 0 prefilled 45,000 tokens (3,000/s), pod 1 15,000 (1,000/s):
    # avg 2,000 against 1,000 a replica: ceil(2 x 2) = 4. TTFT: (15 + 45) / (30 + 30) = 1.0 s
    # at target: the guard asks min. KV 20 % against 50 %: ceil(0.4 x 2) = 1.
    second = work_snapshot(30.0, [0, 1], [45_000, 15_000], [15, 45], [30, 30], [0.2, 0.2])
    assert p.decide(view(30.0, 2, metrics=second)) == 4
    assert p.last is not None
    by_key = {m.key: m for m in p.last.proposals}
    assert by_key["prompt_tokens_rate"].usage == 2000 and by_key["prompt_tokens_rate"].replicas == 4
    assert by_key["ttft_seconds"].usage == 1.0 and by_key["ttft_seconds"].replicas == 1
    assert by_key["kv_cache_usage"].usage == 20


def test_a_pod_new_since_the_last_poll_has_no_rate_yet() -> None:
    p = work_policy()
    p.decide(view(15.0, 2, metrics=work_snapshot(15.0, [0, 1], [0, 0], [0, 0], [0, 0], [0.2, 0.2])))
    # Pod 2 appears with 60,000 tokens: no previous value, so it is missing, not 4,000/s.
    # Pods 0 and 1: 15,000 each in 15 s = 1,000/s = target: within tolerance, keep 3.
    # TTFT over pods 0 and 1 only: (30 + 30) / (20 + 20) = 1.5 s: ceil(3 ready x 1.5) = 5.
    snap = work_snapshot(30.0, [0, 1, 2], [15_000, 15_000, 60_000], [30, 30, 90], [20, 20, 30], [0.5, 0.5, 0.5])
    assert p.decide(view(30.0, 3, metrics=snap)) == 5
    assert p.last is not None
    by_key = {m.key: m for m in p.last.proposals}
    assert by_key["prompt_tokens_rate"].usage == 1000 and by_key["ttft_seconds"].usage == 1.5


def test_ours_on_prompt_tokens_and_a_ttft_guard_follows_a_load_step(default_scenario: Scenario) -> None:
    """The whole path on the simulated fleet: its token counters read as rates, the TTFT
    histogram's counters as a mean. 5 -> 40 -> 5 requests/s of 1,000-token prompts is
    5,000 -> 40,000 prompt tokens/s; at 5,000 a replica: ~1, then ~8, then back down."""
    doc = scaler_doc(maxReplicas=64, startupSeconds=90, metrics=[
        {"type": "TokenThroughput", "signal": "prompt", "target": {"averageValue": 5000}},
        {"type": "Latency", "signal": "ttft", "target": {"value": 2.0}},
    ])
    scenario = replace(default_scenario, ours=parse_scaler(doc).spec)
    trace = load_step(5.0, 40.0, (900, 900, 1500))
    plan = Plan(trace, scenario)
    policy = ours(scenario, plan)
    assert isinstance(policy, CorePolicy)
    result = simulate(trace, scenario, policy, plan)
    reps, per_bin = result.series.replicas, result.series.bin_s
    low, high, after = reps[int(800 / per_bin)], reps[int(1700 / per_bin)], reps[int(3200 / per_bin)]
    assert high >= 3 * low and 7 <= high <= 12 and after <= 3
    assert policy.last is not None
    (tokens, guard) = policy.last.proposals
    # the last poll is in the quiet tail: ~5,000 tokens/s over 2 replicas, the SLO holds
    assert tokens.key == "prompt_tokens_rate" and tokens.usage is not None and 1500 < tokens.usage < 4000
    assert guard.key == "ttft_seconds" and guard.usage is not None and guard.usage < 2.0 and guard.replicas == 1
