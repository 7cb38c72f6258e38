"""Trace loaders: the per-request CSV, ServeGen windows, slices, scaling, the --trace syntax."""
from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from simulations.errors import SimulationInputError
from simulations.traces import (
    Arrivals,
    PoissonTrace,
    TokenSource,
    chunks,
    load_request_csv,
    load_servegen,
    load_trace,
)
from simulations.traces.resolve import parse_duration, split_spec
from tests.simulations.conftest import shared_trace

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def all_arrivals(trace) -> Arrivals:  # type: ignore[no-untyped-def]
    return Arrivals.concat([a for _, _, a in chunks(trace)])


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ---------------------------------------------------------------- per-request CSV

def test_request_csv_reads_azure_timestamps_and_sorts(tmp_path: Path) -> None:
    p = write(tmp_path, "t.csv", HEADER + "2023-11-16 18:17:05.5000000,100,7\n"
                                          "2023-11-16 18:17:03.9799600,4808,10\n"
                                          "2023-11-16 18:17:04.0000000,20,1\n")
    t = load_request_csv(p)
    a = all_arrivals(t)
    assert a.time.tolist() == pytest.approx([0.0, 0.02004, 1.52004], abs=1e-6)   # from the first arrival, sorted
    assert a.prompt.tolist() == [4808, 20, 100] and a.output.tolist() == [10, 1, 7]
    assert (t.start_s, t.end_s) == (0.0, 2.0)


def test_request_csv_takes_seconds_and_any_column_order(tmp_path: Path) -> None:
    p = write(tmp_path, "t.csv", "GeneratedTokens,TIMESTAMP,ContextTokens\n5,10.5,300\n6,12,400\n")
    a = all_arrivals(load_request_csv(p))
    assert a.time.tolist() == [0.0, 1.5] and a.prompt.tolist() == [300, 400] and a.output.tolist() == [5, 6]


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("", ":1: header: empty file", id="empty"),
    pytest.param("TIMESTAMP,ContextTokens\n1,2\n", ":1: header: missing column(s) GeneratedTokens", id="column"),
    pytest.param(HEADER, ":2: rows: no requests", id="no rows"),
    pytest.param(HEADER + "1,2,3\nyesterday,2,3\n", ":3: TIMESTAMP: expected a date and time", id="timestamp"),
    pytest.param(HEADER + "1,-2,3\n", ":2: ContextTokens: expected a whole number >= 0, got '-2'", id="negative"),
    pytest.param(HEADER + "1,2,3.5\n", ":2: GeneratedTokens: expected a whole number >= 0, got '3.5'",
                 id="fraction"),
    pytest.param(HEADER + "1,2\n", ":2: row: expected 3 fields, got 2", id="short row"),
])
def test_request_csv_errors_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    p = write(tmp_path, "bad.csv", text)
    with pytest.raises(SimulationInputError) as e:
        load_request_csv(p)
    assert str(e.value).startswith(str(p) + expected)


def test_request_csv_reports_every_bad_row(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.csv", HEADER + "1,x,3\n2,2,y\n")
    with pytest.raises(SimulationInputError) as e:
        load_request_csv(p)
    assert [(q.line, q.field) for q in e.value.problems] == [(2, "ContextTokens"), (3, "GeneratedTokens")]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SimulationInputError, match=r":0: file: cannot read"):
        load_request_csv(tmp_path / "nope.csv")


@pytest.fixture
def hundred(tmp_path: Path) -> Path:
    rows = "".join(f"{i * 10},{100 + i},{1 + i}\n" for i in range(100))
    return write(tmp_path, "h.csv", HEADER + rows)


def test_scale_repeats_requests_with_jitter(hundred: Path) -> None:
    base = all_arrivals(load_trace(str(hundred)))
    double = all_arrivals(load_trace(f"{hundred}:scale=2"))
    assert len(double) == 2 * len(base) - 1                  # the last one's copy lands after the end
    assert sorted(double.prompt.tolist()).count(150) == 2    # each request twice, same tokens
    moved = np.abs(double.time[:, None] - base.time[None, :]).min(axis=1)
    assert moved.max() <= 5.0                                # copies within +-jitter/2 of the original


