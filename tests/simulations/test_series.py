"""What a simulated replica exposes: DESIGN.md Contract 2's series, by name, per pod, with
the meaning a real model server and the exporter give them (issue 10, item 2)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from simulations.fleet import Fleet, Snapshot
from simulations.frontqueue import FrontQueue
from simulations.replica_metrics import SERIES
from simulations.scenario import ModelServer
from simulations.traces import Arrivals, RequestTrace
from tests.simulations.conftest import UNIT_MODEL, make_scenario, run

#: 1 ms a prompt token, 10 ms a decode step whatever the batch, 10,000 tokens of KV cache.
MODEL = replace(UNIT_MODEL, slots=4, prefill_s_per_token=0.001, decode_step_s=0.01, kv_cache_tokens=10_000.0)


def trace(times: list[float], prompt: float, output: float) -> RequestTrace:
    t = np.asarray(times, dtype=float)
    n = t.shape[0]
    return RequestTrace("t", 0.0, 100.0, Arrivals.of(t, np.full(n, prompt), np.full(n, output)))


def snapshots(model: ModelServer, tr: RequestTrace, replicas: int, until: int) -> list[Snapshot]:
    """One snapshot at the end of each 1 s step, as the engine takes them."""
    fleet = Fleet(model, replicas, 0.0)
    q = FrontQueue(tr, 1.0)
    out = []
    for t in range(until):
        q.ensure(t + 1.0)
        fleet.advance(float(t))
        fleet.admit(float(t), t + 1.0, q)
        out.append(fleet.snapshot(t + 1.0, q))
    return out


def test_every_contract_2_series_is_there_per_pod() -> None:
    snaps = snapshots(MODEL, trace([0.0, 0.0, 0.0], prompt=500, output=300), replicas=2, until=2)
    s = snaps[-1]
    assert set(SERIES) == set(s.series)
    for name in ("inference_queue_depth", "inference_running_requests", "inference_prompt_tokens_total",
                 "inference_generation_tokens_total", "inference_kv_cache_usage_ratio", "gpu_sm_active_ratio",
                 "gpu_utilization_ratio"):
        assert s.series[name].shape == s.serial.shape, name
    # the old attributes stay, with the same numbers (ratios are the percentages / 100)
    assert s.series["inference_queue_depth"].tolist() == s.queue.tolist()
    assert s.series["inference_running_requests"].tolist() == s.running.tolist()
    assert (s.series["gpu_utilization_ratio"] * 100).tolist() == s.utilization.tolist()
    assert (s.series["gpu_sm_active_ratio"] * 100).tolist() == pytest.approx(s.sm_active.tolist())


def test_token_counters_count_work_done_and_kv_cache_what_is_held() -> None:
    # One replica; one request of 2,000 prompt tokens (2 s of prefill) and 100 output tokens
    # (1 s of decode at 10 ms a step): prefill 0..2 s, decode 2..3 s.
    snaps = snapshots(MODEL, trace([0.0], prompt=2000, output=100), replicas=1, until=5)
    prompt = [float(s.series["inference_prompt_tokens_total"][0]) for s in snaps]
    generated = [float(s.series["inference_generation_tokens_total"][0]) for s in snaps]
    kv = [float(s.series["inference_kv_cache_usage_ratio"][0]) for s in snaps]
    assert prompt == pytest.approx([1000, 2000, 2000, 2000, 2000])      # at t = 1 s half the prompt is prefilled
    assert generated == pytest.approx([0, 0, 100, 100, 100])            # decoded 2..3 s
    # held at t = 1: 1,000 of 10,000 tokens; t = 2: the prompt, 2,000; finished at 3: nothing held
    assert kv == pytest.approx([0.1, 0.2, 0.0, 0.0, 0.0])


def test_counters_never_go_back_when_requests_finish() -> None:
    tr = trace([float(t) / 2 for t in range(40)], prompt=300, output=50)
    snaps = snapshots(MODEL, tr, replicas=2, until=30)
    for name in ("inference_prompt_tokens_total", "inference_generation_tokens_total",
                 "inference_time_to_first_token_seconds_count"):
        totals = [float(s.series[name].sum()) for s in snaps]
        assert all(b >= a - 1e-9 for a, b in zip(totals, totals[1:], strict=False)), name
    last = snaps[-1]
    # everything arrived by 19.5 s and finished by 30 s: the counters hold the whole trace's work
    assert float(last.series["inference_prompt_tokens_total"].sum()) == pytest.approx(40 * 300)
    assert float(last.series["inference_generation_tokens_total"].sum()) == pytest.approx(40 * 50)
    assert float(last.series["inference_time_to_first_token_seconds_count"].sum()) == 40


def test_time_to_first_token_and_queue_time_as_sum_and_count() -> None:
    # Three 1,000-token prompts at 0 on one replica: first tokens at 1, 2 and 3 s;
    # TTFT sum 1 + 2 + 3 = 6 s, queue time (waiting for the prefill engine) 0 + 1 + 2 = 3 s.
    snaps = snapshots(MODEL, trace([0.0, 0.0, 0.0], prompt=1000, output=1), replicas=1, until=5)
    s = snaps[-1].series
    assert float(s["inference_time_to_first_token_seconds_count"][0]) == 3
    assert float(s["inference_time_to_first_token_seconds_sum"][0]) == pytest.approx(6.0)
    assert float(s["inference_queue_time_seconds_sum"][0]) == pytest.approx(3.0)
    # at t = 2 s two first tokens are out (1 s and 2 s)
    early = snaps[1].series
    assert float(early["inference_time_to_first_token_seconds_count"][0]) == 2
    assert float(early["inference_time_to_first_token_seconds_sum"][0]) == pytest.approx(3.0)


def test_a_reused_replica_starts_its_counters_from_zero() -> None:
    # Two replicas serve for 10 s, one is removed (idle, so gone at once) and a new one added:
    # the new pod's counters start at 0, as a new server process's do.
    fleet = Fleet(MODEL, 2, 0.0)
    q = FrontQueue(trace([0.0, 0.0], prompt=100, output=10), 1.0)
    for t in range(10):
        q.ensure(t + 1.0)
        fleet.advance(float(t))
        fleet.admit(float(t), t + 1.0, q)
    before = fleet.snapshot(10.0, q)
    assert float(before.series["inference_prompt_tokens_total"].sum()) == pytest.approx(200)
    fleet.scale_to(1, 10.0)
    fleet.add(1, 10.0, ready=True)
    fleet.advance(10.0)
    after = fleet.snapshot(11.0, q)
    new = after.serial.tolist().index(2)
    assert float(after.series["inference_prompt_tokens_total"][new]) == 0.0
    assert float(after.series["inference_prompt_tokens_total"].sum()) == pytest.approx(100)


@dataclass(frozen=True)
class HalfSecondSteps(ModelServer):
    """A model server whose decode step is 0.5 s whatever the batch."""

    def step_time(self, batch: float | np.ndarray) -> float:
        return 0.5


def test_decode_time_is_the_model_servers_step_time() -> None:
    # The fleet has no service-time formula of its own: 10 output tokens at 0.5 s a step = 5 s.
    model = HalfSecondSteps(slots=4, prefill_s_per_token=0.0, decode_step_s=1.0, decode_step_s_per_seq=0.0,
                            startup_s=0.0)
    result = run(trace([0.5], prompt=0, output=10), make_scenario(model=model))
    assert result.littles_law.mean_time_in_system_s == pytest.approx(5.0)
