"""The fleet model against queueing theory, an exact reference, and its own rules."""
from __future__ import annotations

import heapq
from dataclasses import replace

import numpy as np
import pytest

from simulations.fleet import DRAINING, READY, Fleet, waterfill
from simulations.frontqueue import FrontQueue
from simulations.grouping import group_arrivals
from simulations.queueing import mmc_mean_wait
from simulations.traces import Arrivals, PoissonTrace, RequestTrace, chunks
from tests.simulations.conftest import UNIT_MODEL, make_scenario, run


def fifo_waits(arrival: np.ndarray, service: np.ndarray, servers: int) -> np.ndarray:
    """The exact FIFO multi-server queue (Kiefer-Wolfowitz): each arrival takes the earliest free server."""
    free = [0.0] * servers
    waits = np.empty(arrival.shape[0])
    for i, (a, s) in enumerate(zip(arrival.tolist(), service.tolist(), strict=False)):
        f = heapq.heappop(free)
        start = a if a > f else f
        waits[i] = start - a
        heapq.heappush(free, start + s)
    return waits


def requests(times: list[float], prompt: float = 0.0, output: float = 1.0) -> RequestTrace:
    t = np.asarray(times, dtype=float)
    return RequestTrace("test", 0.0, float(np.ceil(t.max())) + 1.0,
                        Arrivals.of(t, np.full(t.shape[0], prompt), np.full(t.shape[0], output)))


def test_mean_wait_matches_erlang_c() -> None:
    # M/M/20: 2 replicas x 10 slots, exponential service of mean 1 s, rho = 0.8 -> lambda = 16/s.
    # Erlang C: C(20, 16) = 0.256, Wq = 0.256 / (20 - 16) = 0.064 s. 60,000 s is ~960k requests.
    lam, mu, c = 16.0, 1.0, 20
    trace = PoissonTrace(rate=lam, duration_s=60000, prompt=0.0, output=1.0 / mu, dist="exponential", seed=7)
    result = run(trace, make_scenario(), replicas=2)
    assert result.mean_queue_wait_s == pytest.approx(mmc_mean_wait(lam, mu, c), rel=0.05)


@pytest.mark.parametrize(("replicas", "slots", "mean_service", "rho"), [
    pytest.param(2, 5, 2.0, 0.8, id="services shorter than a few steps"),
    pytest.param(1, 4, 20.0, 0.9, id="long services, heavy load"),
    pytest.param(3, 2, 0.3, 0.7, id="services shorter than a step"),
])
def test_waits_equal_an_exact_fifo_queue_on_the_same_requests(replicas: int, slots: int, mean_service: float,
                                                              rho: float) -> None:
    lam = rho * replicas * slots / mean_service
    trace = PoissonTrace(rate=lam, duration_s=3000, prompt=0.0, output=mean_service, dist="exponential", seed=3)
    arrivals = Arrivals.concat([a for _, _, a in chunks(trace)])
    exact = fifo_waits(arrivals.time, arrivals.output, replicas * slots)
    result = run(trace, make_scenario(model=replace(UNIT_MODEL, slots=slots)), replicas=replicas)
    assert exact.mean() > 0
    assert result.mean_queue_wait_s == pytest.approx(float(exact.mean()), rel=1e-9, abs=1e-12)


def test_prefill_is_one_prompt_after_another_per_replica() -> None:
    # Three 1000-token prompts at once on one replica, 1 ms a token: first tokens at 1, 2, 3 s.
    model = replace(UNIT_MODEL, prefill_s_per_token=0.001, decode_step_s=0.01)
    result = run(requests([0.0, 0.0, 0.0], prompt=1000, output=1), make_scenario(model=model))
    assert result.mean_ttft_s == pytest.approx(2.0)
    assert result.mean_queue_wait_s == 0.0