def test_scale_below_one_thins(hundred: Path) -> None:
    half = all_arrivals(load_trace(f"{hundred}:scale=0.5,seed=3"))
    assert 30 <= len(half) <= 70
    again = all_arrivals(load_trace(f"{hundred}:scale=0.5,seed=3"))
    assert half.time.tolist() == again.time.tolist()        # deterministic for a seed


def test_slice_by_start_and_end(hundred: Path) -> None:
    t = load_trace(f"{hundred}:start=100,end=5m")
    a = all_arrivals(t)
    assert (t.start_s, t.end_s) == (100.0, 300.0)
    assert a.time.tolist() == [100.0 + 10 * i for i in range(20)]


# ---------------------------------------------------------------- ServeGen

CLIENT_HEADER = "window_start_s,client_id,requests,iat_cv,iat_dist,iat_shape,iat_scale\n"
TOKENS = TokenSource("tokens", np.array([10.0, 20.0, 30.0]), np.array([1.0, 2.0, 3.0]))


@pytest.fixture
def clients(tmp_path: Path) -> Path:
    rows = ("0,1,120,2.0,Gamma,0.25,4.0\n0,2,30,1.2,Weibull,0.8,1.5\n"
            "600,1,0,0,,,\n600,2,45,1.0,Weibull,1.0,1.0\n"
            "86400,1,10,1.0,Gamma,1.0,1.0\n")
    p = tmp_path / "clients.csv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(CLIENT_HEADER + rows)
    return p


