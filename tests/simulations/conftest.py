"""Builders for the simulator's tests: small scenarios, fleets and checked runs."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulations.engine import simulate
from simulations.policies import Plan, Policy, StaticPolicy
from simulations.scenario import ModelServer, Scenario, SimulationSettings, load_scenario, parse_scenario
from simulations.stats import PolicyResult
from simulations.traces import Trace

REPO = Path(__file__).resolve().parents[2]
#: The shared traces: ``$GPU_AUTOSCALER_TRACES`` as the simulator reads it, else beside the clone.
SHARED_TRACES = Path(os.environ.get("GPU_AUTOSCALER_TRACES") or REPO.parent / "shared" / "traces")

#: A model server whose service time is exactly the output token count in seconds:
#: no prefill, a 1 s decode step that does not depend on the batch.
UNIT_MODEL = ModelServer(slots=10, prefill_s_per_token=0.0, decode_step_s=1.0, decode_step_s_per_seq=0.0,
                         startup_s=0.0)


def scaler_doc(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
        "minReplicas": 1, "maxReplicas": 8, "pollingIntervalSeconds": 15, "startupSeconds": 60,
        "metrics": [{"type": "QueueDepth", "target": {"averageValue": 2}}],
    }
    base.update(spec)
    return {"apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
            "metadata": {"name": "llm", "namespace": "serving"}, "spec": base}


def scenario_doc(**top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": "test", "policies": {"ours": {"scaler": scaler_doc()}},
                           "simulation": {"maxGroupsPerStep": 0}}
    doc.update(top)
    return doc


def make_scenario(model: ModelServer = UNIT_MODEL, step_s: float = 1.0, seed: int = 1, groups: int = 0,
                  drain_s: float = 36000.0, **top: Any) -> Scenario:
    sc = parse_scenario(scenario_doc(**top))
    return replace(sc, model=model, simulation=SimulationSettings(step_s=step_s, seed=seed,
                                                                  max_groups_per_step=groups, drain_s=drain_s))


def write_yaml(path: Path, doc: Any) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def assert_littles_law(r: PolicyResult) -> None:
    """Little's law, L = lambda W, on a run that starts and ends empty: L is the exact time
    integral of the requests in the system from the fleet's books (queue, admissions,
    slot releases), lambda W comes from the requests' own latencies. They must agree to
    rounding; a gap means a request lost, counted twice or timed wrong."""
    assert r.littles_law.relative_error <= 1e-6, r.littles_law


def run(trace: Trace, scenario: Scenario, policy: Policy | None = None, replicas: int = 1) -> PolicyResult:
    """One checked run: every run in these tests also checks Little's law."""
    result = simulate(trace, scenario, policy or StaticPolicy(replicas), Plan(trace, scenario))
    assert_littles_law(result)
    assert result.unserved_requests == 0
    return result


@pytest.fixture(scope="session")
def default_scenario() -> Scenario:
    return load_scenario("default")


def shared_trace(name: str) -> Path:
    path = SHARED_TRACES / name
    if not path.exists():
        pytest.skip(f"{path} not present (the shared traces folder beside the clone)")
    return path
