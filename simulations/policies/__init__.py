"""The policies compared, all behind :class:`simulations.policies.base.Policy`.

Each policy module registers its builder with :func:`simulations.policies.registry.register`;
importing it here is what makes it known (in this order: ``--policy all`` and the tables follow it).
"""

from __future__ import annotations

from simulations.policies import core, kpa, plan  # noqa: F401  (each registers its policies)
from simulations.policies.base import FleetView, Policy
from simulations.policies.core import CorePolicy
from simulations.policies.kpa import KpaPolicy
from simulations.policies.plan import OraclePolicy, Plan, StaticPolicy
from simulations.policies.registry import build_policy, policy_entry, policy_names

POLICY_NAMES = policy_names()

__all__ = [
    "POLICY_NAMES",
    "CorePolicy",
    "FleetView",
    "KpaPolicy",
    "OraclePolicy",
    "Plan",
    "Policy",
    "StaticPolicy",
    "build_policy",
    "policy_entry",
    "policy_names",
]