def test_servegen_windows_get_exactly_their_counts(clients: Path) -> None:
    t = load_servegen(clients, TOKENS)
    a = all_arrivals(t)
    per_window = np.bincount((a.time // 600).astype(int))
    assert per_window[0] == 150 and per_window[1] == 45 and per_window[144] == 10
    assert len(a) == 205 and (np.diff(a.time) >= 0).all()
    pairs = set(zip(a.prompt.tolist(), a.output.tolist(), strict=False))
    assert pairs <= {(10.0, 1.0), (20.0, 2.0), (30.0, 3.0)}   # drawn whole from the token source
    assert (t.start_s, t.end_s) == (0.0, 87000.0)


def test_servegen_is_the_same_in_a_slice_and_in_the_whole(clients: Path) -> None:
    whole = all_arrivals(load_servegen(clients, TOKENS))
    day2 = all_arrivals(load_servegen(clients, TOKENS).sliced(86400, 172800))
    assert day2.time.tolist() == whole.time[whole.time >= 86400].tolist()


def test_servegen_gaps_keep_the_fitted_burstiness(tmp_path: Path) -> None:
    gaps_cv = []
    for shape in (0.0625, 1.0):
        q = write(tmp_path, f"one{shape}.csv", CLIENT_HEADER + f"0,1,5000,1,Gamma,{shape},1.0\n")
        g = np.diff(all_arrivals(load_servegen(q, TOKENS)).time)
        gaps_cv.append(g.std() / g.mean())
    # Gamma(shape k) gaps have CV 1/sqrt(k): 4 for k = 1/16, 1 for k = 1
    assert gaps_cv[0] == pytest.approx(4.0, rel=0.25) and gaps_cv[1] == pytest.approx(1.0, rel=0.1)


def test_servegen_scale_multiplies_counts(clients: Path) -> None:
    a = all_arrivals(load_servegen(clients, TOKENS).with_options(scale=2.0))
    assert len(a) == 410


def test_servegen_aggregate_file(tmp_path: Path) -> None:
    p = write(tmp_path, "agg.csv", "window_start_s,requests,mean_rps,active_clients\n0,600,1.0,3\n600,60,0.1,1\n")
    a = all_arrivals(load_servegen(p, TOKENS))
    assert np.bincount((a.time // 600).astype(int)).tolist() == [600, 60]


@pytest.mark.parametrize(("row", "expected"), [
    pytest.param("0,1,10,1,Lognormal,1,1", ":2: iat_dist: expected one of Gamma, Weibull, got 'Lognormal'", id="dist"),
    pytest.param("0,1,10,1,Gamma,0,1", ":2: iat_shape: expected a number > 0", id="shape"),
    pytest.param("30,1,10,1,Gamma,1,1", ":2: window_start_s: expected a multiple of 600 s", id="window"),
    pytest.param("0,1,2.5,1,Gamma,1,1", ":2: requests: expected a whole number >= 0", id="requests"),
    pytest.param("0,1,10,1,Gamma", ":2: row: expected 7 fields, got 5", id="fields"),
])
def test_servegen_errors_name_file_line_and_field(tmp_path: Path, row: str, expected: str) -> None:
    p = write(tmp_path, "bad.csv", CLIENT_HEADER + row + "\n")
    with pytest.raises(SimulationInputError) as e:
        load_servegen(p, TOKENS)
    assert str(e.value).startswith(str(p) + expected)


# ---------------------------------------------------------------- --trace syntax

@pytest.mark.parametrize(("spec", "target", "options"), [
    ("azure_llm_2023_code", "azure_llm_2023_code", {}),
    ("servegen_m_large:day=1,scale=0.5", "servegen_m_large", {"day": "1", "scale": "0.5"}),
    ("/data/x:y.csv", "/data/x:y.csv", {}),
])
def test_split_spec(spec: str, target: str, options: dict[str, str]) -> None:
    req = split_spec(spec)
    assert (req.target, req.options) == (target, options)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("90m", 5400.0), ("6h", 21600.0), ("2d", 172800.0),
                                               ("1.5h", 5400.0)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("spec", "expected"), [
    pytest.param("poisson:rate=2", "--trace:0: duration: is required", id="poisson needs a duration"),
    pytest.param("poisson:rate=0,duration=10", "--trace:0: rate: expected a number > 0", id="rate"),
    pytest.param("poisson:rate=1,duration=10,colour=red", "--trace:0: colour: unknown option", id="option"),
    pytest.param("nope.csv", "nope.csv:0: file: no such file", id="missing"),
])
def test_bad_trace_specs(spec: str, expected: str) -> None:
    with pytest.raises(SimulationInputError) as e:
        load_trace(spec)
    assert str(e.value).startswith(expected)


def test_day_out_of_range(clients: Path) -> None:
    with pytest.raises(SimulationInputError, match=r"--trace:0: day: expected a day number 1\.\.2, got '3'"):
        load_trace(f"{clients}:day=3,tokens={_tokens_file(clients.parent)}")


def _tokens_file(folder: Path) -> Path:
    p = folder / "tokens.csv"
    p.write_text(HEADER + "0,10,1\n1,20,2\n")
    return p


def test_bundled_names_resolve_against_the_traces_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "azure_llm_2023_code.csv", HEADER + "0,1,1\n1,2,2\n")
    monkeypatch.setenv("GPU_AUTOSCALER_TRACES", str(tmp_path))
    assert len(all_arrivals(load_trace("azure_llm_2023_code"))) == 2


def test_poisson_source() -> None:
    a = all_arrivals(load_trace("poisson:rate=50,duration=2h,seed=2"))
    assert len(a) == pytest.approx(50 * 7200, rel=0.02)
    gaps = np.diff(a.time)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.02)
    same = all_arrivals(PoissonTrace(rate=50, duration_s=7200, seed=2))
    assert a.time.tolist() == same.time.tolist()


# ---------------------------------------------------------------- the real traces (smoke)

@pytest.mark.parametrize(("name", "requests"), [("azure_llm_2023_code.csv", 8819),
                                                ("azure_llm_2023_conv.csv", 19366)])
def test_real_azure_traces(name: str, requests: int) -> None:
    t = load_request_csv(shared_trace(name))
    assert len(t.data) == requests
    assert 3400 < t.end_s < 3600


def test_real_servegen_hour_matches_the_aggregate() -> None:
    clients = shared_trace("servegen_m_large_clients.csv.gz")
    aggregate = shared_trace("servegen_m_large_10min.csv")
    with open(aggregate) as fh:
        counts = {int(r["window_start_s"]): int(r["requests"]) for r in csv.DictReader(fh)}
    t = load_trace(f"{clients}:start=22h,end=23h")
    a = all_arrivals(t)
    expected = sum(counts[w] for w in range(79200, 82800, 600))
    assert len(a) == expected
    assert a.time.min() >= 79200 and a.time.max() < 82800
