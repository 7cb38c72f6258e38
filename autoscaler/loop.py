"""The control loop: poll each GPUScaler, decide, scale, and report.

One :meth:`ControlLoop.tick` takes ``now`` from its caller (the clock is read once per
tick), picks the scalers that are due, fetches every built-in signal they need in ONE
query per signal (:meth:`~autoscaler.sources.base.MetricSource.fetch_signals`), and
hands each due scaler to a bounded thread pool. A scaler is never queued twice (its
in-flight flag), so a scaler whose API calls hang holds one worker and the rest go on.

One scaler's reconcile (:meth:`ControlLoop.reconcile`) is the HPA's: read the scale,
list the pods by the scale's selector, observe, ``decide``, PATCH only when the count
changes (never under ``--dry-run``), keep ``decision.memory`` when the change was
applied and ``decision.memory_if_not_applied`` otherwise, then write status, Events,
self-metrics and one JSON log line. Each failing step is a reason (``InvalidSpec``,
``FailedGetScale``, ``FailedGetMetrics``, ``FailedRescale``, ``FailedUpdateStatus``, and
``InternalError`` when an unexpected exception ends one reconcile, and ``Unschedulable``
while pods of the target wait for a node with a free GPU: ``CapacityAvailable=False``,
or ``GPUUnhealthy`` while pods hold a GPU the exporter reports unhealthy) that shows in
the conditions every poll, but becomes a Warning Event and a log line only when it
newly appears.

GPU health: with the per-pod signals the tick fetches ``gpu_healthy`` too (one query,
:mod:`autoscaler.metrics.gpu_health`); a pod whose fresh sample is 0 reaches the core
with ``gpu_unhealthy`` set (:func:`~autoscaler.core.health.mark_unhealthy`) and is not
counted as capacity. A failed or stale health fetch marks nobody.

Pauses: the annotations ``gpuautoscaler.io/paused``, ``paused-scale-in`` and
``paused-scale-out`` on the GPUScaler are read on every poll and OR into the spec's
``paused``, ``pausedScaleIn`` and ``pausedScaleOut`` before the core sees it
(:func:`~autoscaler.spec.apply_pause_annotations`); the ``Paused`` condition says what is
paused and by what, and a Normal Event marks each pause's start and end.

Load time: before deciding, the loop measures the pods that turned Ready since the
memory's watermark (:func:`~autoscaler.core.startup.measure_startups`), hands them to the
core in the Observation (which remembers them for ``startupSeconds: auto``) and observes
each once in ``gpu_autoscaler_replica_startup_seconds``.

Smoothing: a metric with ``window:`` is decided on its mean over that window, and one
with ``lookAhead:`` on its projection (:func:`~autoscaler.core.window.smooth`, between
observe and decide); their points are kept in the scaler's in-process state, so a new
leader starts them empty.

Scheduling: a scaler first seen at ``t0`` with interval ``i`` is due at
``t0 + k*i + U(0, jitter*i)``; with i = 15 s and jitter 0.1 its polls land in
[t0 + 15k, t0 + 15k + 1.5). The jitter is drawn afresh around a fixed grid, so it
spreads load without drifting, and scalers created together stay close enough to
share a tick's batched queries.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from autoscaler.core import Condition, Decision, Memory, Observation, PodState, decide
from autoscaler.core.health import mark_unhealthy
from autoscaler.core.holds import GPU_UNHEALTHY, UNSCHEDULABLE
from autoscaler.core.observe import Reading, max_age_of, observe
from autoscaler.core.proposal import unschedulable_pods
from autoscaler.core.startup import measure_startups
from autoscaler.core.window import EMPTY as EMPTY_WINDOW
from autoscaler.core.window import WindowState, smooth
from autoscaler.kube.errors import KubeError
from autoscaler.kube.status import build_status, memory_from_status, memory_to_status, merge_conditions
from autoscaler.kube.types import EventSink, PodLister, Scale, ScaleClient, ScalerObject, ScalerStore
from autoscaler.metrics.gpu_health import GPU_HEALTH
from autoscaler.sources.base import MetricSource, Signal, SignalSnapshot, read_metric, signals_of
from autoscaler.spec import GPUScalerSpec, Pause, SpecError, apply_pause_annotations, parse_spec
from autoscaler.telemetry import MetricView, ScalerView, Telemetry

log = logging.getLogger("autoscaler.loop")

#: How often a scaler whose spec does not parse is looked at again (and at once when
#: its generation changes, i.e. someone edited it).
INVALID_SPEC_INTERVAL = 15.0

#: Failure reasons, as Event reasons (HPA's words where HPA has one).
INVALID_SPEC = "InvalidSpec"
FAILED_GET_SCALE = "FailedGetScale"
FAILED_GET_METRICS = "FailedGetMetrics"
FAILED_RESCALE = "FailedRescale"
FAILED_UPDATE_STATUS = "FailedUpdateStatus"
#: A bug of ours met this scaler's spec or data. The scaler holds (no PATCH) and says so
#: in its conditions and an Event; the other scalers go on.
INTERNAL_ERROR = "InternalError"

#: The condition type that says what is paused (its reason: the pauses in force, joined
#: by commas, as a condition reason allows), and each pause's words.
PAUSED = "Paused"
PAUSE_WORDS = {
    "Paused": "scaling is paused (the count stays as it is)",
    "ScaleInPaused": "scale-in is paused (never below the current count)",
    "ScaleOutPaused": "scale-out is paused (never above the current count)",
}


@dataclass(frozen=True)
class LoopSettings:
    """How the loop runs; every default suits a cluster."""

    #: Namespaces to watch; None watches all.
    namespaces: tuple[str, ...] | None = None
    #: Decide, log and write status, but never PATCH a scale.
    dry_run: bool = False
    #: Scalers reconciled at once. 16 hides ~20 ms of API latency for 1,000 scalers.
    workers: int = 16
    #: Share of the polling interval added at random to each poll (0.1: up to 1.5 s of 15 s).
    jitter: float = 0.1
    #: Seconds between scheduling passes. A scaler due within half a tick is taken now,
    #: so with 1 s ticks a 1 s scaler is polled every tick whatever its jitter.
    tick_seconds: float = 1.0


@dataclass
class ScalerState:
    """What one scaler carries between polls inside this process.

    ``memory`` is the memory kept at the last poll. The status holds the same, but the
    copy we read may lag behind our own last write (a watch cache), so the newer of
    the two wins (:func:`newest_memory`). ``failures`` are the failure reasons active
    at the last poll: Events and error logs fire only for reasons not already there.
    """

    anchor: float
    interval: float
    next_due: float
    generation: int
    parsed: GPUScalerSpec | SpecError
    memory: Memory | None = None
    failures: frozenset[str] | None = None  # None: not seen yet (seeded from status)
    in_flight: bool = False
    #: ``(name, created)`` of the target's pods whose load time this process measured: a
    #: pod whose readiness flaps later is not measured twice.
    measured: set[tuple[str, float]] = field(default_factory=set)
    #: The pauses in force at the last poll (``Paused``, ``ScaleInPaused``, ``ScaleOutPaused``):
    #: a Normal Event marks each start and end. None: not seen yet (seeded from status).
    pauses: frozenset[str] | None = None
    #: The metrics' averaging windows and look-ahead points (``window:``, ``lookAhead:``), kept
    #: here and not in status: a steady scaler writes no status. A new leader starts
    #: empty, at worst as reactive as no window; its scale-downs stay held by the
    #: stabilization memory that status keeps.
    window: WindowState = EMPTY_WINDOW


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did (returned to tests and the benchmark; logged as one line)."""

    namespace: str
    name: str
    decision: Decision | None
    applied: bool
    failures: Mapping[str, str] = field(default_factory=dict)  # reason -> message
    status: Mapping[str, Any] | None = None


