"""The GPUScaler ``status`` (DESIGN.md Contract 1) as plain dicts, and the decision
memory round trip through it. No ``kubernetes`` import: pure data shaping.

Why the memory lives in status: HPA keeps its recommendations and scale events in
process maps, so a restarted controller or a new leader forgets them and may scale
down inside the stabilization window. We write them to ``status.memory`` every poll
and read them back, so a new leader continues where the old one stopped::

    status.memory = {recommendations: [{timestamp, replicas}],
                     scaleEvents: [{timestamp, direction: up|down, replicas}],
                     consecutiveFailures, lastScaleUpTime, lastScaleDownTime}

Times are RFC 3339 in UTC with microseconds ("2026-11-29T06:33:49.123456Z"): the
CRD types them ``date-time``, and microseconds keep a round trip exact enough for the
core's window arithmetic (floats of Unix seconds survive to 1 µs).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeGuard

from autoscaler.core.types import Condition, Decision, Memory, Recommendation, ScaleEvent
from autoscaler.kube.types import ScalerObject

# The one time module's reader and formatter, re-exported for kube's callers.
from autoscaler.times import format_time as format_time
from autoscaler.times import parse_time as parse_time

#: Condition types in the order status shows them (Contract 1).
CONDITION_TYPES = ("AbleToScale", "ScalingActive", "ScalingLimited", "MetricsAvailable")

#: The CRD caps both memory lists at 1024 items; keep the newest. At a 15 s poll and a
#: 300 s window the core needs ~20 recommendations, so the cap never bites in practice.
MAX_MEMORY_ITEMS = 1024


def memory_to_status(memory: Memory) -> dict[str, Any]:
    """The value of ``status.memory`` for ``memory``. Absent last-scale times are left out
    (the CRD types them ``date-time``, which does not admit null)."""
    out: dict[str, Any] = {
        "recommendations": [{"timestamp": format_time(r.timestamp), "replicas": r.replicas}
                            for r in memory.recommendations[-MAX_MEMORY_ITEMS:]],
        "scaleEvents": [{"timestamp": format_time(e.timestamp), "direction": e.direction, "replicas": e.replicas}
                        for e in memory.scale_events[-MAX_MEMORY_ITEMS:]],
        "consecutiveFailures": memory.consecutive_failures,
    }
    if memory.last_scale_up_time is not None:
        out["lastScaleUpTime"] = format_time(memory.last_scale_up_time)
    if memory.last_scale_down_time is not None:
        out["lastScaleDownTime"] = format_time(memory.last_scale_down_time)
    return out


def memory_from_status(status: Mapping[str, Any]) -> Memory:
    """The :class:`Memory` kept in a GPUScaler's whole ``status`` (it reads ``status["memory"]``).

    Lenient by design: a status edited by hand or written by an older version must not
    stop the scaler, so malformed entries are dropped rather than raised. Dropping is
    safe: an empty recommendation history makes the core seed it with the current
    count, which blocks scale-down for a full window (never a premature scale-down).
    """
    raw = status.get("memory") if isinstance(status, Mapping) else None
    if not isinstance(raw, Mapping):
        return Memory()
    recommendations: list[Recommendation] = []
    for item in _items(raw.get("recommendations")):
        t, replicas = parse_time_or_none(item.get("timestamp")), item.get("replicas")
        if t is not None and _is_count(replicas):
            recommendations.append(Recommendation(t, replicas))
    events: list[ScaleEvent] = []
    for item in _items(raw.get("scaleEvents")):
        t, direction, replicas = parse_time_or_none(item.get("timestamp")), item.get("direction"), item.get("replicas")
        if t is not None and direction in ("up", "down") and _is_count(replicas):
            events.append(ScaleEvent(t, str(direction), replicas))
    failures = raw.get("consecutiveFailures", 0)
    return Memory(
        recommendations=tuple(sorted(recommendations, key=lambda r: r.timestamp)),
        scale_events=tuple(sorted(events, key=lambda e: e.timestamp)),
        consecutive_failures=failures if _is_count(failures) else 0,
        last_scale_up_time=parse_time_or_none(raw.get("lastScaleUpTime")),
        last_scale_down_time=parse_time_or_none(raw.get("lastScaleDownTime")),
    )


def merge_conditions(conditions: Iterable[Condition], previous: Sequence[Mapping[str, Any]] | None,
                     now: float) -> list[dict[str, Any]]:
    """Status conditions: ``conditions`` override ``previous`` by type; a type not given
    keeps its previous entry. ``lastTransitionTime`` is kept while a type's status stays
    the same (as ``meta.SetStatusCondition`` does), else set to ``now``."""
    by_type: dict[str, dict[str, Any]] = {
        str(c["type"]): dict(c) for c in (previous or ()) if isinstance(c, Mapping) and c.get("type")}
    for c in conditions:
        old = by_type.get(c.type)
        since = old.get("lastTransitionTime") if old and old.get("status") == c.status else None
        by_type[c.type] = {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message,
                           "lastTransitionTime": since or format_time(now)}
    order = {t: i for i, t in enumerate(CONDITION_TYPES)}
    return sorted(by_type.values(), key=lambda c: (order.get(c["type"], len(order)), c["type"]))


def build_status(decision: Decision, scaler: ScalerObject, now: float,
                 previous_conditions: Sequence[Mapping[str, Any]] | None = None, *,
                 applied: bool = True, overrides: Sequence[Condition] = ()) -> dict[str, Any]:
    """Contract 1 ``status`` for one poll.

    ``applied`` says whether ``decision.desired_replicas`` took effect; when it did not
    (``--dry-run``, or the scale PATCH failed) the memory written is
    ``decision.memory_if_not_applied``, as HPA records scale events only after a
    successful update. ``overrides`` replace the decision's conditions of the same type
    (the loop's view, e.g. ``AbleToScale=False FailedUpdateScale`` after a failed PATCH).
    A condition type the decision does not speak to keeps its previous entry; when the
    core reports a bound (``TooManyReplicas``, ``TooFewReplicas``) without a
    ``ScalingLimited`` condition, one is derived from that limit.
    """
    memory = decision.memory if applied else decision.memory_if_not_applied
    conditions = {c.type: c for c in decision.conditions}
    if "ScalingLimited" not in conditions:
        bound = next((lim for lim in decision.limits if lim.name in ("TooManyReplicas", "TooFewReplicas")), None)
        if bound is not None:
            conditions["ScalingLimited"] = Condition("ScalingLimited", "True", bound.name, bound.message)
    conditions.update({c.type: c for c in overrides})
    status: dict[str, Any] = {
        "observedGeneration": scaler.generation,
        "currentReplicas": decision.current_replicas,
        "desiredReplicas": decision.desired_replicas,
        "currentMetrics": [_metric(p.key, p.usage, p.target) for p in decision.proposals],
        "conditions": merge_conditions(conditions.values(), previous_conditions, now),
        "leadingMetric": decision.leading_metric or "",
        "memory": memory_to_status(memory),
    }
    last = max((t for t in (memory.last_scale_up_time, memory.last_scale_down_time) if t is not None), default=None)
    if last is not None:
        status["lastScaleTime"] = format_time(last)
    return status


def _metric(name: str, value: float | None, target: float) -> dict[str, Any]:
    """One ``currentMetrics`` entry; a missing or non-finite value is left out (JSON has no NaN)."""
    out: dict[str, Any] = {"name": name, "target": target}
    if value is not None and math.isfinite(value):
        out["value"] = value
    return out


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def parse_time_or_none(value: Any) -> float | None:
    """An RFC 3339 time from an API object, or None where it is absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
