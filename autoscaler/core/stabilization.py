"""Stabilization windows over past recommendations (HPA's behavior path, §2.2).

The scale-up window is a floor and the scale-down window a ceiling, and the result
starts from the *current* count: with recommendations [5, 9] in a 300 s down window,
current 8 and a new proposal of 3, the ceiling is max(3, 5, 9) = 9 and the floor (0 s
up window) is 3, so 8 stays 8. A window holds the records strictly younger than it.
"""

from __future__ import annotations

from typing import NamedTuple

from autoscaler.core.types import Recommendation


class Stabilized(NamedTuple):
    """The stabilized count, and the floor and ceiling the two windows set (a named
    tuple: built on every poll)."""

    replicas: int
    up_floor: int
    down_ceiling: int


def stabilize(
    current: int, proposal: int, history: tuple[Recommendation, ...], up_window: float, down_window: float, now: float
) -> Stabilized:
    up_floor = down_ceiling = proposal
    up_cutoff, down_cutoff = now - up_window, now - down_window
    for r in history:
        if r.timestamp > up_cutoff and r.replicas < up_floor:
            up_floor = r.replicas
        if r.timestamp > down_cutoff and r.replicas > down_ceiling:
            down_ceiling = r.replicas
    stabilized = current
    if stabilized < up_floor:
        stabilized = up_floor
    if stabilized > down_ceiling:
        stabilized = down_ceiling
    return Stabilized(stabilized, up_floor, down_ceiling)


def record_recommendation(
    history: tuple[Recommendation, ...], proposal: int, up_window: float, down_window: float, now: float
) -> tuple[Recommendation, ...]:
    """Append ``proposal`` at ``now``, dropping records older than both windows.

    The history is in time order (each poll appends at its ``now``), so the outdated
    records are a prefix."""
    cutoff = now - max(up_window, down_window)
    start = 0
    while start < len(history) and history[start].timestamp <= cutoff:
        start += 1
    return history[start:] + (Recommendation(now, proposal),)