class ControlLoop:
    """Schedules and runs reconciles; owns the worker pool and the per-scaler state."""

    def __init__(
        self,
        *,
        scalers: ScalerStore,
        scales: ScaleClient,
        pods: PodLister,
        events: EventSink,
        metrics: MetricSource,
        telemetry: Telemetry,
        settings: LoopSettings = LoopSettings(),
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.scalers, self.scales, self.pods, self.events = scalers, scales, pods, events
        self.metrics = metrics
        self.telemetry = telemetry
        self.clock = clock
        self._rng = rng or random.Random()
        self._pool = ThreadPoolExecutor(max_workers=max(1, settings.workers), thread_name_prefix="reconcile")
        self._states: dict[str, ScalerState] = {}
        self._names: dict[str, tuple[str, str]] = {}
        self._pending: set[Future[Outcome]] = set()
        self._lock = threading.Lock()
        self._list_failed = False
        self.last_tick: float | None = None

    # -- scheduling -----------------------------------------------------------------
    def tick(self, now: float) -> list[Future[Outcome]]:
        """Start a reconcile of every due scaler in the pool; returns their futures."""
        self.last_tick = now
        try:
            objects = self.scalers.list_scalers(self.settings.namespaces)
        except Exception as e:  # any failure: retried next tick, the loop lives on
            self.telemetry.errors.labels("list_scalers").inc()
            if not self._list_failed:
                log.warning("cannot list GPUScalers", extra={"fields": {"error": str(e)}})
            self._list_failed = True
            return []
        if self._list_failed:
            log.info("listing GPUScalers works again")
            self._list_failed = False

        due: list[tuple[ScalerObject, ScalerState]] = []
        with self._lock:
            seen = set()
            for obj in objects:
                seen.add(obj.uid)
                state = self._state(obj, now)
                if not state.in_flight and state.next_due <= now + self.settings.tick_seconds / 2:
                    state.in_flight = True
                    self._schedule_next(state, now)
                    due.append((obj, state))
            for uid in [u for u in self._states if u not in seen]:
                del self._states[uid]
                self.telemetry.forget(*self._names.pop(uid))
        if not due:
            return []
        needed = {
            s for _, st in due if isinstance(st.parsed, GPUScalerSpec) for m in st.parsed.metrics for s in signals_of(m)
        }
        snapshots: dict[Signal, SignalSnapshot] = {}
        if needed:
            namespaces = {obj.namespace for obj, _ in due}
            snapshots = self.metrics.fetch_signals(needed, namespaces)
            if any(s.error is None for s in snapshots.values()):
                # Which pods hold a GPU that cannot serve: one query more, and only when
                # Prometheus answers. While every signal fails the scalers hold anyway, and
                # a further query through the retries would only delay their conditions.
                snapshots.update(self.metrics.fetch_signals((GPU_HEALTH,), namespaces))
        futures = [self._pool.submit(self._run_one, obj, st, snapshots, now) for obj, st in due]
        with self._lock:
            self._pending.update(futures)
        for f in futures:
            f.add_done_callback(self._done)
        return futures

    def _done(self, future: Future[Outcome]) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait for the reconciles in flight (True when none is left). Called when
        leadership ends, so that no PATCH of ours lands after the next leader starts."""
        with self._lock:
            pending = list(self._pending)
        _, not_done = wait(pending, timeout=timeout)
        return not not_done

    def _run_one(
        self, obj: ScalerObject, state: ScalerState, snapshots: Mapping[Signal, SignalSnapshot], now: float
    ) -> Outcome:
        started = time.perf_counter()
        try:
            return self.reconcile(obj, state, snapshots, now)
        except Exception as e:
            self.telemetry.errors.labels("internal").inc()
            log.exception("reconcile failed", extra={"fields": {"namespace": obj.namespace, "scaler": obj.name}})
            return self._internal_error(obj, state, e, now)
        finally:
            self.telemetry.reconcile_duration.observe(time.perf_counter() - started)
            with self._lock:
                state.in_flight = False

    def _internal_error(self, obj: ScalerObject, state: ScalerState, error: Exception, now: float) -> Outcome:
        """An unexpected exception in one reconcile: hold the count (nothing was patched
        after the failure), write ``ScalingActive=False, reason InternalError`` to status
        and a Warning Event when the reason is new, within the same poll. The status keeps
        its last numbers and memory as they are: the memory we hold may be what failed."""
        message = f"internal error, holding the count: {type(error).__name__}: {error}"
        failures = {INTERNAL_ERROR: message}
        cond = Condition("ScalingActive", "False", INTERNAL_ERROR, message)
        status_written: Mapping[str, Any] | None = None
        try:
            status = {k: v for k, v in obj.status.items() if k != "conditions"}
            status.update(
                observedGeneration=obj.generation,
                conditions=merge_conditions((cond,), obj.status.get("conditions"), now),
            )
            self.scalers.write_status(obj, status)
            status_written = status
        except Exception as e:  # the API failing too: the Event and the log still say it
            failures[FAILED_UPDATE_STATUS] = f"cannot write status: {e}"
            self.telemetry.errors.labels("write_status").inc()
        before = state.failures or frozenset()
        state.failures = frozenset(failures)
        for reason, text in failures.items():
            if reason not in before:
                self._emit(obj, "Warning", reason, text)
        return Outcome(obj.namespace, obj.name, None, False, failures, status_written)

    def _state(self, obj: ScalerObject, now: float) -> ScalerState:
        state = self._states.get(obj.uid)
        if state is not None and state.generation == obj.generation:
            return state
        parsed = _parse(obj)
        interval = (
            float(parsed.polling_interval_seconds) if isinstance(parsed, GPUScalerSpec) else INVALID_SPEC_INTERVAL
        )
        if state is None:
            state = ScalerState(anchor=now, interval=interval, next_due=now, generation=obj.generation, parsed=parsed)
            self._states[obj.uid] = state
            self._names[obj.uid] = (obj.namespace, obj.name)
        else:  # edited: poll now, on a grid anchored now
            state.parsed, state.generation = parsed, obj.generation
            state.anchor, state.interval, state.next_due = now, interval, now
        return state

    def _schedule_next(self, state: ScalerState, now: float) -> None:
        # The next grid point after now (skipping any missed while we were slow).
        cycle = math.floor((now - state.anchor) / state.interval + 0.5) + 1
        state.next_due = (
            state.anchor + cycle * state.interval + self._rng.uniform(0, self.settings.jitter * state.interval)
        )

    def run(self, stop: threading.Event) -> None:
        """Tick every ``tick_seconds`` until ``stop`` is set."""
        while not stop.is_set():
            started = self.clock()
            try:
                self.tick(started)
            except Exception:
                self.telemetry.errors.labels("internal").inc()
                log.exception("tick failed")
            stop.wait(max(0.0, self.settings.tick_seconds - (self.clock() - started)))

    def reset(self) -> None:
        """Forget all in-process state (on losing leadership): a later term starts from
        the memory in status, which another leader may have advanced meanwhile."""
        with self._lock:
            self._states.clear()
            self._names.clear()
        self.telemetry.forget_all()

    def close(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # -- one scaler -------------------------------------------------------------------
    def reconcile(
        self, obj: ScalerObject, state: ScalerState, snapshots: Mapping[Signal, SignalSnapshot], now: float
    ) -> Outcome:
        """One poll of one scaler (see the module docstring for the steps)."""
        if state.failures is None:
            state.failures = failures_in_status(obj.status)
        memory = newest_memory(state.memory, memory_from_status(obj.status, now if state.memory is None else None))
        spec = state.parsed
        if isinstance(spec, SpecError):
            message = "; ".join(f"{e.path}: {e.message}" for e in spec.errors)
            self.telemetry.errors.labels("invalid_spec").inc()
            cond = Condition("ScalingActive", "False", INVALID_SPEC, message)
            self.telemetry.record(ScalerView(obj.namespace, obj.name, None, None, None, None, False))
            return self._finish(obj, state, None, memory, (cond,), {INVALID_SPEC: message}, now)

        # The pause annotations, read on every poll (they change no generation), OR into the spec.
        paused = apply_pause_annotations(spec, obj.annotations)
        spec = paused.spec
        pause_conditions = self._announce_pauses(obj, state, paused.pauses)

        ref = spec.scale_target_ref
        try:
            scale = self.scales.get_scale(obj.namespace, ref)
        except KubeError as e:
            message = f"cannot read the scale of {ref.kind}/{ref.name}: {e}"
            self.telemetry.errors.labels("get_scale").inc()
            cond = Condition("AbleToScale", "False", FAILED_GET_SCALE, message)
            self.telemetry.record(
                ScalerView(obj.namespace, obj.name, None, None, spec.min_replicas, spec.max_replicas, False)
            )
            return self._finish(obj, state, None, memory, (cond, *pause_conditions), {FAILED_GET_SCALE: message}, now)

        obs = self._observe(obj, spec, scale, snapshots, now)
        smoothed = smooth(spec, obs, state.window, now)
        obs, state.window = smoothed.observation, smoothed.state
        startups = measure_startups(obs.pods, memory, state.measured)
        if startups:
            obs = replace(obs, startups=startups)
        decision = decide(spec, obs, memory, now)
        self._measured(obj, state, obs)
        failures: dict[str, str] = {}
        conditions: list[Condition] = list(pause_conditions)
        invalid = [p for p in decision.proposals if p.error is not None]
        if invalid:
            failures[FAILED_GET_METRICS] = "; ".join(f"{p.key}: {p.error}" for p in invalid)
            self.telemetry.errors.labels("get_metrics").inc()
        capacity = next((c for c in decision.conditions if c.type == "CapacityAvailable"), None)
        if capacity is not None and capacity.status == "False":
            failures[capacity.reason] = capacity.message  # Unschedulable or GPUUnhealthy

        applied = False
        if decision.desired_replicas != decision.current_replicas and not self.settings.dry_run:
            # Timing for benchmarks/reaction.py: the poll's tick time and when the decision was made.
            log.debug(
                "scaling",
                extra={"fields": {"namespace": obj.namespace, "scaler": obj.name, "tick": now, "decided": time.time()}},
            )
            try:
                self.scales.set_replicas(obj.namespace, ref, decision.desired_replicas)
                applied = True
            except KubeError as e:
                message = f"cannot set the scale of {ref.kind}/{ref.name} to {decision.desired_replicas}: {e}"
                failures[FAILED_RESCALE] = message
                self.telemetry.errors.labels("rescale").inc()
                conditions.append(Condition("AbleToScale", "False", "FailedUpdateScale", message))
        memory = decision.memory if applied else decision.memory_if_not_applied
        state.memory = memory
        if applied:
            direction = "up" if decision.desired_replicas > decision.current_replicas else "down"
            self.telemetry.scale_events.labels(obj.namespace, obj.name, direction).inc()
            self._emit(
                obj, "Normal", "SuccessfulRescale", f"New size: {decision.desired_replicas}; reason: {decision.reason}"
            )
        self.telemetry.record(
            ScalerView(
                obj.namespace,
                obj.name,
                scale.replicas,
                decision.desired_replicas,
                spec.min_replicas,
                spec.max_replicas,
                metrics_available=not invalid,
                metrics=tuple(MetricView(p.key, p.usage, p.target) for p in decision.proposals),
                unschedulable_replicas=len(unschedulable_pods(obs.pods)),
            )
        )
        log.info("decision", extra={"fields": decision_fields(obj, decision, applied, self.settings.dry_run)})
        return self._finish(obj, state, decision, memory, tuple(conditions), failures, now, applied=applied)

    def _announce_pauses(
        self, obj: ScalerObject, state: ScalerState, pauses: tuple[Pause, ...]
    ) -> tuple[Condition, ...]:
        """The ``Paused`` condition, and a Normal Event (and a log line) when a pause starts
        or ends, e.g. ``ScaleInPaused: scale-in is paused (never below the current count):
        annotation gpuautoscaler.io/paused-scale-in='true'`` and later ``ScaleInResumed``.
        A scaler never paused has no ``Paused`` condition; once it has one, it turns
        False (reason ``NotPaused``) when the last pause ends."""
        previous = [c for c in obj.status.get("conditions") or () if isinstance(c, Mapping)]
        before = state.pauses if state.pauses is not None else pauses_in_status(obj.status)
        active = {p.reason: p for p in pauses}
        fields = {"namespace": obj.namespace, "scaler": obj.name}
        for p in pauses:
            if p.reason not in before:
                log.info(f"{p.reason}: {p.source}", extra={"fields": {**fields, "reason": p.reason}})
                self._emit(obj, "Normal", p.reason, f"{PAUSE_WORDS[p.reason]}: {p.source}")
        for reason in sorted(before - active.keys()):
            resumed = reason.removesuffix("Paused") + "Resumed"
            log.info(resumed, extra={"fields": {**fields, "reason": resumed}})
            words = PAUSE_WORDS[reason].split(" (")[0].replace(" is paused", " is no longer paused")
            self._emit(obj, "Normal", resumed, words)
        state.pauses = frozenset(active)
        if pauses:
            return (
                Condition(
                    PAUSED, "True", ",".join(active), "; ".join(f"{PAUSE_WORDS[p.reason]}: {p.source}" for p in pauses)
                ),
            )
        if before or any(c.get("type") == PAUSED for c in previous):
            return (Condition(PAUSED, "False", "NotPaused", "neither direction is paused"),)
        return ()

    def _measured(self, obj: ScalerObject, state: ScalerState, obs: Observation) -> None:
        """Observe each new load time once, and remember which pods were measured (of the
        pods still there: the set stays as small as the target)."""
        new = {s.pod for s in obs.startups}
        for s in obs.startups:
            self.telemetry.replica_startup.labels(obj.namespace, obj.name).observe(s.seconds)
        if obs.pods:
            state.measured = {
                key
                for p in obs.pods
                if p.created is not None and ((key := (p.name, p.created)) in state.measured or p.name in new)
            }

    def _observe(
        self,
        obj: ScalerObject,
        spec: GPUScalerSpec,
        scale: Scale,
        snapshots: Mapping[Signal, SignalSnapshot],
        now: float,
    ) -> Observation:
        """Read each metric (the tick's snapshot joined to this target's pods, or its
        custom query) and hand the readings to the one observe step."""
        pods: tuple[PodState, ...] = ()
        pods_error = None
        try:
            pods = self.pods.list_pods(obj.namespace, scale.selector)
        except KubeError as e:
            pods_error = f"cannot list the target's pods: {e}"
            self.telemetry.errors.labels("list_pods").inc()
        names = [p.name for p in pods]  # marking a pod unhealthy keeps its name
        health = snapshots.get(GPU_HEALTH)
        if health is not None and pods:
            pods = mark_unhealthy(pods, health.reading(obj.namespace, names), max_age_of(spec), now)
        readings: dict[str, Reading] = {}
        for m in spec.metrics:
            if pods_error is not None and signals_of(m):
                readings[m.key] = Reading(error=pods_error)
            else:
                readings[m.key] = read_metric(m, snapshots, self.metrics, obj.namespace, names)
        return observe(
            spec, readings, current_replicas=scale.replicas, pods=pods, now=now, status_replicas=scale.status_replicas
        )

    def _finish(
        self,
        obj: ScalerObject,
        state: ScalerState,
        decision: Decision | None,
        memory: Memory,
        conditions: tuple[Condition, ...],
        failures: dict[str, str],
        now: float,
        *,
        applied: bool = False,
    ) -> Outcome:
        """Write status; announce failure reasons that are new since the last poll."""
        previous = obj.status.get("conditions")
        if decision is not None:
            status = build_status(decision, obj, now, previous, applied=applied, overrides=conditions)
        else:
            # No decision this poll: keep the last numbers and the memory, update conditions.
            status = {k: v for k, v in obj.status.items() if k not in ("conditions", "memory")}
            status.update(
                observedGeneration=obj.generation,
                memory=memory_to_status(memory),
                conditions=merge_conditions(conditions, previous, now),
            )
        try:
            self.scalers.write_status(obj, status)
            status_ok = True
        except KubeError as e:
            status_ok = False
            failures[FAILED_UPDATE_STATUS] = f"cannot write status: {e}"
            self.telemetry.errors.labels("write_status").inc()
        before = state.failures or frozenset()
        for reason, message in failures.items():
            if reason not in before:
                log.warning(
                    message, extra={"fields": {"namespace": obj.namespace, "scaler": obj.name, "reason": reason}}
                )
                self._emit(obj, "Warning", reason, message)
        for reason in before - failures.keys():
            log.info(
                f"{reason} cleared",
                extra={"fields": {"namespace": obj.namespace, "scaler": obj.name, "reason": reason}},
            )
        state.failures = frozenset(failures)
        return Outcome(obj.namespace, obj.name, decision, applied, dict(failures), status if status_ok else None)

    def _emit(self, obj: ScalerObject, type_: str, reason: str, message: str) -> None:
        try:
            self.events.emit(obj, type_, reason, message)
        except KubeError as e:  # an Event is best effort: it must not fail the poll
            self.telemetry.errors.labels("emit_event").inc()
            log.debug("cannot record an Event", extra={"fields": {"error": str(e), "reason": reason}})


def _parse(obj: ScalerObject) -> GPUScalerSpec | SpecError:
    try:
        return parse_spec(obj.spec, source=f"gpuscaler {obj.namespace}/{obj.name}")
    except SpecError as e:
        return e


def newest_memory(local: Memory | None, stored: Memory) -> Memory:
    """The newer of our last kept memory and the one read from status.

    Newer = its latest recommendation is later. Our own copy is ahead when the status
    we read lags our last write; the stored one is ahead when another leader polled
    since (we lost and regained the lease). Ties keep the local copy.
    """
    if local is None:
        return stored
    latest_local = max((r.timestamp for r in local.recommendations), default=-math.inf)
    latest_stored = max((r.timestamp for r in stored.recommendations), default=-math.inf)
    return stored if latest_stored > latest_local else local


def failures_in_status(status: Mapping[str, Any]) -> frozenset[str]:
    """Failure reasons a previous leader already announced (from the conditions), so a
    new leader does not repeat their Events."""
    reasons = set()
    for c in status.get("conditions") or ():
        if isinstance(c, Mapping) and c.get("status") == "False":
            reason = c.get("reason")
            if reason == "FailedUpdateScale":
                reasons.add(FAILED_RESCALE)
            elif reason in (
                INVALID_SPEC,
                FAILED_GET_SCALE,
                FAILED_GET_METRICS,
                INTERNAL_ERROR,
                UNSCHEDULABLE,
                GPU_UNHEALTHY,
            ):
                reasons.add(reason)
    return frozenset(reasons)


def pauses_in_status(status: Mapping[str, Any]) -> frozenset[str]:
    """The pauses a previous leader already announced (the ``Paused`` condition's reason,
    ``ScaleInPaused,ScaleOutPaused`` for two), so a new leader does not repeat their Events."""
    for c in status.get("conditions") or ():
        if isinstance(c, Mapping) and c.get("type") == PAUSED and c.get("status") == "True":
            return frozenset(r for r in str(c.get("reason") or "").split(",") if r in PAUSE_WORDS)
    return frozenset()


def decision_fields(obj: ScalerObject, d: Decision, applied: bool, dry_run: bool) -> dict[str, Any]:
    """The one log line per decision: enough to replay the reasoning without the code."""
    return {
        "namespace": obj.namespace,
        "scaler": obj.name,
        "current_replicas": d.current_replicas,
        "desired_replicas": d.desired_replicas,
        "action": d.action,
        "reason_code": d.reason_code,
        "reason": d.reason,
        "applied": applied,
        "dry_run": dry_run,
        "metrics": {
            p.key: {"value": p.usage, "target": p.target, **({"error": p.error} if p.error else {})}
            for p in d.proposals
        },
    }
