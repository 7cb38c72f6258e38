"""``gpu-autoscaler simulate``: exit codes, the table, Contract 5 JSON, the plot, progress."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoscaler.cli import main
from simulations.cli import simulate
from simulations.stats import CONTRACT_FIELDS
from tests.simulations.conftest import scaler_doc, scenario_doc, write_yaml

POLICIES = ["ours", "hpa_util", "keda_queue", "kpa", "static_peak", "oracle"]


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    # 20 minutes: 1 request/s, then 4/s for 5 minutes, then 1/s again
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    t = 0.0
    while t < 1200:
        lines.append(f"{t:.3f},500,40")
        t += 0.25 if 400 <= t < 700 else 1.0
    p = tmp_path / "trace.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    doc = scenario_doc(model={"slots": 4, "startupSeconds": 30},
                       policies={"ours": {"scaler": scaler_doc(maxReplicas=6, startupSeconds=30)}})
    return write_yaml(tmp_path / "scenario.yaml", doc)


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(simulate, list(args))


def test_table(trace: Path, scenario: Path) -> None:
    r = invoke("--trace", str(trace), "--scenario", str(scenario))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("trace: ") and "requests over" in lines[0]
    rows = [ln.split("|")[1].strip() for ln in lines if ln.startswith("| ") and "policy" not in ln]
    assert rows == POLICIES


def test_json_is_contract_5(trace: Path, scenario: Path) -> None:
    r = invoke("--trace", str(trace), "--scenario", str(scenario), "--output", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["trace"] == str(trace) and doc["scenario"] == str(scenario)
    assert [row["policy"] for row in doc["results"]] == POLICIES
    for row in doc["results"]:
        assert set(CONTRACT_FIELDS) <= set(row)
        assert row["requests"] == 2100
        assert 0.0 <= row["slo_attainment"] <= 1.0
        assert row["p50_latency_s"] <= row["p95_latency_s"] <= row["p99_latency_s"]
        assert row["gpu_hours"] > 0 and row["max_replicas"] >= 1
        assert row["littles_law_relative_error"] < 1e-6


def test_one_policy_and_a_plot(trace: Path, scenario: Path, tmp_path: Path) -> None:
    png = tmp_path / "out.png"
    r = invoke("--trace", str(trace), "--scenario", str(scenario), "--policy", "ours,oracle", "--output", "json",
               "--plot", str(png))
    assert r.exit_code == 0, r.output
    assert [row["policy"] for row in json.loads(r.stdout)["results"]] == ["ours", "oracle"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_goes_to_stderr(trace: Path, scenario: Path) -> None:
    r = invoke("--trace", str(trace), "--scenario", str(scenario), "--policy", "ours", "--output", "json",
               "--progress")
    assert r.exit_code == 0
    assert "ours: 100 %" in r.stderr and "ours" not in r.stdout.split('"results"')[0]
    json.loads(r.stdout)


@pytest.mark.parametrize(("make_args", "expected"), [
    pytest.param(lambda t, s, d: ["--trace", str(d / "none.csv"), "--scenario", str(s)], ":0: file: no such file",
                 id="missing trace"),
    pytest.param(lambda t, s, d: ["--trace", str(_bad_trace(d)), "--scenario", str(s)],
                 ":3: ContextTokens: expected a whole number >= 0", id="bad trace row"),
    pytest.param(lambda t, s, d: ["--trace", str(t), "--scenario", str(_bad_scenario(d))],
                 ":2: model.slots: expected an integer >= 1", id="bad scenario"),
    pytest.param(lambda t, s, d: ["--trace", f"{t}:scale=-1", "--scenario", str(s)],
                 "--trace:0: scale: expected a number > 0", id="bad option"),
    pytest.param(lambda t, s, d: ["--trace", str(t), "--scenario", str(s), "--policy", "hpa"],
                 "Invalid value for --policy", id="unknown policy"),
])
def test_bad_input_exits_2_without_a_traceback(trace: Path, scenario: Path, tmp_path: Path, make_args,  # type: ignore[no-untyped-def]
                                               expected: str) -> None:
    r = invoke(*make_args(trace, scenario, tmp_path))
    assert r.exit_code == 2
    assert expected in r.stderr
    assert "Traceback" not in r.output


def _bad_trace(d: Path) -> Path:
    p = d / "bad.csv"
    p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n0,10,5\n1,ten,5\n")
    return p


def _bad_scenario(d: Path) -> Path:
    p = d / "bad.yaml"
    p.write_text("model:\n  slots: 0\npolicies: {ours: {scaler: " + json.dumps(scaler_doc()) + "}}\n")
    return p


def test_plot_into_a_missing_folder_exits_2(trace: Path, scenario: Path, tmp_path: Path) -> None:
    # bad input, refused before anything is written (as dry-run --plot: autoscaler/safe_output.py)
    r = invoke("--trace", str(trace), "--scenario", str(scenario), "--policy", "oracle",
               "--plot", str(tmp_path / "no" / "such" / "dir" / "p.png"))
    assert r.exit_code == 2
    assert "cannot write the plot" in r.stderr


def test_registered_on_gpu_autoscaler(trace: Path, scenario: Path) -> None:
    r = CliRunner().invoke(main, ["simulate", "--trace", str(trace), "--scenario", str(scenario),
                                  "--policy", "static_peak"])
    assert r.exit_code == 0, r.output
    assert "static_peak" in r.stdout