def test_decode_slows_as_the_batch_fills() -> None:
    # 100 output tokens at 10 ms + 1 ms per sequence in the batch:
    # alone 100 x 0.011 = 1.1 s; ten together 100 x (0.010 + 0.010) = 2.0 s each.
    model = replace(UNIT_MODEL, decode_step_s=0.010, decode_step_s_per_seq=0.001)
    alone = run(requests([0.5], output=100), make_scenario(model=model))
    assert alone.littles_law.mean_time_in_system_s == pytest.approx(1.1)
    batch = run(requests([0.5] * 10, output=100), make_scenario(model=model))
    assert batch.littles_law.mean_time_in_system_s == pytest.approx(2.0)


def _queue(trace: RequestTrace) -> FrontQueue:
    q = FrontQueue(trace, 1.0)
    q.ensure(trace.end_s)
    return q


def test_new_replicas_serve_only_after_startup() -> None:
    fleet = Fleet(replace(UNIT_MODEL, startup_s=60.0), 1, 0.0)
    fleet.scale_to(3, 0.0)
    ready = []
    for t in range(0, 62):
        fleet.advance(float(t))
        ready.append(fleet.n_ready)
    assert ready[:60] == [1] * 60 and ready[60:] == [3, 3]
    assert fleet.target == 3 and fleet.held == 3


def test_requests_wait_for_loading_replicas() -> None:
    # One replica of 1 slot is busy for 100 s; a second one, added at 0, loads for 30 s:
    # the second request waits 30 s for it rather than 100 s for the first.
    model = replace(UNIT_MODEL, slots=1, startup_s=30.0)
    trace = requests([0.0, 0.0], output=100)
    fleet = Fleet(model, 1, 0.0)
    fleet.scale_to(2, 0.0)
    q = _queue(trace)
    starts = []
    for t in range(0, 40):
        fleet.advance(float(t))
        got = fleet.admit(float(t), t + 1.0, q)
        if got is not None:
            starts += got.start.tolist()
    assert starts == [0.0, 30.0]


def test_scale_down_drains_in_flight_requests() -> None:
    # Two replicas, each running one 50 s request; scaling to one drains one of them:
    # it takes no new request and holds its GPU until its request is done.
    model = replace(UNIT_MODEL, slots=1)
    fleet = Fleet(model, 2, 0.0)
    q = _queue(requests([0.0, 0.0, 10.0], output=50))
    held, admitted = [], []
    for t in range(0, 60):
        fleet.advance(float(t))
        if t == 5:
            fleet.scale_to(1, 5.0)
            assert (fleet.state == DRAINING).sum() == 1 and (fleet.state == READY).sum() == 1
        got = fleet.admit(float(t), t + 1.0, q)
        if got is not None:
            admitted += got.start.tolist()
        held.append(fleet.held)
    assert held[5:50] == [2] * 45 and held[51:] == [1] * 9
    assert admitted == [0.0, 0.0, 50.0]  # the third waits for the replica that stayed


def test_what_a_replica_exposes() -> None:
    # 4 slots, 8 ms + 2 ms per sequence; 3 requests on one replica, 2 more waiting.
    model = replace(UNIT_MODEL, slots=3, decode_step_s=0.008, decode_step_s_per_seq=0.002, startup_s=0.0)
    fleet = Fleet(model, 2, 0.0)
    fleet.scale_to(2, 0.0)
    q = _queue(requests([0.0] * 8, output=1000))
    fleet.advance(0.0)
    fleet.admit(0.0, 1.0, q)
    snap = fleet.snapshot(1.0, q)
    assert snap.running.tolist() == [3.0, 3.0]
    assert snap.queue.tolist() == [1.0, 1.0]          # 2 waiting in front, one share each
    assert snap.utilization.tolist() == [100.0, 100.0]
    # a full batch (3 of 3 slots) in decode: SM activity = fullBatch (0.8) x 3/3
    assert snap.sm_active.tolist() == pytest.approx([80.0, 80.0])
    assert snap.queue_total == 2.0 and snap.in_system == 8.0

    idle = Fleet(model, 1, 0.0)
    empty = _queue(requests([50.0]))
    idle.advance(0.0)
    idle.admit(0.0, 1.0, empty)
    s = idle.snapshot(1.0, empty)
    assert s.utilization.tolist() == [0.0] and s.sm_active.tolist() == [0.0]


