"""The decision: ``decide(spec, observation, memory, now) -> Decision``. Pure.

One poll goes through these steps, each of which returns a number and its reason:

1. first sight: seed the recommendation history with the current count at ``now``;
2. ``paused`` holds; ``spec.replicas == 0`` with ``minReplicas > 0`` disables scaling;
   a count outside [min, max] jumps to the nearest bound (HPA §2.0);
3. per-metric proposals (:mod:`autoscaler.core.proposal`), then the max over them;
   no valid metric, or some invalid and the valid ones propose less than current,
   holds (never a scale-down on missing data) and counts a failure; after
   ``fallback.failureThreshold`` failures the count is raised to ``fallback.replicas``.
   A guard (a ``Latency`` SLO) at or below its target is valid and asks ``minReplicas``:
   it neither wins the max nor counts as missing, so with the queue unavailable and
   the SLO holding the poll still holds (the guard's 1 is fewer than current).
   With ``spec.formula`` one proposal from the expression (:mod:`autoscaler.core.formula`)
   replaces those of the metrics it names, and the reason names the term that led.
   Pods whose GPU is unhealthy (``PodState.gpu_unhealthy``) are not capacity: set aside,
   and added back on top of what the ready pods' load asks;
4. stabilization windows (:mod:`autoscaler.core.stabilization`);
5. rate policies (:mod:`autoscaler.core.rate`), which also enforce min on the way down
   and max on the way up;
6. cooldown (ours; this step and the two below live in :mod:`autoscaler.core.holds`):
   no change in a direction within ``cooldownSeconds`` of the last
   change in that direction;
7. capacity (ours): while pods of the target wait for a node (unschedulable: no free
   GPU), no scale-up (see :func:`apply_capacity`);
8. a paused direction (``pausedScaleIn``, ``pausedScaleOut``) holds the count at current
   in that direction, on every path, after everything else (see :func:`apply_pause`).

Load times measured since the last poll (``obs.startups``) go into the memory first;
with ``startupSeconds: auto`` the readiness rule uses the measured figure
(:mod:`autoscaler.core.startup`).

With ``cooldownSeconds: 0`` the result equals the Kubernetes HPA's behavior path for
the same inputs (../shared/reference/hpa-algorithm.md), except for readiness, which we
apply to every metric (see :mod:`autoscaler.core.proposal`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from autoscaler.core.formula import name_leading, propose_formula
from autoscaler.core.holds import (
    UNSCHEDULABLE,
    Held,
    apply_holds,
    apply_pause,
    capacity_condition,
)
from autoscaler.core.proposal import Tolerance, classify_pods, propose
from autoscaler.core.rate import record_scale_event, scale_down_limit, scale_up_limit
from autoscaler.core.stabilization import record_recommendation, stabilize
from autoscaler.core.startup import remember_startups, startup_seconds
from autoscaler.core.types import (
    HOLD,
    SCALE_DOWN,
    SCALE_UP,
    Condition,
    Decision,
    Limit,
    Memory,
    MetricProposal,
    Observation,
    Recommendation,
)
from autoscaler.spec import GPUScalerSpec


def decide(spec: GPUScalerSpec, obs: Observation, memory: Memory, now: float) -> Decision:
    """Desired replicas for one poll, with the reason, the limits that applied and the next memory."""
    current = obs.current_replicas
    up_rules, down_rules = spec.behavior.scale_up, spec.behavior.scale_down
    if not memory.recommendations:
        memory = _replace(memory, recommendations=(Recommendation(now, current),))
    if obs.startups or memory.startups_since is None:  # else nothing to remember (every poll after the first)
        memory = remember_startups(memory, obs.startups, now)

    if spec.paused:
        return _finish(
            spec,
            obs,
            memory,
            now,
            Conclusion(
                desired=current,
                code="Paused",
                words="scaling is paused (spec.paused or the paused annotation)",
                conditions=(
                    Condition("AbleToScale", "True", "Paused", "scaling is paused"),
                    Condition("ScalingActive", "False", "Paused", "paused is true (spec or annotation)"),
                ),
            ),
        )
    if current == 0 and spec.min_replicas != 0:
        disabled = "scaling is disabled since the replica count of the target is zero"
        return _finish(
            spec,
            obs,
            memory,
            now,
            Conclusion(
                desired=0,
                code="ScalingDisabled",
                words=disabled,
                conditions=(Condition("ScalingActive", "False", "ScalingDisabled", disabled),),
            ),
        )
    if current > spec.max_replicas or current < spec.min_replicas:
        bound, code = (
            (spec.max_replicas, "TooManyReplicas")
            if current > spec.max_replicas
            else (spec.min_replicas, "TooFewReplicas")
        )
        limit = Limit(
            code, current, bound, f"current {current} outside [{spec.min_replicas}, {spec.max_replicas}]: go to {bound}"
        )
        # A scale-in pause holds above maxReplicas; a scale-out pause lets the raise to
        # minReplicas through (see apply_pause).
        held = apply_pause(spec, current, bound) if bound < current else Held(bound)
        if held.limit is not None:
            return _finish(
                spec,
                obs,
                memory,
                now,
                Conclusion(
                    desired=held.replicas,
                    code=held.limit.name,
                    words=f"{limit.message}; {held.limit.message}",
                    limits=(limit, held.limit),
                ),
            )
        return _finish(
            spec, obs, memory, now, Conclusion(desired=bound, code=code, words=limit.message, limits=(limit,))
        )

    tolerance = Tolerance(up=up_rules.tolerance, down=down_rules.tolerance)
    classes = classify_pods(obs.pods, startup_seconds(spec.startup_seconds, spec.startup_auto, memory), now)
    proposals = (
        tuple([propose(m, obs, tolerance, classes, spec.min_replicas) for m in spec.metrics])
        if spec.formula is None
        else propose_formula(spec, obs, tolerance, classes)  # the formula in place of the metrics it names
    )
    valid = [p for p in proposals if p.replicas is not None]
    invalid = [p for p in proposals if p.replicas is None]
    if not valid or (invalid and max(p.replicas for p in valid if p.replicas is not None) < current):
        return _unavailable(spec, obs, memory, now, proposals, valid, invalid)

    if memory.consecutive_failures:
        memory = _replace(memory, consecutive_failures=0)
    # the first of the maxima, as HPA reports it
    leading = name_leading(valid[0] if len(valid) == 1 else max(valid, key=lambda p: p.replicas or 0))
    proposal = leading.replicas
    assert proposal is not None
    limits: list[Limit] = []
    for p in valid:
        if not p.loading_adjusted or p.replicas != proposal:
            continue
        if p.replicas_without_loading is not None and p.replicas_without_loading > proposal:
            limits.append(
                Limit(
                    "Loading",
                    p.replicas_without_loading,
                    proposal,
                    f"replicas still loading count as capacity on its way (without them: {p.replicas_without_loading})",
                )
            )
            break
        if p.usage is None:
            limits.append(
                Limit(
                    "Loading" if classes.loading else UNSCHEDULABLE, proposal, proposal, p.reason.removesuffix(": hold")
                )
            )
            break

    stab = stabilize(
        current,
        proposal,
        memory.recommendations,
        up_rules.stabilization_window_seconds,
        down_rules.stabilization_window_seconds,
        now,
    )
    history = record_recommendation(
        memory.recommendations,
        proposal,
        up_rules.stabilization_window_seconds,
        down_rules.stabilization_window_seconds,
        now,
    )
    memory = _replace(memory, recommendations=history)
    able_reason = "ReadyForNewScale"
    if stab.replicas != proposal:
        if proposal >= current:
            able_reason = "ScaleUpStabilized"
            msg = f"lowest recommendation in the last {up_rules.stabilization_window_seconds} s"
        else:
            able_reason = "ScaleDownStabilized"
            msg = f"highest recommendation in the last {down_rules.stabilization_window_seconds} s"
        limits.append(Limit(able_reason, proposal, stab.replicas, msg))

    rated = _apply_rate(spec, current, stab.replicas, memory, now)
    desired, limited_reason, limit_msg = rated.replicas, rated.reason, rated.message
    if desired != stab.replicas:
        limits.append(Limit(limited_reason, stab.replicas, desired, limit_msg))

    desired, holds = apply_holds(spec, current, desired, memory, now, obs)
    if holds:
        limits.extend(holds)
        # ScalingLimited names what held the count last: e.g. the cooldown, not the rate
        # step that let 15 through (it would read "TooManyReplicas: maxReplicas is 1000").
        limited_reason, limit_msg = holds[-1].name, holds[-1].message

    code = limits[-1].name if limits else "DesiredWithinRange"
    words = _describe(leading, proposal, limits, current, desired, _look_ahead_words(spec, obs, leading.key))
    conditions = (
        _condition("AbleToScale", "True", able_reason, _able_message(able_reason)),
        _condition("ScalingActive", "True", "ValidMetricFound", f"the desired count was computed from {leading.key}"),
        _condition("ScalingLimited", "True", limited_reason, limit_msg) if desired != stab.replicas else WITHIN_RANGE,
        _metrics_condition(invalid),
    )
    return _finish(
        spec,
        obs,
        memory,
        now,
        Conclusion(
            desired=desired,
            code=code,
            words=words,
            proposals=proposals,
            leading=leading.key,
            limits=tuple(limits),
            conditions=conditions,
        ),
    )


def record_scale(memory: Memory, spec: GPUScalerSpec, old: int, new: int, now: float) -> Memory:
    """The memory after the target went from ``old`` to ``new`` replicas at ``now``.

    The controller keeps it only once the scale update succeeded (HPA records events
    after a successful update); a replay also calls it for changes it observes.
    """
    if new == old:
        return memory
    events = record_scale_event(memory.scale_events, old, new, spec.behavior.scale_up, spec.behavior.scale_down, now)
    return _replace(
        memory,
        scale_events=events,
        last_scale_up_time=now if new > old else memory.last_scale_up_time,
        last_scale_down_time=now if new < old else memory.last_scale_down_time,
    )


class Rated(NamedTuple):
    """The count after the rate policies and min/max, and the limit's name and words
    (``DesiredWithinRange`` when nothing bit)."""

    replicas: int
    reason: str
    message: str


class Conclusion(NamedTuple):
    """What one path through :func:`decide` concluded, before the memory is settled:
    the count, the reason code and words, and what goes into the Decision beside them.
    (Named tuples, these three: built on every poll, and a frozen dataclass costs a
    ``object.__setattr__`` per field: about 1.5 us a tick in ``python -m benchmarks.dryrun``.)"""

    desired: int
    code: str
    words: str
    proposals: tuple[MetricProposal, ...] = ()
    leading: str | None = None
    limits: tuple[Limit, ...] = ()
    conditions: tuple[Condition, ...] = ()
    metrics_available: bool = True


_NOT_LIMITED = "the desired count is within the acceptable range"


def _apply_rate(spec: GPUScalerSpec, current: int, d: int, memory: Memory, now: float) -> Rated:
    up_rules, down_rules = spec.behavior.scale_up, spec.behavior.scale_down
    if d > current:
        limit = scale_up_limit(current, memory.scale_events, up_rules, now)
        if limit < current:
            limit = current
        if d <= limit and d <= spec.max_replicas:  # nothing bites (most polls): no words to format
            return Rated(d, "DesiredWithinRange", _NOT_LIMITED)
        if limit < spec.max_replicas:
            return Rated(min(d, limit), "ScaleUpLimit", f"scale-up policies allow at most {limit} now")
        return Rated(min(d, spec.max_replicas), "TooManyReplicas", f"maxReplicas is {spec.max_replicas}")
    if d < current:
        limit = scale_down_limit(current, memory.scale_events, down_rules, now)
        if limit > current:
            limit = current
        if d >= limit and d >= spec.min_replicas:
            return Rated(d, "DesiredWithinRange", _NOT_LIMITED)
        if limit > spec.min_replicas:
            return Rated(max(d, limit), "ScaleDownLimit", f"scale-down policies allow at least {limit} now")
        return Rated(max(d, spec.min_replicas), "TooFewReplicas", f"minReplicas is {spec.min_replicas}")
    return Rated(d, "DesiredWithinRange", _NOT_LIMITED)


def _unavailable(
    spec: GPUScalerSpec,
    obs: Observation,
    memory: Memory,
    now: float,
    proposals: tuple[MetricProposal, ...],
    valid: list[MetricProposal],
    invalid: list[MetricProposal],
) -> Decision:
    current = obs.current_replicas
    # Only a poll without any valid metric counts towards the fallback threshold; a
    # partial one shows the source is reachable and breaks the streak.
    failures = 0 if valid else memory.consecutive_failures + 1
    if failures != memory.consecutive_failures:
        memory = _replace(memory, consecutive_failures=failures)
    first = invalid[0]
    fb = spec.fallback
    if not valid and fb is not None and fb.replicas is not None and failures >= fb.failure_threshold:
        # Fallback is a floor during an outage, never a reason to shrink: missing data
        # must not cause a scale-down.
        desired = min(max(current, fb.replicas, spec.min_replicas), spec.max_replicas)
        limit = Limit(
            "Fallback",
            current,
            desired,
            f"metrics unavailable for {failures} polls (threshold {fb.failure_threshold}): "
            f"at least {fb.replicas} replicas",
        )
        # Raising to the fallback is a scale-up like any other: it waits out the up
        # cooldown (2 -> 4 ten seconds after a scale-up with cooldownSeconds 60 holds at 2),
        # the capacity rule and a paused direction.
        desired, holds = apply_holds(spec, current, desired, memory, now, obs)
        limits: tuple[Limit, ...] = (limit, *holds)
        code = limits[-1].name
        words = "; ".join([f"{limit.message}; {first.key}: {first.error}", *(f"{h.name}: {h.message}" for h in holds)])
    else:
        desired, code = current, "FailedGetMetrics"
        if valid:
            words = (
                f"{first.key} unavailable ({first.error}) and the valid metrics propose fewer than "
                f"{current}: hold (no scale-down on partial data)"
            )
        else:
            words = f"metrics unavailable ({first.key}: {first.error}): hold at {current}"
        limits = ()
    conditions = (
        Condition("AbleToScale", "True", "SucceededGetScale", "the target's scale was read"),
        Condition("ScalingActive", "False", "FailedGetMetrics", f"{first.key}: {first.error}"),
        _metrics_condition(invalid),
    )
    return _finish(
        spec,
        obs,
        memory,
        now,
        Conclusion(
            desired=desired,
            code=code,
            words=words,
            proposals=proposals,
            limits=limits,
            conditions=conditions,
            metrics_available=False,
        ),
    )


def _replace(memory: Memory, **changes: object) -> Memory:
    """``dataclasses.replace`` for a Memory: the same fields, ``changes`` applied.

    A Memory is frozen and its ``__init__`` only stores the fields (no defaults to
    compute, no ``__post_init__``), so the copy fills the new instance's ``__dict__``
    directly rather than calling ``__init__``, which stores the seven fields one
    ``object.__setattr__`` at a time: 0.35 us instead of 1.25 us, and a poll replaces the
    memory once or twice (plus once more in ``record_scale`` when the count changes).
    Only keyword names of Memory's fields are passed (mypy checks the callers' values
    against nothing here, so keep this private to the core)."""
    copy: Memory = object.__new__(Memory)
    fields = copy.__dict__
    fields.update(memory.__dict__)
    fields.update(changes)
    return copy


_ALL_AVAILABLE = Condition("MetricsAvailable", "True", "MetricsAvailable", "every metric returned data")


#: ScalingLimited while nothing limits the count (most polls): built once.
WITHIN_RANGE = Condition(
    "ScalingLimited", "False", "DesiredWithinRange", "the desired count is within the acceptable range"
)


@lru_cache(maxsize=1024)
def _condition(type_: str, status: str, reason: str, message: str) -> Condition:
    """The same Condition, shared by every poll that reaches it: a steady scaler's four
    conditions do not change from poll to poll, and building four frozen dataclasses
    cost 4 us of the 30 us a poll takes (``python -m benchmarks.dryrun``)."""
    return Condition(type_, status, reason, message)


def _metrics_condition(invalid: list[MetricProposal]) -> Condition:
    if not invalid:
        return _ALL_AVAILABLE
    return Condition("MetricsAvailable", "False", "FailedGetMetrics", "; ".join(f"{p.key}: {p.error}" for p in invalid))


_ABLE_MESSAGES = {
    "ReadyForNewScale": "recommended size matches current size",
    "ScaleUpStabilized": "recent recommendations were lower than current one, applying the lowest",
    "ScaleDownStabilized": "recent recommendations were higher than current one, applying the highest",
}


def _able_message(reason: str) -> str:
    return _ABLE_MESSAGES.get(reason, reason)


def _look_ahead_words(spec: GPUScalerSpec, obs: Observation, key: str) -> str:
    """``; look-ahead +8 in 30 s`` when a ``lookAhead`` lifted the leading metric this poll."""
    mo = obs.metrics.get(key)
    if mo is None or not mo.lift:
        return ""
    ahead = next((m.look_ahead.ahead_seconds for m in spec.metrics if m.key == key and m.look_ahead), None)
    return "" if ahead is None else f"; look-ahead +{mo.lift:.4g} in {ahead:g} s"


def _describe(
    leading: MetricProposal, proposal: int, limits: list[Limit], current: int, desired: int, lifted: str = ""
) -> str:
    """One line a person reads: the leading metric, what it asked for, each limit that
    bit, and the outcome — e.g. ``queue_depth 9 (target 4) asks 5; ScaleUpLimit 5->4:
    scale-up policies allow at most 4 now; 2 -> 4``. A look-ahead that lifted the metric
    says by how much in all: ``queue_depth 12 (target 4; look-ahead +8 in 30 s) asks 6``."""
    usage = "?" if leading.usage is None else f"{leading.usage:g}"
    text = f"{leading.key} {usage} (target {leading.target:g}{lifted}) asks {proposal}"
    for lim in limits:
        text += f"; {lim.name} {lim.before}->{lim.after}: {lim.message}"
    return text + (f"; hold at {current}" if desired == current else f"; {current} -> {desired}")


def _finish(spec: GPUScalerSpec, obs: Observation, memory: Memory, now: float, out: Conclusion) -> Decision:
    """Settle the memory both ways (applied or not) and build the Decision."""
    current, desired = obs.current_replicas, out.desired
    action = SCALE_UP if desired > current else SCALE_DOWN if desired < current else HOLD
    return Decision.of(
        current_replicas=current,
        desired_replicas=desired,
        action=action,
        reason=out.words,
        reason_code=out.code,
        proposals=out.proposals,
        leading_metric=out.leading,
        limits=out.limits,
        conditions=out.conditions + (capacity_condition(obs),),
        metrics_available=out.metrics_available,
        memory=record_scale(memory, spec, current, desired, now),
        memory_if_not_applied=memory,
    )
