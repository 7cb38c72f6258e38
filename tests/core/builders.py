"""Small builders for the decision-core tables: a spec, pods, observations and memory.

They keep each table row to the facts that matter (counts, samples, targets, events)
and build the frozen core types from them. Times are seconds relative to ``NOW``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from autoscaler.core import Memory, MetricObservation, Observation, PodState, Recommendation, ScaleEvent
from autoscaler.spec import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    GPU_UTILIZATION_KEY,
    QUEUE_DEPTH_KEY,
    Behavior,
    Fallback,
    GPUScalerSpec,
    MetricSpec,
    MetricTarget,
    ScaleTargetRef,
    ScalingPolicy,
    ScalingRules,
)

NOW = 1_000_000.0
#: How long ago a "loading" pod started: well inside the default 120 s startupSeconds.
RECENT = 10.0
#: How long ago a "stuck" pod started: well past the default 120 s startupSeconds.
LONG_AGO = 3_600.0

#: Memory of a scaler that has been seen before but whose records are all older than
#: any window (HPA's tests pass ``recommendations: []`` to skip the first-sight seeding).
SEEN = Memory(recommendations=(Recommendation(NOW - 100_000, 1),))

#: Both directions wide open, so a table about proposals sees the proposal itself.
OPEN_UP = ScalingRules(stabilization_window_seconds=0, tolerance=0.1, cooldown_seconds=0,
                       select_policy="Max", policies=(ScalingPolicy("Pods", 100_000, 15),))
OPEN_DOWN = ScalingRules(stabilization_window_seconds=0, tolerance=0.1, cooldown_seconds=0,
                         select_policy="Max", policies=(ScalingPolicy("Percent", 100, 15),))
OPEN = Behavior(scale_up=OPEN_UP, scale_down=OPEN_DOWN)
DEFAULT = Behavior()


def gpu_util(target: float) -> MetricSpec:
    return MetricSpec(type="GPUUtilization", target=MetricTarget(average_utilization=target))


def queue(target: float) -> MetricSpec:
    return MetricSpec(type="QueueDepth", target=MetricTarget(average_value=target))


def queue_total(target: float) -> MetricSpec:
    """Queue depth summed over pods against a target-wide ``value``."""
    return MetricSpec(type="QueueDepth", target=MetricTarget(value=target))


def prom(name: str = "qps", *, value: float | None = None, average: float | None = None) -> MetricSpec:
    target = MetricTarget(value=value) if value is not None else MetricTarget(average_value=average)
    return MetricSpec(type="Prometheus", target=target, name=name, query=f"sum({name})")


def rules(policies: Sequence[tuple[str, int, int]] = (), *, window: int = 0, select: str = "Max",
          tolerance: float = 0.1, cooldown: int = 0) -> ScalingRules:
    """One direction's rules; ``policies`` as (type, value, periodSeconds)."""
    return ScalingRules(stabilization_window_seconds=window, tolerance=tolerance, cooldown_seconds=cooldown,
                        select_policy=select, policies=tuple(ScalingPolicy(*p) for p in policies))


def spec(*metrics: MetricSpec, min_replicas: int = 1, max_replicas: int = 1000,
         behavior: Behavior = DEFAULT, up: ScalingRules | None = None, down: ScalingRules | None = None,
         startup: int = 120, fallback: Fallback | None = None, paused: bool = False) -> GPUScalerSpec:
    if up is not None or down is not None:
        behavior = Behavior(scale_up=up or behavior.scale_up, scale_down=down or behavior.scale_down)
    return GPUScalerSpec(
        scale_target_ref=ScaleTargetRef("apps/v1", "Deployment", "llm"),
        min_replicas=min_replicas, max_replicas=max_replicas, metrics=tuple(metrics or (queue(4),)),
        startup_seconds=startup, behavior=behavior, fallback=fallback, paused=paused,
    )


