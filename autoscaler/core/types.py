"""The values that flow into and out of the pure decision core.

Everything here is frozen: an :class:`Observation` is what one poll saw, a
:class:`Memory` is what the core remembers between polls (and what the controller
persists in the GPUScaler's status so that a new leader continues with it), and a
:class:`Decision` is what the core returns — the desired replicas, the action, the
reason in words and in HPA's condition words, the limits that applied, and the next
:class:`Memory`.

Times are Unix seconds (floats). The core never reads a clock: ``now`` is passed in.

Fast constructors: the few values built on every poll (an Observation, a
MetricObservation and a MetricProposal per metric, the Decision) have a typed
classmethod that makes the instance with ``object.__new__`` and stores every field in
its ``__dict__`` at once: what the frozen dataclass's ``__init__`` does, without its one
``object.__setattr__`` call per field (1.2 us for ten fields, 0.4 us this way; written
out in each, not through a shared helper, which would cost another call).
tests/core/test_types_stored.py checks that each gives the value ``__init__`` gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SCALE_UP = "scale_up"
SCALE_DOWN = "scale_down"
HOLD = "hold"


@dataclass(frozen=True)
class PodState:
    """One pod of the scale target, as the pod list shows it.

    ``ready`` is the pod's Ready condition; ``start_time`` its ``status.startTime``
    (None when not yet started). ``phase`` is the pod phase; ``deleting`` is True
    when the pod has a deletionTimestamp (HPA ignores such pods).

    For measuring load time (``startupSeconds: auto``): ``created`` is
    ``metadata.creationTimestamp`` and ``ready_time`` the Ready condition's
    ``lastTransitionTime`` while the pod is Ready (None otherwise). ``unschedulable``
    is the scheduler's message while the pod's PodScheduled condition is False with
    reason Unschedulable (no node has a free GPU), None while it is not.
    ``gpu_unhealthy`` says why a GPU the pod holds cannot serve (the exporter's
    ``gpu_healthy`` is 0: it stopped answering NVML or reported a fatal Xid), None while
    every GPU of the pod is healthy or nothing is known: such a pod is not capacity.
    """

    name: str
    ready: bool = True
    start_time: float | None = None
    phase: str = "Running"
    deleting: bool = False
    created: float | None = None
    ready_time: float | None = None
    unschedulable: str | None = None
    gpu_unhealthy: str | None = None


@dataclass(frozen=True)
class Startup:
    """One replica's measured load time: ``seconds`` from creation to Ready, which it
    reached at ``ready_time`` (e.g. created 10:00:00, Ready 10:01:35: 95 s)."""

    pod: str
    ready_time: float
    seconds: float


@dataclass(frozen=True)
class MetricObservation:
    """What the metric source returned for one metric key.

    Per-pod signals (queue depth, GPU utilization) fill ``per_pod``; target-wide ones
    (a Prometheus query) fill ``value``. ``error`` set means the fetch failed: the
    metric is unavailable this poll. NaN and infinite values are treated as missing.
    """

    per_pod: Mapping[str, float] = field(default_factory=dict)
    value: float | None = None
    error: str | None = None
    #: What a ``lookAhead`` added to the metric's total (:mod:`autoscaler.core.lookahead`),
    #: 0 when nothing: the reason names it, so a count above today's load is explained.
    lift: float = 0.0

    @staticmethod
    def failed(error: str) -> MetricObservation:
        return MetricObservation(error=error)

    @classmethod
    def sampled(cls, per_pod: Mapping[str, float]) -> MetricObservation:
        """A per-pod metric's usable samples, built every poll for every metric: see "Fast constructors" above."""
        made = object.__new__(cls)
        made.__dict__.update({"per_pod": per_pod, "value": None, "error": None, "lift": 0.0})
        return made


@dataclass(frozen=True)
class Observation:
    """One poll of a scale target.

    ``current_replicas`` is ``scale.spec.replicas``; ``status_replicas`` is
    ``scale.status.replicas`` (used, as in HPA, by target-wide ``averageValue``
    targets; defaults to ``current_replicas``). A metric key absent from ``metrics``
    counts as unavailable. ``startups`` are the load times measured since the last poll
    (:func:`autoscaler.core.startup.measure_startups`): the core remembers them.
    """

    current_replicas: int
    pods: tuple[PodState, ...] = ()
    metrics: Mapping[str, MetricObservation] = field(default_factory=dict)
    status_replicas: int | None = None
    startups: tuple[Startup, ...] = ()

    @classmethod
    def of(
        cls,
        current_replicas: int,
        pods: tuple[PodState, ...],
        metrics: Mapping[str, MetricObservation],
        status_replicas: int | None = None,
        startups: tuple[Startup, ...] = (),
    ) -> Observation:
        """The observation of one poll (built every poll): see "Fast constructors" above."""
        made = object.__new__(cls)
        made.__dict__.update(
            {
                "current_replicas": current_replicas,
                "pods": pods,
                "metrics": metrics,
                "status_replicas": status_replicas,
                "startups": startups,
            }
        )
        return made