def test_sm_activity_grows_with_the_batch_and_plain_utilization_does_not() -> None:
    model = replace(UNIT_MODEL, slots=48, decode_step_s=0.01, decode_step_s_per_seq=0.0)
    readings = []
    for n in (1, 12, 48):
        fleet = Fleet(model, 1, 0.0)
        q = _queue(requests([0.0] * n, output=1000))
        fleet.advance(0.0)
        fleet.admit(0.0, 1.0, q)
        s = fleet.snapshot(1.0, q)
        readings.append((float(s.utilization[0]), float(s.sm_active[0])))
    assert [u for u, _ in readings] == [100.0, 100.0, 100.0]
    assert [sm for _, sm in readings] == pytest.approx([80 / 48, 20.0, 80.0])   # 0.8 x n / 48


@pytest.mark.parametrize(("occ", "free", "k", "expected"), [
    pytest.param([3, 1, 1], [1, 3, 3], 4, [0, 2, 2], id="2 + 2 bring them level at 3"),
    pytest.param([3, 1, 1], [1, 3, 3], 5, [1, 2, 2], id="level at 3, the fifth to the first"),
    pytest.param([0, 0], [5, 5], 3, [2, 1], id="even split, remainder to the first"),
    pytest.param([4, 0], [1, 5], 4, [0, 4], id="least occupied first"),
    pytest.param([4, 0], [1, 5], 5, [1, 4], id="then level"),
    pytest.param([2, 2], [3, 3], 6, [3, 3], id="everything free"),
])
def test_waterfill(occ: list[float], free: list[float], k: float, expected: list[float]) -> None:
    assert waterfill(np.asarray(occ, float), np.asarray(free, float), k).tolist() == expected


def test_grouping_keeps_requests_and_token_distribution() -> None:
    t = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 1.5])
    a = Arrivals.of(t, np.array([1, 2, 3, 4, 5, 6.0]), np.array([10, 20, 30, 40, 50, 60.0]))
    g = group_arrivals(a, 0.0, 1.0, 2)
    # step 0 has 5 arrivals > 2: groups of ceil(5/2) = 3 -> [0.1..0.3], [0.4, 0.5]; step 1 untouched
    assert g.count.tolist() == [3.0, 2.0, 1.0]
    assert g.time.tolist() == pytest.approx([0.2, 0.45, 1.5])
    assert g.prompt.tolist() == [1.0, 4.0, 6.0] and g.output.tolist() == [10.0, 40.0, 60.0]
    assert group_arrivals(a, 0.0, 1.0, 5) is a


def test_grouped_run_stays_close_to_the_exact_one(default_scenario) -> None:  # type: ignore[no-untyped-def]
    trace = PoissonTrace(rate=200.0, duration_s=1200, prompt=1000, output=200, seed=5)
    exact = run(trace, replace(default_scenario, simulation=replace(default_scenario.simulation,
                                                                     max_groups_per_step=0)), replicas=30)
    grouped = run(trace, replace(default_scenario, simulation=replace(default_scenario.simulation,
                                                                       max_groups_per_step=32)), replicas=30)
    assert grouped.requests == exact.requests
    assert grouped.slo_attainment == pytest.approx(exact.slo_attainment, abs=0.01)
    assert grouped.p95_latency_s == pytest.approx(exact.p95_latency_s, rel=0.1)
    assert grouped.littles_law.mean_time_in_system_s == pytest.approx(exact.littles_law.mean_time_in_system_s,
                                                                      rel=0.03)
