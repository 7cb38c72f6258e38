"""The policy registry: a policy is one module and one registration, and every place that
lists policies (``--policy``, the scenario's ``policies`` keys, the tables, the plot) reads it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simulations.compare import parse_policies
from simulations.errors import SimulationInputError
from simulations.policies import build_policy, policy_entry, policy_names
from simulations.policies.registry import register
from simulations.scenario import load_scenario
from tests.simulations.conftest import REPO, scenario_doc, write_yaml

CONTRACT_5_POLICIES = ("ours", "hpa_util", "keda_queue", "kpa", "static_peak", "oracle")


def test_the_registered_policies_are_contract_5s_in_order() -> None:
    assert policy_names() == CONTRACT_5_POLICIES
    assert parse_policies("all") == CONTRACT_5_POLICIES
    colours = {policy_entry(n).color for n in policy_names()}
    assert len(colours) == len(CONTRACT_5_POLICIES)        # each its own colour in the plot


def test_a_name_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register("ours", "#000000")(lambda scenario, plan: build_policy("ours", scenario, plan))


def test_an_unknown_name_says_what_is_known() -> None:
    with pytest.raises(ValueError, match="expected one of ours, hpa_util"):
        policy_entry("nope")


PLUGIN = '''
    """A new policy with a setting of its own: this module and its registration, nothing else."""
    from simulations.policies.plan import StaticPolicy
    from simulations.policies.registry import register


    def read_settings(reader, raw, path):
        reader.unknown(raw, path, ("replicas",))
        return reader.integer(raw, "replicas", path, 2, minimum=1)


    @register("always_n", "#123456", settings=read_settings)
    def always_n(scenario, plan):
        policy = StaticPolicy(scenario.policy_settings["always_n"])
        policy.name = "always_n"
        return policy
'''


def run_with_plugin(tmp_path: Path, settings: dict[str, object]) -> subprocess.CompletedProcess[str]:
    """``gpu-autoscaler simulate --policy ours,always_n`` in a fresh interpreter that imported the plugin."""
    (tmp_path / "always_n_policy.py").write_text(textwrap.dedent(PLUGIN))
    trace = tmp_path / "trace.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(f"{t},100,10\n" for t in range(60)))
    scenario = write_yaml(tmp_path / "s.yaml", scenario_doc(policies={**scenario_doc()["policies"],
                                                                       "always_n": settings}))
    script = "import always_n_policy; from simulations.cli import simulate; simulate()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    return subprocess.run([sys.executable, "-c", script, "--trace", str(trace), "--scenario", str(scenario),
                           "--policy", "ours,always_n", "--output", "json", "--plot", str(tmp_path / "p.png")],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_a_new_policy_is_one_module_and_one_registration(tmp_path: Path) -> None:
    # --policy, the scenario's keys and its settings, the JSON and the plot all know it.
    done = run_with_plugin(tmp_path, {"replicas": 3})
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["results"]
    assert [(r["policy"], r["max_replicas"]) for r in rows][1] == ("always_n", 3)
    assert (tmp_path / "p.png").stat().st_size > 0


def test_a_new_policys_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    done = run_with_plugin(tmp_path, {"replicas": 0})
    assert done.returncode == 2, done.stderr
    assert "policies.always_n.replicas: expected an integer >= 1, got 0" in done.stderr


def test_the_scenario_accepts_exactly_the_registered_policies(tmp_path: Path) -> None:
    doc = scenario_doc(policies={**scenario_doc()["policies"], "not_a_policy": {}})
    with pytest.raises(SimulationInputError, match="not_a_policy"):
        load_scenario(write_yaml(tmp_path / "s.yaml", doc))