@dataclass(frozen=True)
class Recommendation:
    """One past proposal (unstabilized, unclamped), as HPA records it."""

    timestamp: float
    replicas: int


@dataclass(frozen=True)
class ScaleEvent:
    """One applied change: ``replicas`` is the magnitude |new - old|."""

    timestamp: float
    direction: str  # "up" | "down"
    replicas: int


@dataclass(frozen=True)
class Memory:
    """What the core carries from one poll to the next.

    Empty ``recommendations`` means the scaler has never been seen: the core then
    seeds the history with the current count at ``now`` (as HPA does), so a new or
    restarted scaler does not scale down inside the scale-down window.

    ``startups`` are the last measured load times (at most
    :data:`autoscaler.core.startup.REMEMBERED_STARTUPS`, oldest first); ``startups_since``
    is when measuring began (the first poll): a pod Ready at or before it, or before the
    newest remembered startup, is not measured (again).
    """

    recommendations: tuple[Recommendation, ...] = ()
    scale_events: tuple[ScaleEvent, ...] = ()
    consecutive_failures: int = 0
    last_scale_up_time: float | None = None
    last_scale_down_time: float | None = None
    startups: tuple[Startup, ...] = ()
    startups_since: float | None = None


@dataclass(frozen=True)
class MetricProposal:
    """One metric's proposal, HPA's per-metric replica calculation.

    ``replicas`` is None when the metric was invalid (``error`` says why). ``usage`` is
    the value reported in status: the per-pod average (or percent) for per-pod targets,
    the target-wide value otherwise. ``ratio`` is usage / target before assumptions
    about missing and loading pods are filled in.
    """

    key: str
    target_kind: str
    target: float
    replicas: int | None = None
    usage: float | None = None
    ratio: float | None = None
    reason: str = ""
    error: str | None = None
    loading_adjusted: bool = False
    replicas_without_loading: int | None = None

    @classmethod
    def valid(
        cls,
        key: str,
        target_kind: str,
        target: float,
        replicas: int,
        usage: float,
        ratio: float,
        reason: str,
        replicas_without_loading: int | None,
    ) -> MetricProposal:
        """A valid proposal (``error`` None; loading-adjusted when ``replicas_without_loading``
        is set), built on every poll for every metric: see "Fast constructors" above."""
        made = object.__new__(cls)
        made.__dict__.update(
            {
                "key": key,
                "target_kind": target_kind,
                "target": target,
                "replicas": replicas,
                "usage": usage,
                "ratio": ratio,
                "reason": reason,
                "error": None,
                "loading_adjusted": replicas_without_loading is not None,
                "replicas_without_loading": replicas_without_loading,
            }
        )
        return made


@dataclass(frozen=True)
class Limit:
    """One normalization step that changed the count: its HPA-style name, before/after, and why."""

    name: str
    before: int
    after: int
    message: str


@dataclass(frozen=True)
class Condition:
    """A status condition as the core sees it; the controller adds lastTransitionTime."""

    type: str
    status: str  # "True" | "False"
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    """The core's answer for one poll.

    ``memory`` is the next memory if ``desired_replicas`` is applied (it records the
    scale event); ``memory_if_not_applied`` is the one to keep when the scale update
    fails or is not performed (``--dry-run``), as HPA records events only after a
    successful update.
    """

    current_replicas: int
    desired_replicas: int
    action: str
    reason: str
    reason_code: str
    proposals: tuple[MetricProposal, ...]
    leading_metric: str | None
    limits: tuple[Limit, ...]
    conditions: tuple[Condition, ...]
    metrics_available: bool
    memory: Memory
    memory_if_not_applied: Memory

    @classmethod
    def of(
        cls,
        current_replicas: int,
        desired_replicas: int,
        action: str,
        reason: str,
        reason_code: str,
        proposals: tuple[MetricProposal, ...],
        leading_metric: str | None,
        limits: tuple[Limit, ...],
        conditions: tuple[Condition, ...],
        metrics_available: bool,
        memory: Memory,
        memory_if_not_applied: Memory,
    ) -> Decision:
        """The Decision with these fields, built once a poll: see "Fast constructors" above."""
        made = object.__new__(cls)
        made.__dict__.update(
            {
                "current_replicas": current_replicas,
                "desired_replicas": desired_replicas,
                "action": action,
                "reason": reason,
                "reason_code": reason_code,
                "proposals": proposals,
                "leading_metric": leading_metric,
                "limits": limits,
                "conditions": conditions,
                "metrics_available": metrics_available,
                "memory": memory,
                "memory_if_not_applied": memory_if_not_applied,
            }
        )
        return made
