"""The GPUScaler ``status`` (DESIGN.md Contract 1) as plain dicts, and the decision
memory round trip through it. No ``kubernetes`` import: pure data shaping.

Why the memory lives in status: HPA keeps its recommendations and scale events in
process maps, so a restarted controller or a new leader forgets them and may scale
down inside the stabilization window. We write them to ``status.memory`` every poll
and read them back, so a new leader continues where the old one stopped::

    status.memory = {recommendations: [{timestamp, replicas}],
                     scaleEvents: [{timestamp, direction: up|down, replicas}],
                     consecutiveFailures, lastScaleUpTime, lastScaleDownTime,
                     startups: [{pod, readyTime, seconds}], startupsSince}

``startups`` are the last measured load times (at most 10, :mod:`autoscaler.core.startup`)
and ``startupsSince`` when measuring began: they change only when a pod turns Ready, so a
steady scaler still writes nothing, and a new leader neither forgets a measured load time
nor measures a pod twice.

Compact memory (``compact=True``, ``status.memory.compacted: true``), so that a steady
scaler writes nothing (issue 12): the core keeps one recommendation per poll, but for
the stabilization windows (a max and a min over the records younger than a window) only
the first and the last of a run of equal values matter, and of the newest run only that
it still holds. So ``recommendations`` keeps each finished run's first and last entry
and the newest run's first entry only: [5@0, 5@15, 5@30, 3@45, 3@60, 3@75] is written
[5@0, 5@30, 3@45]; at the next poll, another 3, it is written the same, and when nothing
else changed either, no status is written at all (``KubeScalerStore`` compares). A
reader that takes over (a new leader: ``memory_from_status(status, now)``) does not know
when the newest run ended, and assumes it held until just before ``now`` (3 at
``now - 1 ms``): later than the truth, so its scale-down ceiling is never lower than the
full memory's and it never scales down earlier (tests/kube/test_status.py checks this
over generated histories). The price: a new leader holds a newest run up to (takeover -
old leader's last poll) longer than the old leader would have (a failover's few
seconds; up to a window when the controller was down that long), and its first poll
treats the newest run as inside an up window shorter than the polling interval (the
default up window, 0 s, excludes it). Without ``compacted`` the memory is read as
written: every poll's record, the former format.

Times are RFC 3339 in UTC with microseconds ("2026-11-29T06:33:49.123456Z"): the
CRD types them ``date-time``, and microseconds keep a round trip exact enough for the
core's window arithmetic (floats of Unix seconds survive to 1 µs).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeGuard

from autoscaler.core.types import Condition, Decision, Memory, Recommendation, ScaleEvent, Startup
from autoscaler.kube.types import ScalerObject

# The one time module's reader and formatter, re-exported for kube's callers.
from autoscaler.times import format_time as format_time
from autoscaler.times import parse_time as parse_time

#: Condition types in the order status shows them (Contract 1).
CONDITION_TYPES = ("AbleToScale", "ScalingActive", "ScalingLimited", "MetricsAvailable", "CapacityAvailable")

#: The CRD caps both memory lists at 1024 items; keep the newest. At a 15 s poll and a
#: 300 s window the core needs ~20 recommendations, so the cap never bites in practice.
MAX_MEMORY_ITEMS = 1024


#: Measured load times read back from status at most (the core keeps 10; the CRD caps at 64).
MAX_STARTUPS = 64


#: How far before the reader's ``now`` the newest run is assumed to have held: after the
#: old leader's last poll, and outside a 0 s up window (which holds records *younger* than now).
HELD_UNTIL_BEFORE_NOW = 0.001


def compact_recommendations(
    history: Sequence[Recommendation], previous: Sequence[Recommendation] = ()
) -> list[Recommendation]:
    """Each run of equal replicas as its first and last entry, the newest run as its first.

    ``previous`` is what status held (compact): when the newest run is the one status
    already shows, its first entry is kept from there, so a run longer than the windows
    (whose oldest records the core drops each poll) does not change status every poll.
    Worked: [5@0, 5@15, 5@30, 3@45, 3@60] -> [5@0, 5@30, 3@45]."""
    runs: list[list[Recommendation]] = []
    for r in history:
        if runs and runs[-1][0].replicas == r.replicas:
            runs[-1].append(r)
        else:
            runs.append([r])
    out: list[Recommendation] = []
    for run in runs[:-1]:
        out.append(run[0])
        if run[-1].timestamp != run[0].timestamp:
            out.append(run[-1])
    if runs:
        first = runs[-1][0]
        before = out[-1].timestamp if out else -math.inf
        if previous and previous[-1].replicas == first.replicas and before < previous[-1].timestamp <= first.timestamp:
            first = previous[-1]  # the same run, begun earlier than the core still remembers
        out.append(first)
    return out


def memory_to_status(
    memory: Memory, previous: Mapping[str, Any] | None = None, *, compact: bool = False
) -> dict[str, Any]:
    """The value of ``status.memory`` for ``memory``: every record, or with ``compact`` the
    compact form (see the module docstring; ``previous`` is the scaler's current
    ``status``). Absent last-scale times are left out (the CRD types them ``date-time``,
    which does not admit null)."""
    recommendations: Sequence[Recommendation] = memory.recommendations
    if compact:
        before = memory_from_status(previous).recommendations if previous else ()
        recommendations = compact_recommendations(recommendations, before)
    out: dict[str, Any] = {
        "recommendations": [
            {"timestamp": format_time(r.timestamp), "replicas": r.replicas} for r in recommendations[-MAX_MEMORY_ITEMS:]
        ],
        "scaleEvents": [
            {"timestamp": format_time(e.timestamp), "direction": e.direction, "replicas": e.replicas}
            for e in memory.scale_events[-MAX_MEMORY_ITEMS:]
        ],
        "consecutiveFailures": memory.consecutive_failures,
    }
    if compact:
        out["compacted"] = True
    if memory.last_scale_up_time is not None:
        out["lastScaleUpTime"] = format_time(memory.last_scale_up_time)
    if memory.last_scale_down_time is not None:
        out["lastScaleDownTime"] = format_time(memory.last_scale_down_time)
    if memory.startups:
        out["startups"] = [
            {"pod": s.pod, "readyTime": format_time(s.ready_time), "seconds": s.seconds} for s in memory.startups
        ]
    if memory.startups_since is not None:
        out["startupsSince"] = format_time(memory.startups_since)
    return out


def memory_from_status(status: Mapping[str, Any] | None, now: float | None = None) -> Memory:
    """The :class:`Memory` kept in a GPUScaler's whole ``status`` (it reads ``status["memory"]``).

    ``now``: given by a reader that takes over from another writer (a new leader), the
    newest run of a compact memory is taken to have held until ``now -
    HELD_UNTIL_BEFORE_NOW`` (see the module docstring: never an earlier scale-down than
    the full memory). Not given, or for a memory written whole, the entries are returned
    as written (the writer's own read-back must not invent a record).

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
    recommendations.sort(key=lambda r: r.timestamp)
    startups: list[Startup] = []
    for item in _items(raw.get("startups")):
        pod, t, seconds = item.get("pod"), parse_time_or_none(item.get("readyTime")), item.get("seconds")
        if (
            isinstance(pod, str)
            and t is not None
            and isinstance(seconds, (int, float))
            and not isinstance(seconds, bool)
            and 0 <= seconds < math.inf
        ):
            startups.append(Startup(pod, t, float(seconds)))
    held_until = None if now is None else now - HELD_UNTIL_BEFORE_NOW
    if (
        held_until is not None
        and raw.get("compacted") is True
        and recommendations
        and recommendations[-1].timestamp < held_until
    ):
        recommendations.append(Recommendation(held_until, recommendations[-1].replicas))
    return Memory(
        recommendations=tuple(recommendations),
        scale_events=tuple(sorted(events, key=lambda e: e.timestamp)),
        consecutive_failures=failures if _is_count(failures) else 0,
        last_scale_up_time=parse_time_or_none(raw.get("lastScaleUpTime")),
        last_scale_down_time=parse_time_or_none(raw.get("lastScaleDownTime")),
        startups=tuple(sorted(startups, key=lambda s: (s.ready_time, s.pod))[-MAX_STARTUPS:]),
        startups_since=parse_time_or_none(raw.get("startupsSince")),
    )


def merge_conditions(
    conditions: Iterable[Condition], previous: Sequence[Mapping[str, Any]] | None, now: float
) -> list[dict[str, Any]]:
    """Status conditions: ``conditions`` override ``previous`` by type; a type not given
    keeps its previous entry. ``lastTransitionTime`` is kept while a type's status stays
    the same (as ``meta.SetStatusCondition`` does), else set to ``now``."""
    by_type: dict[str, dict[str, Any]] = {
        str(c["type"]): dict(c) for c in (previous or ()) if isinstance(c, Mapping) and c.get("type")
    }
    for c in conditions:
        old = by_type.get(c.type)
        since = old.get("lastTransitionTime") if old and old.get("status") == c.status else None
        by_type[c.type] = {
            "type": c.type,
            "status": c.status,
            "reason": c.reason,
            "message": c.message,
            "lastTransitionTime": since or format_time(now),
        }
    order = {t: i for i, t in enumerate(CONDITION_TYPES)}
    return sorted(by_type.values(), key=lambda c: (order.get(c["type"], len(order)), c["type"]))


def build_status(
    decision: Decision,
    scaler: ScalerObject,
    now: float,
    previous_conditions: Sequence[Mapping[str, Any]] | None = None,
    *,
    applied: bool = True,
    overrides: Sequence[Condition] = (),
) -> dict[str, Any]:
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
