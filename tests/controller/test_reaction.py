"""The reaction benchmark's machinery, run once small so it cannot rot.

Two runs of the fast configuration over the real chain (benchmarks/reaction.py): each
must come back with every stamp found, in an order that makes sense, and stages that
add up to the total. No timing thresholds: those are the benchmark's to print.
"""

from __future__ import annotations

import math

import pytest

from benchmarks.reaction import CONFIGS, STAGES, format_report, measure, parse_rfc3339, percentile
from simulations.cluster.prometheus import prometheus_available


@pytest.mark.parametrize(
    "values, p, expected",
    [
        pytest.param([3.0], 95, 3.0, id="one-value"),
        pytest.param([1.0, 2.0, 3.0, 4.0, 5.0], 50, 3.0, id="median"),
        # 20 values 1..20: rank (20 - 1) x 0.95 = 18.05 -> 19 + 0.05 x (20 - 19) = 19.05
        pytest.param([float(x) for x in range(20, 0, -1)], 95, 19.05, id="p95-of-20-interpolates"),
    ],
)
def test_percentile(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("2026-12-02T03:00:00Z", 1796180400.0, id="whole-seconds"),
        pytest.param("2026-12-02T03:00:00.123456789Z", 1796180400.123456789, id="nanoseconds"),
    ],
)
def test_parse_rfc3339(text: str, expected: float) -> None:
    assert parse_rfc3339(text) == pytest.approx(expected, abs=1e-6)


def test_two_fast_runs_measure_every_stage() -> None:
    if not prometheus_available():
        pytest.skip("prometheus is not installed (make test installs it)")
    report = measure(CONFIGS["fast"], 2, seed=3, cost_window_s=2.0)
    assert report.missed == []
    assert len(report.runs) == 2
    for run in report.runs:
        stages = run.stages
        assert list(stages) == list(STAGES)
        assert math.fsum(stages.values()) == pytest.approx(run.total, abs=1e-9)
        # Causal order where one step must wait for the one before (Prometheus stamps a
        # sample with its scrape's start, so scrape may precede the exporter's answer by a
        # scrape's duration; a tick may start just before the scrape it queries).
        assert run.raised <= run.sampled and run.tick <= run.queried <= run.decided <= run.patched
        assert run.scraped >= run.raised
        assert 0 < run.total < 60
    # CPU is read from /proc in 10 ms ticks: over a 2 s window an idle controller may read 0.
    assert report.cost is not None and report.cost.samples_per_s > 0
    assert report.cost.controller_cpu_per_s >= 0 and report.cost.prometheus_cpu_per_s >= 0
    text = format_report(report)
    assert "p95" in text and all(stage in text for stage in STAGES)
