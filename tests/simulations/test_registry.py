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
    """A new policy: this module and its registration, nothing else."""
    from simulations.policies.plan import StaticPolicy
    from simulations.policies.registry import register


    @register("always_two", "#123456")
    def always_two(scenario, plan):
        policy = StaticPolicy(2)
        policy.name = "always_two"
        return policy
'''


def test_a_new_policy_is_one_module_and_one_registration(tmp_path: Path) -> None:
    # A fresh interpreter imports the module; then --policy, the scenario's keys and the plot know it.
    (tmp_path / "always_two_policy.py").write_text(textwrap.dedent(PLUGIN))
    trace = tmp_path / "trace.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(f"{t},100,10\n" for t in range(60)))
    scenario = write_yaml(tmp_path / "s.yaml", scenario_doc(policies={**scenario_doc()["policies"], "always_two": {}}))
    script = textwrap.dedent(f"""
        import json, always_two_policy
        from simulations.compare import compare, parse_policies
        from simulations.plot import plot
        c = compare({str(trace)!r}, {str(scenario)!r}, parse_policies("ours,always_two"))
        plot(c, {str(tmp_path / "p.png")!r})
        print(json.dumps([r["policy"] for r in c.to_json()["results"]] + [r.max_replicas for r in c.results]))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    policies_and_max = json.loads(done.stdout.splitlines()[-1])
    assert policies_and_max[:2] == ["ours", "always_two"] and policies_and_max[3] == 2
    assert (tmp_path / "p.png").stat().st_size > 0


def test_the_scenario_accepts_exactly_the_registered_policies(tmp_path: Path) -> None:
    doc = scenario_doc(policies={**scenario_doc()["policies"], "not_a_policy": {}})
    with pytest.raises(SimulationInputError, match="not_a_policy"):
        load_scenario(write_yaml(tmp_path / "s.yaml", doc))
