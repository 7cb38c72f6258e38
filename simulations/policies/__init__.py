"""The policies compared, all behind :class:`simulations.policies.base.Policy`."""
from __future__ import annotations

from simulations.policies.base import FleetView, Policy
from simulations.policies.core import CorePolicy, hpa_util, keda_queue, ours
from simulations.policies.kpa import KpaPolicy
from simulations.policies.plan import OraclePolicy, Plan, StaticPolicy
from simulations.scenario import Scenario

POLICY_NAMES = ("ours", "hpa_util", "keda_queue", "kpa", "static_peak", "oracle")


def build_policy(name: str, scenario: Scenario, plan: Plan) -> Policy:
    """A fresh policy (no memory) of the given name."""
    if name == "ours":
        return ours(scenario)
    if name == "hpa_util":
        return hpa_util(scenario)
    if name == "keda_queue":
        return keda_queue(scenario)
    if name == "kpa":
        return KpaPolicy(scenario)
    if name == "oracle":
        return OraclePolicy(plan, scenario)
    if name == "static_peak":
        n = scenario.static_replicas or plan.peak
        return StaticPolicy(min(max(n, scenario.min_replicas), scenario.max_replicas)
                            if scenario.static_replicas is None else n)
    raise ValueError(f"unknown policy {name!r}; expected one of {', '.join(POLICY_NAMES)}")


__all__ = ["POLICY_NAMES", "CorePolicy", "FleetView", "KpaPolicy", "OraclePolicy", "Plan", "Policy",
           "StaticPolicy", "build_policy"]
