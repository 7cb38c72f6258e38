"""The pure decision core: standard library and our own types only.

No clock, logging, randomness or I/O in this package: ``now`` and the memory of past
recommendations and scale events come in, the decision and the next memory go out.
"""

from autoscaler.core.decide import decide
from autoscaler.core.types import (
    HOLD,
    SCALE_DOWN,
    SCALE_UP,
    Condition,
    Decision,
    Limit,
    Memory,
    MetricObservation,
    MetricProposal,
    Observation,
    PodState,
    Recommendation,
    ScaleEvent,
)

__all__ = [
    "HOLD",
    "SCALE_DOWN",
    "SCALE_UP",
    "Condition",
    "Decision",
    "Limit",
    "Memory",
    "MetricObservation",
    "MetricProposal",
    "Observation",
    "PodState",
    "Recommendation",
    "ScaleEvent",
    "decide",
]
