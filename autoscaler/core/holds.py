"""The steps that hold the count where it is, each with its reason: the cooldown (ours),
the capacity rule (no scale-up past pods that cannot be placed) and a paused direction.
Each returns a :class:`Held`: the count after the step, and the :class:`Limit` when the
step held it. Pure, as the rest of the core; :func:`autoscaler.core.decide.decide` runs
them in this order after stabilization and the rate policies."""

from __future__ import annotations

from typing import NamedTuple

from autoscaler.core.proposal import unhealthy_pods, unschedulable_pods
from autoscaler.core.types import Condition, Limit, Memory, Observation
from autoscaler.spec import GPUScalerSpec


class Held(NamedTuple):
    """The count after one holding step; ``limit`` is set when the step held it."""

    replicas: int
    limit: Limit | None = None


def apply_cooldown(spec: GPUScalerSpec, current: int, desired: int, memory: Memory, now: float) -> Held:
    up, down = spec.behavior.scale_up.cooldown_seconds, spec.behavior.scale_down.cooldown_seconds
    if desired > current and up > 0 and memory.last_scale_up_time is not None:
        left = memory.last_scale_up_time + up - now
        if left > 0:
            return Held(
                current,
                Limit(
                    "Cooldown",
                    desired,
                    current,
                    f"scale-up cooldown: {left:.0f} s of {up} s left since the last scale-up",
                ),
            )
    if desired < current and down > 0:
        last = max((t for t in (memory.last_scale_down_time, memory.last_scale_up_time) if t is not None), default=None)
        # A scale-down also waits out the cooldown after a scale-up: the capacity just
        # added has not yet been seen under load.
        if last is not None and last + down - now > 0:
            return Held(
                current,
                Limit(
                    "Cooldown",
                    desired,
                    current,
                    f"scale-down cooldown: {last + down - now:.0f} s of {down} s left since the last scale event",
                ),
            )
    return Held(desired)


#: The capacity rule's name: as a Limit, the CapacityAvailable condition's reason and the Event's.
UNSCHEDULABLE = "Unschedulable"


def apply_capacity(current: int, desired: int, obs: Observation) -> Held:
    """No scale-up while pods of the target cannot be scheduled (no node has a free GPU).

    A documented choice: while k > 0 pods wait for a node, the desired count is capped
    at the current one. More replicas would only wait beside them; the pending ones
    already tell a node autoscaler (cluster-autoscaler, Karpenter) what to add, and once
    they are placed the next poll may ask for more. Scale-down is unaffected: 6 replicas
    with 2 pending that ask 9 hold at 6; asking 4 they go to 4 (a Deployment removes
    pending pods first). A count below minReplicas still goes to the minimum (a bound)."""
    if desired <= current:
        return Held(desired)
    waiting = unschedulable_pods(obs.pods)
    if not waiting:
        return Held(desired)
    return Held(
        current,
        Limit(
            UNSCHEDULABLE,
            desired,
            current,
            f"{len(waiting)} pod(s) wait for a node (no scale-up past them): "
            f"{waiting[0].unschedulable or 'unschedulable'}",
        ),
    )


#: The pause steps' names: as a Limit, the ScalingLimited reason, the controller's
#: ``Paused`` condition reason and its Events.
SCALE_IN_PAUSED = "ScaleInPaused"
SCALE_OUT_PAUSED = "ScaleOutPaused"


def apply_pause(spec: GPUScalerSpec, current: int, desired: int) -> Held:
    """A paused direction holds the count at ``current``: the last step, after every other.

    ``pausedScaleIn`` (an incident: keep every replica that runs): 6 replicas asked down
    to 4 hold at 6; asked up to 9 they go to 9. ``pausedScaleOut`` (a budget freeze): 6
    asked 9 hold at 6; asked 4 they go to 4. Both at once hold like ``paused``, except
    for the bound below.

    The proposal has already entered the recommendation history (and the rate policies
    and cooldown saw the real last scale events), so when the pause ends stabilization
    works from what the metrics asked during it: with a 300 s scale-down window, demand
    that fell 600 s before the pause ends scales down at once; demand that fell 60 s
    before waits the other 240 s, as it would have without the pause.

    Bounds, a documented choice on the side of capacity: a scale-in pause also holds a
    count above ``maxReplicas`` (lowering maxReplicas during an incident removes nothing
    until the pause ends); a scale-out pause does not stop the raise to ``minReplicas``
    (the floor the user declared for the service: 1 replica with minReplicas 2 goes to 2).
    The caller leaves that raise out; here a count below current is a scale-in.
    """
    if desired < current and spec.paused_scale_in:
        return Held(
            current,
            Limit(
                SCALE_IN_PAUSED,
                desired,
                current,
                f"scale-in is paused: no fewer than the current {current} (asked {desired})",
            ),
        )
    if desired > current and spec.paused_scale_out:
        return Held(
            current,
            Limit(
                SCALE_OUT_PAUSED,
                desired,
                current,
                f"scale-out is paused: no more than the current {current} (asked {desired})",
            ),
        )
    return Held(desired)


def apply_holds(
    spec: GPUScalerSpec, current: int, desired: int, memory: Memory, now: float, obs: Observation
) -> tuple[int, tuple[Limit, ...]]:
    """The three holding steps in their order (cooldown, capacity, a paused direction),
    each on the count the one before left: the count after them and the limits that
    held it, in order (none: ``desired`` as it came). The normal path and the fallback
    path of :func:`autoscaler.core.decide.decide` both end with them."""
    cooled = apply_cooldown(spec, current, desired, memory, now)
    capped = apply_capacity(current, cooled.replicas, obs)
    held = apply_pause(spec, current, capped.replicas)
    return held.replicas, tuple(h.limit for h in (cooled, capped, held) if h.limit is not None)


#: The condition while every pod of the target is placed (built once: decide runs every tick of a replay).
CAPACITY_AVAILABLE = Condition("CapacityAvailable", "True", "Scheduled", "no pod of the target waits for a node")


#: The CapacityAvailable reason (and Event) while pods of the target hold a GPU that
#: cannot serve: a fatal Xid, or NVML no longer answers (the exporter's ``gpu_healthy``).
GPU_UNHEALTHY = "GPUUnhealthy"


def capacity_condition(obs: Observation) -> Condition:
    """``CapacityAvailable``: False while pods of the target wait for a node, naming how
    many and the scheduler's message (that of the first by name); else False while pods
    hold a GPU that cannot serve (they are not counted as capacity, see
    :mod:`autoscaler.core.proposal`), naming the first and why."""
    waiting = unschedulable_pods(obs.pods)
    if not waiting:
        broken = unhealthy_pods(obs.pods)
        if not broken:
            return CAPACITY_AVAILABLE
        return Condition(
            "CapacityAvailable",
            "False",
            GPU_UNHEALTHY,
            f"{len(broken)} pod(s) of the target hold a GPU that cannot serve, not counted as capacity: "
            f"{broken[0].name}: {broken[0].gpu_unhealthy}",
        )
    return Condition(
        "CapacityAvailable",
        "False",
        UNSCHEDULABLE,
        f"{len(waiting)} pod(s) of the target cannot be scheduled: "
        f"{waiting[0].unschedulable or 'no message from the scheduler'}",
    )
