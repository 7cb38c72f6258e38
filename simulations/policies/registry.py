"""The policy registry: each policy is one module that registers its builder once.

Adding a policy is one module under ``simulations/policies/`` that decorates its builder
with :func:`register`, plus its import in ``simulations/policies/__init__.py``; the CLI's
``--policy`` choices, the scenario's ``policies`` keys, the report and the plot's colours
all read this table. A policy with settings of its own passes ``settings=``: a reader of
its ``policies.NAME`` mapping in the scenario, whose result the builder finds in
``scenario.policy_settings[NAME]`` (bad fields are reported like every scenario field).
Registration order is the order of ``--policy all`` and of every table (``ours`` first,
the oracle last).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulations.policies.base import Policy
    from simulations.policies.plan import Plan
    from simulations.scenario import Scenario
    from simulations.yamlsource import ScenarioReader

Builder = Callable[["Scenario", "Plan"], "Policy"]
#: ``(reader, the policies.NAME mapping, "policies.NAME") -> settings``; report problems through the reader
SettingsReader = Callable[["ScenarioReader", Mapping[str, Any], str], object]


@dataclass(frozen=True)
class PolicyEntry:
    """One registered policy: its Contract 5 name, how to build a fresh one, its plot colour."""

    name: str
    build: Builder
    color: str
    settings: SettingsReader | None = None


_REGISTRY: dict[str, PolicyEntry] = {}


def register(name: str, color: str, settings: SettingsReader | None = None) -> Callable[[Builder], Builder]:
    """Decorator: ``@register("kpa", "#9467bd")`` on ``def build(scenario, plan) -> Policy``."""

    def add(build: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"policy {name!r} registered twice")
        _REGISTRY[name] = PolicyEntry(name, build, color, settings)
        return build

    return add


def policy_names() -> tuple[str, ...]:
    """Every registered policy, in registration order."""
    return tuple(_REGISTRY)


def policy_entry(name: str) -> PolicyEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; expected one of {', '.join(_REGISTRY)}") from None


def build_policy(name: str, scenario: Scenario, plan: Plan) -> Policy:
    """A fresh policy (no memory) of the given name."""
    return policy_entry(name).build(scenario, plan)
