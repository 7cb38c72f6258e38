"""Per-metric replica proposals: HPA's replica calculator, restated.

Numbers are handled as HPA handles ``Quantity.MilliValue()``: each sample becomes an
integer in milli-units (``round(v * 1000)``), averages and percents are truncated
integers, and every proposal rounds up with ``ceil``. So a queue average of 4.4 against
a target of 4 is ``4400 / 4000 = 1.1``: inside the default 0.1 tolerance band, no change.

Pods are grouped as in HPA's ``groupPods`` (../shared/reference/hpa-algorithm.md §1.2),
with one deliberate difference: HPA applies its readiness rule only to CPU; we apply it
to every metric, because a replica still loading its model reports nothing useful.

* ignored: deleting, or phase Failed/Succeeded;
* loading: Pending or not Ready, and started less than ``startupSeconds`` ago (or not
  started). Its sample is set aside; on a scale-up it counts as a replica at 0 % of
  target — capacity already on its way, so the same load does not buy a second scale-up;
* stuck: not Ready and started ``startupSeconds`` ago or more. It failed to load and
  is not capacity on its way: its sample is set aside and it is never zero-filled;
* GPU unhealthy: Ready, but a GPU it holds stopped answering NVML or reported a fatal
  Xid (the exporter's ``gpu_healthy`` is 0). It serves nothing until the node is fixed:
  set aside and never zero-filled, as a stuck pod (it is counted as one). A proposal that
  counts replicas from the ready pods' load adds these on top: 8 replicas at target with
  one GPU lost leave 7 serving at 8/7 = 1.14 x target, ``ceil(1.14 x 7) + 1 = 9``, so
  the lost capacity is replaced while the broken pod still holds its place;
* unschedulable: not Ready and the scheduler found no node for it (PodScheduled False,
  reason Unschedulable: no free GPU). Neither ready nor loading: capacity that is not on
  its way, however long it waits (it has no start time). Set aside, never zero-filled;
  the capacity rule in :mod:`autoscaler.core.decide` keeps the count from growing past it;
* missing: no sample; filled pessimistically (0 on a scale-up, at target on a scale-down);
* ready: everything else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple

from autoscaler.core.types import MetricProposal, Observation, PodState
from autoscaler.spec import INT32_MAX as MAX_INT32
from autoscaler.spec import MetricSpec


class Tolerance(NamedTuple):
    """The hysteresis band: no change while ``1 - down <= ratio <= 1 + up`` (inclusive).
    (Named tuples, this and :class:`PodClasses`: immutable as a frozen dataclass, and
    built on every poll at a third of the cost.)"""

    up: float
    down: float

    def within(self, ratio: float) -> bool:
        return (1.0 - self.down) <= ratio <= (1.0 + self.up)


class PodClasses(NamedTuple):
    """The pods by readiness, computed once per poll; ``candidates`` are the pods that
    count as ready when they have a sample (and as missing when they have none)."""

    candidates: frozenset[str]
    loading: frozenset[str]
    stuck: frozenset[str]
    ignored: frozenset[str]
    names: frozenset[str]
    set_aside: frozenset[str]  # ignored | loading | stuck | unschedulable: their samples do not count
    unschedulable: frozenset[str] = frozenset()
    unhealthy: frozenset[str] = frozenset()  # a GPU lost; also in ``stuck``


_NONE: frozenset[str] = frozenset()


#: The last pods found all ready, and their classes: a replay hands the same pods tuple
#: to tick after tick while nobody comes or goes (see :func:`classify_pods`).
_last_all_ready: tuple[tuple[PodState, ...], PodClasses] = ((), PodClasses(_NONE, _NONE, _NONE, _NONE, _NONE, _NONE))


def classify_pods(pods: tuple[PodState, ...], startup_seconds: float, now: float) -> PodClasses:
    """The pods by readiness at ``now``.

    When every pod is ready (the common case) the answer depends on the pods alone, and
    the last such answer is kept with its pods: the same tuple (``is``: immutable, and
    one entry, so nothing grows) gets it back without a look at each pod, 1 us a poll
    of 8 pods. One shared reference, replaced whole: safe across threads."""
    global _last_all_ready
    last = _last_all_ready
    if last[0] is pods:
        return last[1]
    names = frozenset([p.name for p in pods])
    for p in pods:  # a loop, not all() over a generator: 1 us less a poll with 8 pods
        if not p.ready or p.phase != "Running" or p.deleting or p.gpu_unhealthy is not None:
            break
    else:
        classes = PodClasses(names, _NONE, _NONE, _NONE, names, _NONE)  # the common case: all ready
        _last_all_ready = (pods, classes)
        return classes
    candidates, loading, stuck, ignored, unschedulable, unhealthy = [], [], [], [], [], []
    for pod in pods:
        if pod.deleting or pod.phase == "Failed" or pod.phase == "Succeeded":
            ignored.append(pod.name)
        elif not pod.ready and pod.unschedulable is not None:
            unschedulable.append(pod.name)
        elif pod.gpu_unhealthy is not None:
            stuck.append(pod.name)  # not capacity until its GPU serves again
            unhealthy.append(pod.name)
        elif not pod.ready or pod.phase == "Pending":
            if pod.start_time is None or now - pod.start_time < startup_seconds:
                loading.append(pod.name)
            else:
                stuck.append(pod.name)
        else:
            candidates.append(pod.name)
    return PodClasses(
        frozenset(candidates),
        frozenset(loading),
        frozenset(stuck),
        frozenset(ignored),
        names,
        frozenset(loading + stuck + ignored + unschedulable),
        frozenset(unschedulable),
        frozenset(unhealthy),
    )


def unschedulable_pods(pods: tuple[PodState, ...]) -> tuple[PodState, ...]:
    """The pods that wait for a node (the same rule as :func:`classify_pods`), by name."""
    for p in pods:  # the common case first: no pod waits (a loop: decide asks twice a poll)
        if p.unschedulable is not None:
            break
    else:
        return ()
    return tuple(
        p
        for p in pods
        if p.unschedulable is not None
        and not p.ready
        and not p.deleting
        and p.phase != "Failed"
        and p.phase != "Succeeded"
    )


def unhealthy_pods(pods: tuple[PodState, ...]) -> tuple[PodState, ...]:
    """The pods that hold a GPU that cannot serve (the same rule as :func:`classify_pods`)."""
    return tuple(
        p
        for p in pods
        if p.gpu_unhealthy is not None
        and not p.deleting
        and p.phase != "Failed"
        and p.phase != "Succeeded"
        and (p.ready or p.unschedulable is None)
    )


#: The largest sample or value the arithmetic takes: a larger one (up to +Inf) counts
#: as this. 10^15 waiting requests is far beyond any real queue, and in milli-units it
#: stays an exact integer (10^18 < 2^63), so ``inference_queue_depth 1e306`` asks for
#: the most replicas (capped at maxReplicas later) instead of raising OverflowError.
MAX_VALUE = 1e15


def _milli(v: float) -> int:
    """Milli-units rounded half away from zero, clamped to ±:data:`MAX_VALUE`."""
    v = min(v, MAX_VALUE) if v >= 0 else max(v, -MAX_VALUE)
    return int(v * 1000 + 0.5) if v >= 0 else -int(-v * 1000 + 0.5)


@lru_cache(maxsize=256)
def _target_milli(target: float) -> int:
    """A target in milli-units, at least 1: validation asks targets of 0.001 or more,
    but a target of 0.0004 built in code would otherwise round to 0 and divide by it.
    (Cached: a scaler's few targets come back every poll, twice per metric.)"""
    return max(1, _milli(target))


def _ceil(x: float) -> int:
    """``ceil``, capped at the largest replica count the API accepts (int32)."""
    return min(math.ceil(x), MAX_INT32)


def clean_samples(per_pod: Mapping[str, float]) -> dict[str, float]:
    """Drop NaN, infinite and negative samples: missing data is never a number."""
    return {p: v for p, v in per_pod.items() if 0 <= v < math.inf}


def propose(
    metric: MetricSpec, obs: Observation, tolerance: Tolerance, classes: PodClasses, min_replicas: int = 1
) -> MetricProposal:
    """The replica count one metric asks for, or an invalid proposal with its error.

    ``classes`` is :func:`classify_pods` of the observation's pods at ``now``;
    ``min_replicas`` is what a guard asks for when its SLO holds (:func:`_guard_proposal`)."""
    target = metric.target
    base = _Base(metric.key, target.kind, target.amount)
    mo = obs.metrics.get(metric.key)
    if mo is None or mo.error is not None:
        return _invalid(base, mo.error if mo is not None and mo.error else "no data for this metric")
    if metric.per_pod:
        if target.kind == "value":
            samples = clean_samples(mo.per_pod)
            if not samples:
                return _invalid(base, "no valid samples")
            return _value_proposal(base, sum(samples.values()), obs, tolerance)
        if metric.square_root_staffing > 0 and target.kind == "averageValue":
            return _square_root_proposal(base, metric.square_root_staffing, mo.per_pod, obs, tolerance, classes)
        return _per_pod_proposal(base, mo.per_pod, obs, tolerance, classes)
    value = mo.value
    if value is None or not math.isfinite(value) or value < 0:
        return _invalid(base, "no valid value")
    if metric.definition.guard:
        return _guard_proposal(base, value, obs, tolerance, classes, min_replicas)
    if target.kind == "averageValue":
        return _average_value_total_proposal(base, value, obs, tolerance)
    return _value_proposal(base, value, obs, tolerance)


class _Base(NamedTuple):
    """What every proposal of one metric shares (a plain tuple: built on every poll)."""

    key: str
    target_kind: str
    target: float


def _invalid(base: _Base, error: str) -> MetricProposal:
    return MetricProposal(
        key=base.key,
        target_kind=base.target_kind,
        target=base.target,
        error=error,
        reason=f"{base.key}: unavailable ({error})",
    )


def _usage_of(samples: Mapping[str, int], kind: str, pod_names: frozenset[str]) -> int | None:
    """The truncated usage HPA compares with the target.

    averageUtilization: every pod's "request" is 100 %, and only samples of known pods
    count (HPA's utilization sum skips superfluous pods). HPA's utilization is a whole
    percent, ``trunc(100 * Σusage / Σrequest)``: samples of 400, 950, 300 and 700 % make
    587 %, not 587.5 % (its SuperfluousMetrics case). Returned in milli-percent.
    averageValue: ``trunc(Σ / n)`` over every sample, superfluous ones included.
    """
    if kind == "averageUtilization":
        known = [v for p, v in samples.items() if p in pod_names]
        if not known:
            return None
        return sum(known) // len(known) // 1000 * 1000
    if not samples:
        return None
    return sum(samples.values()) // len(samples)


def _per_pod_proposal(
    base: _Base, raw: Mapping[str, float], obs: Observation, tol: Tolerance, classes: PodClasses
) -> MetricProposal:
    kind = base.target_kind
    target_milli = _target_milli(base.target)
    # Milli-units, rounded half up (values are >= 0); NaN, infinite and negative
    # samples are dropped: missing data is never a number.
    inf, most = math.inf, MAX_VALUE  # locals: read once per sample
    set_aside = classes.set_aside
    candidates = classes.candidates
    if not set_aside and candidates and raw.keys() == candidates:
        # The common case: every pod ready, each with a sample (and no other pod), so
        # every valid sample counts, known or not (the candidates are the pods' names).
        milli = [int((v if v < most else most) * 1000 + 0.5) for v in raw.values() if 0 <= v < inf]
        if len(milli) == len(candidates):  # and all are valid
            mean = sum(milli) // len(milli)
            used = mean // 1000 * 1000 if kind == "averageUtilization" else mean  # as _usage_of
            return _ready_proposal(base, used / target_milli, used / 1000, len(milli), obs, tol, classes)
    current = obs.current_replicas
    if not obs.pods:
        return _invalid(base, "no pods of the scale target")
    if set_aside:
        samples = {
            p: int((v if v < most else most) * 1000 + 0.5)
            for p, v in raw.items()
            if 0 <= v < inf and p not in set_aside
        }
    else:  # every pod ready: no pod to set aside
        samples = {p: int((v if v < most else most) * 1000 + 0.5) for p, v in raw.items() if 0 <= v < inf}
    if not samples:
        if (classes.loading or classes.unschedulable) and not classes.candidates:
            # Every replica is still loading its model (or stuck, or waiting for a node):
            # no replica can report load yet. That is not a metrics failure — it must not
            # count towards the fallback threshold — and no reason to scale either way: hold.
            why = "still loading its model" if classes.loading else "waiting for a node"
            return MetricProposal(
                key=base.key,
                target_kind=kind,
                target=base.target,
                replicas=current,
                reason=f"every replica is {why}: hold",
                loading_adjusted=True,
            )
        valid = any(0 <= v < math.inf for v in raw.values())
        return _invalid(base, "no samples for ready pods" if valid else "no valid samples returned")
    pod_names = classes.names
    ready = candidates & samples.keys()
    ready_count = len(ready)
    missing = candidates - ready if ready_count < len(candidates) else _NONE
    loading = classes.loading
    usage = _usage_of(samples, kind, pod_names)
    if usage is None:
        return _invalid(base, "no metrics matched known pods")
    ratio = usage / target_milli
    shown = usage / 1000
    up_with_loading = bool(loading) and ratio > 1
    if not up_with_loading and not missing:
        return _ready_proposal(base, ratio, shown, ready_count, obs, tol, classes)
    # Rebalance: fill the missing pods pessimistically, and on a scale-up count the
    # loading pods at 0 (capacity already on its way).
    filled = dict(samples)
    if ratio < 1:
        fill = max(100_000, target_milli) if kind == "averageUtilization" else target_milli
        for p in missing:
            filled[p] = fill
    elif ratio > 1:
        for p in missing:
            filled[p] = 0
    if up_with_loading:
        for p in loading:
            filled[p] = 0
    new_usage = _usage_of(filled, kind, pod_names)
    assert new_usage is not None
    new_ratio = new_usage / target_milli
    without = None
    if up_with_loading:
        # What a calculator blind to loading replicas would ask for: enough ready
        # replicas for the load, plus the loading ones on top (a second scale-up).
        # Also kept when the loading ones absorb the whole load and the answer is a
        # hold: 2 ready at twice the target with 2 loading is (2+2+0+0)/4 = 1.0, hold
        # at 4 where a blind calculator asks ceil(2 x 2) + 2 = 6; the reason is Loading.
        without = _ceil(ratio * ready_count) + len(loading)
    if tol.within(new_ratio) or (ratio < 1 < new_ratio) or (ratio > 1 > new_ratio):
        return _ok(
            base,
            current,
            shown,
            ratio,
            f"within tolerance after filling missing/loading pods (ratio {new_ratio:.3f})",
            without,
        )
    count = len(filled)  # ready + filled missing + zeroed loading + superfluous samples
    n = _ceil(new_ratio * count) + len(classes.unhealthy)
    if (new_ratio < 1 and n > current) or (new_ratio > 1 and n < current):
        return _ok(base, current, shown, ratio, "new count would move against the ratio; keep current", without)
    return MetricProposal(
        key=base.key,
        target_kind=kind,
        target=base.target,
        replicas=n,
        usage=shown,
        ratio=ratio,
        reason=f"ceil({new_ratio:.3f} x {count} pods incl. assumed ones){_plus(classes)} = {n}",
        loading_adjusted=up_with_loading,
        replicas_without_loading=without,
    )


def _plus(classes: PodClasses) -> str:
    """The reason's words for pods whose GPU is lost, added on top of the ready ones."""
    return f" + {len(classes.unhealthy)} with a GPU unhealthy" if classes.unhealthy else ""


def _ready_proposal(
    base: _Base, ratio: float, shown: float, ready_count: int, obs: Observation, tol: Tolerance, classes: PodClasses
) -> MetricProposal:
    """The proposal when no pod is missing and none is loading on a scale-up: HPA's fast
    path, ``ceil(ratio x ready pods)`` outside the tolerance band."""
    current = obs.current_replicas
    if tol.within(ratio):
        return _ok(base, current, shown, ratio, f"within tolerance (ratio {ratio:.3f})")
    # The fast path multiplies by the ready-pod count, not by current or the
    # number of samples (superfluous samples do not count here).
    n = _ceil(ratio * ready_count) + len(classes.unhealthy)
    if ratio > 1 and n < current and (classes.stuck or classes.unschedulable):
        # Stuck pods are set aside, so their missing data must not turn an overload
        # into a scale-down: one ready replica at 1.2 x target with two stuck ones
        # would otherwise ask ceil(1 x 1.2) = 2 of 3. Keep current, as HPA's count
        # guard does when its assumptions would move the count against the ratio.
        return _ok(base, current, shown, ratio, "stuck pods set aside; over target, keep current")
    why = f"ceil({ratio:.3f} x {ready_count} ready pods){_plus(classes)} = {n}"
    return MetricProposal.valid(base.key, base.target_kind, base.target, n, shown, ratio, why, None)


def square_root_staffing(work: float, beta: float) -> float:
    """Replicas for ``work`` replicas' worth of load by the square-root staffing rule,
    ``R + beta sqrt(R)`` (Halfin-Whitt): the spare capacity that keeps the chance of a
    wait constant grows as the square root of the load, because Poisson-like arrivals
    fluctuate by sqrt(mean). beta 2: R = 1.4 -> 3.77, R = 9 -> 15, R = 36 -> 48."""
    return work + beta * math.sqrt(work) if work > 0 else 0.0


def _square_root_proposal(
    base: _Base, beta: float, raw: Mapping[str, float], obs: Observation, tol: Tolerance, classes: PodClasses
) -> MetricProposal:
    """A per-pod ``averageValue`` target read as one replica's capacity, staffed by
    :func:`square_root_staffing`: ``ceil(R + beta sqrt(R))`` with R = the samples of the
    ready pods summed / ``averageValue``. Pods at 30,000 and 24,000 prompt tokens/s against
    10,000 a replica: R = 5.4, beta 2 asks ``ceil(5.4 + 4.65) = 11``.

    R is the demand itself, not a per-pod average, so replicas still loading (no sample)
    need no filling: they are part of ``current`` and the answer is absolute. A ready pod
    with no sample is load unseen: an answer below current then keeps current. Tolerance:
    no change while ``need / current`` is within the band (10 replicas needing 10.5 hold).
    """
    set_aside = classes.set_aside
    samples = {p: v for p, v in clean_samples(raw).items() if p not in set_aside}
    ready = classes.candidates & samples.keys()
    if not ready:
        # No ready pod reported: the per-pod rule's answers (hold while all load, else invalid).
        return _per_pod_proposal(base, raw, obs, tol, classes)
    current = obs.current_replicas
    total = sum(min(samples[p], MAX_VALUE) for p in ready)
    work = total / max(base.target, 0.001)
    need = square_root_staffing(work, beta) + len(classes.unhealthy)
    shown = total / len(ready)
    ratio = need / current if current > 0 else math.inf
    if current > 0 and tol.within(ratio):
        return _ok(base, current, shown, ratio, f"within tolerance (R {work:.2f} -> {need:.2f} replicas)")
    n = _ceil(need)
    why = f"ceil(R + {beta:g} sqrt(R)){_plus(classes)} with R = {total:g} / {base.target:g} = {work:.3f}: {n}"
    if n < current and len(ready) < len(classes.candidates):
        return _ok(base, current, shown, ratio, f"{why}; ready pods without samples: keep current")
    return _ok(base, n, shown, ratio, why)


def _ok(
    base: _Base, n: int, usage: float, ratio: float, why: str, without_loading: int | None = None
) -> MetricProposal:
    return MetricProposal.valid(base.key, base.target_kind, base.target, n, usage, ratio, why, without_loading)


def _value_proposal(base: _Base, value: float, obs: Observation, tol: Tolerance) -> MetricProposal:
    """A target-wide ``value`` target: HPA's Object/External metric rule (§1.5).

    ``ceil(ratio * readyPods)`` where readyPods counts Running and Ready pods; from 0
    replicas the tolerance is ignored and the answer is ``ceil(ratio)``.
    """
    current = obs.current_replicas
    usage_milli = _milli(value)
    ratio = usage_milli / _target_milli(base.target)
    if current == 0:
        n = _ceil(ratio)
        return _ok(base, n, value, ratio, f"from zero: ceil({ratio:.3f}) = {n}")
    if tol.within(ratio):
        return _ok(base, current, value, ratio, f"within tolerance (ratio {ratio:.3f})")
    if not obs.pods:
        return _invalid(base, "no pods of the scale target")
    ready = sum(1 for p in obs.pods if p.phase == "Running" and p.ready)
    n = _ceil(ratio * ready)
    return _ok(base, n, value, ratio, f"ceil({ratio:.3f} x {ready} ready pods) = {n}")


def _average_value_total_proposal(base: _Base, value: float, obs: Observation, tol: Tolerance) -> MetricProposal:
    """A target-wide value with an ``averageValue`` target (HPA §1.7): pods do not enter.

    ``ratio = value / (target * status.replicas)``; outside the band the answer is
    ``ceil(value / target)`` — e.g. 12,000 tokens/s at 2,500 per replica → 5 replicas.
    """
    status_replicas = obs.status_replicas if obs.status_replicas is not None else obs.current_replicas
    usage_milli = _milli(value)
    target_milli = _target_milli(base.target)
    if status_replicas <= 0:
        n = _ceil(usage_milli / target_milli)
        return _ok(base, n, value, math.inf if usage_milli else 0.0, f"ceil({value:g} / {base.target:g}) = {n}")
    ratio = usage_milli / (target_milli * status_replicas)
    if tol.within(ratio):
        return _ok(base, status_replicas, value, ratio, f"within tolerance (ratio {ratio:.3f})")
    n = _ceil(usage_milli / target_milli)
    return _ok(base, n, value, ratio, f"ceil({value:g} / {base.target:g}) = {n}")


#: The most a guard multiplies the ready replicas by in one poll. Latency grows without
#: bound once a queue builds (a 20 s TTFT against a 1 s target is ratio 20), while the
#: capacity it buys shows only after ``startupSeconds``: a cap of 2 doubles a poll, as
#: HPA's default scale-up policy (Percent 100) allows, and asks again while it stays high.
MAX_GUARD_RATIO = 2.0


def _guard_proposal(
    base: _Base, value: float, obs: Observation, tol: Tolerance, classes: PodClasses, min_replicas: int
) -> MetricProposal:
    """A guard on an SLO (a ``Latency``): it raises the count when the SLO is broken and
    never holds replicas up when it holds.

    * at or below target: ``min_replicas``, which no other metric's proposal falls below:
      under ``max`` over metrics a guard then decides nothing, and being valid it never
      counts as missing (a 0.4 s TTFT against 1 s with the queue asking 3 -> 3);
    * above target inside the tolerance band: current (no scale-down while the SLO is
      barely broken, no scale-up on noise);
    * above the band: ``ceil(ready x min(ratio, 2))``, the ready pods being the capacity
      that produced the latency: 1.5 s against 1 s on 4 ready -> ceil(4 x 1.5) = 6; 8 s
      against 1 s -> ceil(4 x 2) = 8. An answer at or below current keeps current, and
      replicas still loading are part of current: capacity on its way counts, and the
      guard asks only for what is missing. With 4 ready and 2 loading at 2x it asks 8
      (2 more); the next poll, still at 2x with the same 4 ready, asks 8 again: a hold, so
      the guard doubles the ready capacity at most once per load time (the latency stays
      high while the backlog drains; a step every poll on ``ready + loading`` would go
      10 -> 20 -> 40 in 30 s for one burst). It does not wait for replicas another metric
      ordered: a token-rate step of 14 -> 17 a poll earlier leaves the guard free to ask
      ceil(14 x 1.86) = 27 (Azure code x3, docs/simulation.md: waiting there for the three
      cost the next burst).
    """
    current = obs.current_replicas
    ratio = _milli(value) / _target_milli(base.target)
    if ratio <= 1.0:
        return _ok(
            base,
            min_replicas,
            value,
            ratio,
            f"at or below target (ratio {ratio:.3f}): the guard asks only minReplicas ({min_replicas})",
        )
    if tol.within(ratio):
        return _ok(base, current, value, ratio, f"above target within tolerance (ratio {ratio:.3f}): keep current")
    capped = min(ratio, MAX_GUARD_RATIO)
    ready = len(classes.candidates)
    loading = len(classes.loading)
    without = _ceil(capped * (ready + loading)) if loading else None
    if ready == 0:
        return _ok(base, current, value, ratio, "above target with no ready replica: keep current", without)
    n = _ceil(capped * ready)
    if loading and n <= current:
        # At most one doubling of the ready capacity per load time: the latency seen now
        # was made before the replicas on their way could help, and it stays high while
        # the backlog drains; sized on the ready pods alone, the answer stays put until
        # the loading ones serve.
        return _ok(
            base,
            current,
            value,
            ratio,
            f"ceil({capped:.3f} x {ready} ready) = {n}; with {loading} replicas still loading, current covers "
            "it: keep current",
            without,
        )
    if n <= current:
        return _ok(
            base,
            current,
            value,
            ratio,
            f"ceil({capped:.3f} x {ready} ready) = {n}; never below current while above target: keep current",
        )
    return _ok(base, n, value, ratio, f"ceil(min({ratio:.3f}, {MAX_GUARD_RATIO:g}) x {ready} ready) = {n}", without)
