"""Memory bounded by what the input holds, not by the span it claims (issue 11, class 3):
a run steps through every second of its span, so a span over the cap is refused with
exit 2 before anything of its size is allocated."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulations.cli import simulate
from simulations.engine import MAX_SPAN_S, MAX_STEPS
from tests.simulations.conftest import REPO, scenario_doc, write_yaml

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def test_the_caps() -> None:
    assert MAX_SPAN_S == 31 * 86400 and MAX_STEPS == 31 * 86400    # a month at 1 s steps


@pytest.mark.parametrize(("rows", "expected"), [
    pytest.param("2024-01-01T00:00:00,100,10\n2025-01-01T00:00:00,100,10\n",
                 "span: the trace spans 366.0 days", id="two requests a year apart"),
    pytest.param("0,100,10\n2764800,100,10\n", "span: the trace spans 32.0 days", id="32 days in seconds"),
])
def test_a_span_over_the_cap_exits_2(tmp_path: Path, rows: str, expected: str) -> None:
    trace = tmp_path / "far.csv"
    trace.write_text(HEADER + rows)
    r = CliRunner().invoke(simulate, ["--trace", str(trace)])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"{trace}:0: {expected}") and "Traceback" not in r.output
    assert "expected at most 31 days" in r.stderr


def test_too_many_steps_exits_2(tmp_path: Path) -> None:
    # two hours (the trace ends 1 s after its last request) at 1 ms steps:
    # (7,201 + 3,600 s of drain) / 0.001 = 10,801,000 steps
    trace = tmp_path / "t.csv"
    trace.write_text(HEADER + "0,100,10\n7200,100,10\n")
    scenario = write_yaml(tmp_path / "s.yaml", scenario_doc(simulation={"stepSeconds": 0.001, "drainSeconds": 3600}))
    r = CliRunner().invoke(simulate, ["--trace", str(trace), "--scenario", str(scenario)])
    assert r.exit_code == 2, r.output
    assert "10,801,000 steps; expected at most 2,678,400" in r.stderr


def test_a_year_apart_is_refused_within_a_small_memory_limit(tmp_path: Path) -> None:
    # In a process limited to 1 GiB of address space the refusal comes before any allocation:
    # 31.6 million steps of per-step arrays (and the oracle's per-second plan) would need more.
    trace = tmp_path / "far.csv"
    trace.write_text(HEADER + "2024-01-01T00:00:00,100,10\n2025-01-01T00:00:00,100,10\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", "from simulations.cli import simulate; simulate()",
                           "--trace", str(trace), "--policy", "ours"],
                          capture_output=True, text=True, env=env, preexec_fn=limit, timeout=120, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "span: the trace spans 366.0 days" in done.stderr
