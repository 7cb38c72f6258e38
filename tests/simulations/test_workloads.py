"""Generated held-out workloads (simulations/traces/workloads.py): deterministic, bounded, as documented."""
from __future__ import annotations

import numpy as np
import pytest

from simulations.errors import SimulationInputError
from simulations.traces import Arrivals, chunks, load_trace
from simulations.traces.workloads import KINDS, WORKLOADS, OnOff, Steps, Swell, WorkloadTrace


def all_arrivals(spec: str, chunk_s: float = 3600.0) -> Arrivals:
    return Arrivals.concat([a for _, _, a in chunks(load_trace(spec), chunk_s)])


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_spec_gives_the_same_requests_however_it_is_read(kind: str) -> None:
    whole = all_arrivals(f"synthetic:kind={kind},duration=90m")
    in_pieces = all_arrivals(f"synthetic:kind={kind},duration=90m", chunk_s=250.0)   # across the 1 h block
    again = all_arrivals(f"synthetic:kind={kind},duration=90m,seed=1")
    for a in (in_pieces, again):
        assert a.time.tolist() == whole.time.tolist()
        assert a.prompt.tolist() == whole.prompt.tolist() and a.output.tolist() == whole.output.tolist()
    other = all_arrivals(f"synthetic:kind={kind},duration=90m,seed=2")
    assert other.time.shape != whole.time.shape or not np.array_equal(other.time, whole.time)


@pytest.mark.parametrize("kind", KINDS)
def test_requests_follow_the_rate_and_the_token_distributions(kind: str) -> None:
    trace = WorkloadTrace(kind)
    a = all_arrivals(f"synthetic:kind={kind}")
    grid = np.arange(0.0, trace.duration_s, 1.0) + 0.5
    expected = float(trace.rate(grid).sum())            # the integral of the rate, at 1 s resolution
    assert len(a) == pytest.approx(expected, rel=0.03)
    assert np.all(np.diff(a.time) >= 0) and a.time.min() >= 0 and a.time.max() < trace.duration_s
    w = WORKLOADS[kind]
    for tokens, dist in ((a.prompt, w.prompt), (a.output, w.output)):
        assert tokens.min() >= dist.lo and tokens.max() <= dist.hi
        assert np.array_equal(tokens, np.round(tokens))
        assert float(np.median(tokens)) == pytest.approx(dist.median, rel=0.05)


def test_rate_shapes_with_worked_numbers() -> None:
    # swell 2 -> 30: (2 + 30) / 2 - (30 - 2) / 2 x cos(2 pi t / 5400): 2 at 0, 16 at 1350 s, 30 at 2700 s
    swell = Swell(low=2.0, high=30.0, period_s=5400.0)
    assert swell.rate(np.array([0.0, 1350.0, 2700.0])) == pytest.approx([2.0, 16.0, 30.0])
    steps = Steps(((0.0, 5.0), (1800.0, 15.0), (4200.0, 8.0)))
    assert steps.rate(np.array([0.0, 1799.0, 1800.0, 4199.0, 7000.0])).tolist() == [5.0, 5.0, 15.0, 15.0, 8.0]
    trace = WorkloadTrace("onoff_mixed", scale=2.0)
    rates = trace.rate(np.arange(0.0, 7200.0, 1.0))
    shape = WORKLOADS["onoff_mixed"].shape
    assert isinstance(shape, OnOff)
    assert set(rates.tolist()) == {2 * shape.on_rate, 2 * shape.off_rate}
    assert rates[0] == 2 * shape.off_rate                       # it starts off
    on_share = float(np.mean(rates == 2 * shape.on_rate))
    assert 0.25 < on_share < 0.75                                # ~300 s on, ~300 s off


def test_scale_multiplies_the_requests() -> None:
    one = len(all_arrivals("synthetic:kind=chat_step,duration=1h"))
    three = len(all_arrivals("synthetic:kind=chat_step,duration=1h,scale=3"))
    assert three / one == pytest.approx(3.0, rel=0.05)


def test_describe_names_the_kind_the_seed_and_the_shape() -> None:
    text = load_trace("synthetic:kind=chat_step,seed=4").describe()
    assert text.startswith("chat_step, seed 4: chat with rate steps")
    assert "steps 5 req/s -> 15 req/s at 30 min -> 8 req/s at 70 min" in text
    assert "prompts median 1,000 (σ 0.7, 20..16,000)" in text


@pytest.mark.parametrize(("spec", "expected"), [
    pytest.param("synthetic", "--trace:0: kind: is required; expected one of onoff_mixed, ", id="no kind"),
    pytest.param("synthetic:seed=2", "--trace:0: kind: is required", id="options but no kind"),
    pytest.param("synthetic:kind=diurnal", "--trace:0: kind: expected one of onoff_mixed, ", id="unknown kind"),
    pytest.param("synthetic:kind=chat_step,rate=3", "--trace:0: rate: not an option of synthetic; expected kind, "
                 "seed, duration, scale", id="a Poisson option"),
    pytest.param("synthetic:kind=chat_step,duration=32d", "--trace:0: duration: expected a duration above 0 and "
                 "at most 31 days, got '32d'", id="longer than the simulator takes"),
    pytest.param("synthetic:kind=chat_step,duration=0", "--trace:0: duration: expected a duration above 0",
                 id="empty"),
    pytest.param("synthetic:kind=chat_step,scale=0", "--trace:0: scale: expected a number > 0", id="scale"),
    pytest.param("synthetic:kind=chat_step,seed=x", "--trace:0: seed: expected a whole number", id="seed"),
])
def test_bad_synthetic_specs(spec: str, expected: str) -> None:
    with pytest.raises(SimulationInputError) as e:
        load_trace(spec)
    assert str(e.value).startswith(expected)


def test_a_month_long_workload_is_generated_a_block_at_a_time() -> None:
    trace = load_trace("synthetic:kind=short_bursts,duration=31d")
    a = trace.arrivals(30 * 86400.0, 30 * 86400.0 + 600.0)      # one slice of the last day, nothing before it
    assert len(a) > 0 and a.time.min() >= 30 * 86400.0 and a.time.max() < 30 * 86400.0 + 600.0