def pods(n: int, *, loading: Iterable[int] = (), stuck: Iterable[int] = (), pending: Iterable[int] = (),
         failed: Iterable[int] = (), deleting: Iterable[int] = ()) -> tuple[PodState, ...]:
    """``n`` pods p0..p(n-1), ready and started long ago unless listed by index.

    loading: not Ready, started RECENT s ago; stuck: not Ready, started LONG_AGO;
    pending: phase Pending, not started; failed: phase Failed; deleting: has a
    deletionTimestamp.
    """
    loading, stuck, pending = set(loading), set(stuck), set(pending)
    failed, deleting = set(failed), set(deleting)
    out = []
    for i in range(n):
        name = f"p{i}"
        if i in loading:
            out.append(PodState(name, ready=False, start_time=NOW - RECENT))
        elif i in stuck:
            out.append(PodState(name, ready=False, start_time=NOW - LONG_AGO))
        elif i in pending:
            out.append(PodState(name, ready=False, start_time=None, phase="Pending"))
        elif i in failed:
            out.append(PodState(name, ready=False, start_time=NOW - LONG_AGO, phase="Failed"))
        else:
            out.append(PodState(name, ready=True, start_time=NOW - LONG_AGO, deleting=i in deleting))
    return tuple(out)


def samples(*values: float) -> dict[str, float]:
    """Per-pod samples for p0, p1, ... in order (fewer values than pods = missing pods;
    more = samples of pods not in the pod list, HPA's "superfluous" metrics)."""
    return {f"p{i}": v for i, v in enumerate(values)}


def observe(current: int, pod_list: tuple[PodState, ...] | None = None, *,
            metrics: Mapping[str, MetricObservation] | None = None, status_replicas: int | None = None,
            gpu: Mapping[str, float] | None = None, queue_depth: Mapping[str, float] | None = None,
            **values: float | str) -> Observation:
    """An observation; ``gpu``/``queue_depth`` are per-pod samples, keyword ``name=value`` a
    target-wide Prometheus value, and ``name="!error"`` a failed fetch."""
    ms: dict[str, MetricObservation] = dict(metrics or {})
    if gpu is not None:
        ms[GPU_UTILIZATION_KEY] = MetricObservation(per_pod=dict(gpu))
    if queue_depth is not None:
        ms[QUEUE_DEPTH_KEY] = MetricObservation(per_pod=dict(queue_depth))
    for name, v in values.items():
        ms[name] = MetricObservation.failed(v[1:]) if isinstance(v, str) else MetricObservation(value=v)
    return Observation(current_replicas=current, pods=pods(current) if pod_list is None else pod_list,
                       metrics=ms, status_replicas=status_replicas)


def asking(proposal: float, current: int, **kw: object) -> tuple[MetricSpec, Observation]:
    """A metric and an observation whose proposal is exactly ``proposal`` replicas.

    A target-wide value against ``averageValue: 1`` proposes ``ceil(value / 1)`` whenever
    the ratio ``value / current`` leaves the band; the caller's rules use tolerance 0 so
    only ``proposal == current`` stays inside it.
    """
    return prom("demand", average=1), observe(current, demand=proposal, **kw)  # type: ignore[arg-type]


def events(direction: str, changes: Sequence[int], period: float) -> tuple[ScaleEvent, ...]:
    """HPA's generateEventsUniformDistribution: ``changes`` spread evenly over the last
    ``period`` seconds, each at the centre of its segment (oldest first). For [1, 5, 9]
    over 120 s the ages are 100, 60 and 20 s."""
    seg = period / len(changes)
    return tuple(ScaleEvent(NOW - (period - seg * (i + 1) + seg / 2), direction, c)
                 for i, c in enumerate(changes))


def recs(*pairs: tuple[int, float]) -> tuple[Recommendation, ...]:
    """Recommendations as (replicas, age in seconds)."""
    return tuple(Recommendation(NOW - age, r) for r, age in pairs)


__all__ = [
    "DEFAULT", "DEFAULT_SCALE_DOWN", "DEFAULT_SCALE_UP", "LONG_AGO", "NOW", "OPEN", "RECENT", "SEEN",
    "asking", "events", "gpu_util", "observe", "pods", "prom", "queue", "queue_total", "recs", "rules",
    "samples", "spec",
]
