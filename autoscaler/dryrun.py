"""The dry-run: replay a recording (Contract 3) through the unchanged decision core.

Evaluation ticks fall every ``pollingIntervalSeconds`` from the first sample to the
last. At each tick a metric's value for a pod is its latest sample at or before the
tick, and counts as missing once it is two polling intervals old — the same staleness
rule the controller applies to Prometheus samples.

*Open loop* (the recording has ``replicas`` rows): the current count is what really ran,
the pods are those with fresh samples, and the core's recommendation is reported
beside it. Scale events the recording shows are fed into the memory, so rate policies
and cooldown see what really happened.

*Closed loop* (no ``replicas`` rows): the replay's own decisions take effect. It starts
with as many replicas as the recording has pods at its first tick; a new replica is
ready ``startupSeconds`` after it is created; a scale-down removes the newest replicas
first. The recording is read as the load on the whole Deployment: at each tick the sum
of the per-pod samples is spread evenly over the replay's ready replicas (GPU
utilization capped at 100 %). So 3 pods recorded at queue depth 6 each (18 waiting)
replay on 6 ready replicas as 3 each. This is a replay, not a queueing model: the
recorded total does not shrink because the replay added capacity (the simulator in
``simulations/`` models that).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from autoscaler.core import Decision, Memory, MetricObservation, Observation, PodState, decide
from autoscaler.core.decide import record_scale
from autoscaler.recording import READY, REPLICAS, Recording, Series
from autoscaler.spec import GPU_UTILIZATION_KEY, GPUScalerSpec


@dataclass(frozen=True)
class Tick:
    """One evaluation: when, what the core saw, and what it decided."""

    timestamp: float
    observation: Observation
    decision: Decision


def ticks(spec: GPUScalerSpec, recording: Recording) -> Iterator[float]:
    step = spec.polling_interval_seconds
    t = recording.start
    while t <= recording.end + 1e-9:
        yield t
        t += step


def replay(spec: GPUScalerSpec, recording: Recording) -> Iterator[Tick]:
    """Yield one :class:`Tick` per polling interval; the clock is the recording's."""
    if recording.open_loop:
        yield from _open_loop(spec, recording)
    else:
        yield from _closed_loop(spec, recording)


class _Samples:
    """Per-tick lookups into a recording's series, with the staleness rule."""

    def __init__(self, spec: GPUScalerSpec, recording: Recording):
        self.spec = spec
        self.max_age = 2.0 * spec.polling_interval_seconds
        self.per_pod = {m.key: recording.of(m.key) for m in spec.metrics if m.per_pod}
        self.wide = {m.key: recording.of(m.key) for m in spec.metrics if not m.per_pod}
        self.ready = {s.pod: s for s in recording.of(READY)}
        self.first_seen: dict[str, float] = {}
        for s in recording.series:
            if s.pod:
                self.first_seen[s.pod] = min(self.first_seen.get(s.pod, s.times[0]), s.times[0])
        self.replicas: Series | None = next(iter(recording.of(REPLICAS)), None)

    def pod_values(self, key: str, t: float) -> dict[str, float]:
        out = {}
        for s in self.per_pod[key]:
            v = s.at(t, self.max_age)
            if v is not None:
                out[s.pod] = v
        return out

    def wide_value(self, key: str, t: float) -> float | None:
        for s in self.wide[key]:
            return s.at(t, self.max_age)
        return None

    def pods_seen(self, t: float) -> set[str]:
        pods: set[str] = set()
        for group in self.per_pod.values():
            pods.update(s.pod for s in group if s.at(t, self.max_age) is not None)
        for pod, s in self.ready.items():
            if s.at(t, self.max_age) is not None:
                pods.add(pod)
        return pods

    def is_ready(self, pod: str, t: float) -> bool:
        s = self.ready.get(pod)
        if s is None:
            return True
        v = s.at(t, float("inf"))
        return v is None or v >= 0.5

    def current_replicas(self, t: float) -> int:
        assert self.replicas is not None
        v = self.replicas.at(t, float("inf"))
        return int(self.replicas.values[0] if v is None else v)


def _missing(key: str, max_age: float) -> MetricObservation:
    return MetricObservation.failed(f"no sample for {key} in the last {max_age:g} s")


def _open_loop(spec: GPUScalerSpec, recording: Recording) -> Iterator[Tick]:
    data = _Samples(spec, recording)
    memory = Memory()
    previous: int | None = None
    for t in ticks(spec, recording):
        current = data.current_replicas(t)
        if previous is not None and current != previous:
            memory = record_scale(memory, spec, previous, current, t)
        previous = current
        pods = tuple(PodState(name=p, ready=data.is_ready(p, t), start_time=data.first_seen.get(p))
                     for p in sorted(data.pods_seen(t)))
        metrics: dict[str, MetricObservation] = {}
        for m in spec.metrics:
            if m.per_pod:
                values = data.pod_values(m.key, t)
                metrics[m.key] = MetricObservation(per_pod=values) if values else _missing(m.key, data.max_age)
            else:
                v = data.wide_value(m.key, t)
                metrics[m.key] = MetricObservation(value=v) if v is not None else _missing(m.key, data.max_age)
        obs = Observation(current_replicas=current, pods=pods, metrics=metrics)
        decision = decide(spec, obs, memory, t)
        memory = decision.memory_if_not_applied
        yield Tick(t, obs, decision)


def _closed_loop(spec: GPUScalerSpec, recording: Recording) -> Iterator[Tick]:
    data = _Samples(spec, recording)
    memory = Memory()
    first = next(ticks(spec, recording))
    initial = max(1, len(data.pods_seen(first)))
    # The replay's own replicas: (name, created at). Those at the start are ready.
    replicas = [(f"replica-{i}", first - spec.startup_seconds) for i in range(initial)]
    serial = initial
    for t in ticks(spec, recording):
        pods = tuple(PodState(name=name, ready=t - created >= spec.startup_seconds, start_time=created)
                     for name, created in replicas)
        ready = [p.name for p in pods if p.ready]
        metrics: dict[str, MetricObservation] = {}
        for m in spec.metrics:
            if m.per_pod:
                values = data.pod_values(m.key, t)
                if not values:
                    metrics[m.key] = _missing(m.key, data.max_age)
                    continue
                share = sum(values.values()) / max(1, len(ready))
                if m.key == GPU_UTILIZATION_KEY:
                    share = min(100.0, share)
                metrics[m.key] = MetricObservation(per_pod={p: share for p in ready})
            else:
                v = data.wide_value(m.key, t)
                metrics[m.key] = MetricObservation(value=v) if v is not None else _missing(m.key, data.max_age)
        obs = Observation(current_replicas=len(replicas), pods=pods, metrics=metrics)
        decision = decide(spec, obs, memory, t)
        memory = decision.memory
        desired = decision.desired_replicas
        if desired > len(replicas):
            for _ in range(desired - len(replicas)):
                replicas.append((f"replica-{serial}", t))
                serial += 1
        elif desired < len(replicas):
            replicas = replicas[:desired]
        yield Tick(t, obs, decision)


def summary(run: list[Tick]) -> dict[str, int]:
    """Counts of each action over a replay."""
    counts = {"scale_up": 0, "scale_down": 0, "hold": 0}
    for tick in run:
        counts[tick.decision.action] += 1
    return counts


__all__ = ["Tick", "replay", "summary", "ticks"]
