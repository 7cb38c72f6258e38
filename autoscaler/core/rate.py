"""Scaling policies: how far one step may go (HPA §2.3).

Each policy is a budget over its ``periodSeconds``, measured from the replica count at
the start of the period, which both event histories give: after +4 and -2 inside the
period with 10 replicas now, the period began at 10 - 4 + 2 = 8. Percent rounds up when
growing and truncates when shrinking: from 8, Percent 100 allows ceil(8 x 2) = 16 up,
Percent 50 allows trunc(8 x 0.5) = 4 down. ``selectPolicy: Max`` picks the most
change (the highest ceiling, the lowest floor), ``Min`` the least, ``Disabled`` none.
"""

from __future__ import annotations

import math

from autoscaler.core.types import ScaleEvent
from autoscaler.spec import INT32_MAX as MAX_INT32
from autoscaler.spec import ScalingRules

MIN_INT32 = -(2**31)


def period_start(current: int, events: tuple[ScaleEvent, ...], period: float, now: float) -> int:
    if not events:  # nothing changed lately (every poll of a steady scaler)
        return current
    added = sum(e.replicas for e in events if e.direction == "up" and e.timestamp > now - period)
    deleted = sum(e.replicas for e in events if e.direction == "down" and e.timestamp > now - period)
    return current - added + deleted


def scale_up_limit(current: int, events: tuple[ScaleEvent, ...], rules: ScalingRules, now: float) -> int:
    """The most replicas the up policies allow now (may be below current; callers floor it)."""
    if rules.select_policy == "Disabled":
        return current
    if not rules.policies:
        return MIN_INT32
    limits = []
    for p in rules.policies:
        start = period_start(current, events, p.period_seconds, now)
        if p.type == "Pods":
            limits.append(start + p.value)
        else:
            limits.append(math.ceil(start * (1 + min(p.value, MAX_INT32) / 100)))
    return max(limits) if rules.select_policy == "Max" else min(limits)


def scale_down_limit(current: int, events: tuple[ScaleEvent, ...], rules: ScalingRules, now: float) -> int:
    """The fewest replicas the down policies allow now (may be above current; callers cap it)."""
    if rules.select_policy == "Disabled":
        return current
    if not rules.policies:
        return MAX_INT32
    limits = []
    for p in rules.policies:
        start = period_start(current, events, p.period_seconds, now)
        if p.type == "Pods":
            limits.append(start - p.value)
        else:
            limits.append(int(start * (1 - min(p.value, MAX_INT32) / 100)))
    return min(limits) if rules.select_policy == "Max" else max(limits)


def record_scale_event(
    events: tuple[ScaleEvent, ...], old: int, new: int, up: ScalingRules, down: ScalingRules, now: float
) -> tuple[ScaleEvent, ...]:
    """Append |new - old| in its direction, dropping events older than that direction's
    longest policy period (they can no longer count against any budget)."""
    if new == old:
        return events
    direction = "up" if new > old else "down"
    event = ScaleEvent(now, direction, abs(new - old))
    if not events:  # the common case (a replay's count that differs from the recorded one)
        return (event,)
    longest = {
        "up": max((p.period_seconds for p in up.policies), default=0),
        "down": max((p.period_seconds for p in down.policies), default=0),
    }
    kept = tuple(e for e in events if e.timestamp > now - longest[e.direction])
    return kept + (event,)
