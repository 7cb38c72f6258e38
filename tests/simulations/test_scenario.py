"""Scenario files: documented defaults, and errors as FILE:LINE: field: what is wrong."""
from __future__ import annotations

from pathlib import Path

import pytest

from simulations.errors import SimulationInputError
from simulations.scenario import SCENARIO_DIR, load_scenario
from tests.simulations.conftest import scaler_doc, scenario_doc, write_yaml


def test_default_scenario() -> None:
    sc = load_scenario("default")
    assert sc.source == str(SCENARIO_DIR / "default.yaml")
    m = sc.model
    assert (m.slots, m.prefill_s_per_token, m.startup_s) == (48, 0.0001, 90.0)
    assert m.step_time(1) == pytest.approx(0.01233) and m.step_time(48) == pytest.approx(0.02784)
    assert (sc.slo.latency, sc.slo.threshold_s, sc.slo.scaled_factor) == ("ttft", 2.0, 5.0)
    assert (m.kv_cache_tokens, m.routing) == (120_000, "prefillAware")
    assert sc.ours.max_replicas == 64 and sc.ours.startup_seconds == 90
    assert (sc.hpa_util.target_utilization, sc.hpa_util.sync_s) == (60.0, 15)
    assert sc.keda_queue.polling_s == 30
    assert (sc.kpa.stable_window_s, sc.kpa.panic_window_s, sc.kpa.panic_threshold) == (60.0, 6.0, 2.0)


BAD_MODEL = """\
name: t
model:
  slots: 0
  startupSeconds: -5
policies:
  ours:
    scaler: {scaler}
"""


def _scaler_flow() -> str:
    import json
    return json.dumps(scaler_doc())


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(BAD_MODEL.format(scaler=_scaler_flow()),
                 [":3: model.slots: expected an integer >= 1, got 0",
                  ":4: model.startupSeconds: expected a number >= 0, got -5"], id="model fields"),
    pytest.param("name: t\nslo: {latency: p99}\npolicies:\n  ours:\n    scaler: " + _scaler_flow() + "\n",
                 [":2: slo.latency: expected one of ttft, e2e, got 'p99'"], id="slo"),
    pytest.param("name: t\nmodel: {routing: random, kvCacheTokens: 0}\nslo: {scaledFactor: 0.5}\npolicies:\n"
                 "  ours:\n    scaler: " + _scaler_flow() + "\n",
                 [":2: model.kvCacheTokens: expected a number > 0, got 0",
                  ":2: model.routing: expected one of leastRequest, prefillAware, got 'random'",
                  ":3: slo.scaledFactor: expected a number >= 1, got 0.5"], id="routing, KV cache, scaled SLO"),
    pytest.param("name: t\nmodle: {}\npolicies: {ours: {scaler: " + _scaler_flow() + "}}\n",
                 [":2: modle: unknown field"], id="unknown field"),
    pytest.param("name: t\n", [":1: policies: is required"], id="no policies"),
    pytest.param("name: [t\n", [":2: document: not valid YAML"], id="yaml"),
])
def test_scenario_errors(tmp_path: Path, text: str, expected: list[str]) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    with pytest.raises(SimulationInputError) as e:
        load_scenario(p)
    got = [str(q) for q in e.value.problems]
    assert len(got) == len(expected)
    for g, x in zip(got, expected, strict=False):
        assert g.startswith(str(p) + x), g


def test_errors_inside_the_scaler_point_at_its_lines(tmp_path: Path) -> None:
    doc = scenario_doc(policies={"ours": {"scaler": scaler_doc(minReplicas=5, maxReplicas=2)}})
    p = write_yaml(tmp_path / "s.yaml", doc)
    line = next(i for i, t in enumerate(p.read_text().splitlines(), 1) if "maxReplicas" in t)
    with pytest.raises(SimulationInputError) as e:
        load_scenario(p)
    (problem,) = e.value.problems
    assert (problem.line, problem.field) == (line, "policies.ours.scaler.spec.maxReplicas")


def test_prometheus_metrics_must_be_ones_the_simulator_answers(tmp_path: Path) -> None:
    metric = {"type": "Prometheus", "name": "tokens_per_second", "query": "sum(x)", "target": {"value": 5}}
    p = write_yaml(tmp_path / "s.yaml", scenario_doc(policies={"ours": {"scaler": scaler_doc(metrics=[metric])}}))
    with pytest.raises(SimulationInputError, match="metrics\\[0\\].name: the simulator cannot answer"):
        load_scenario(p)


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(SimulationInputError, match=r"nope.yaml:0: file: cannot read"):
        load_scenario(tmp_path / "nope.yaml")
