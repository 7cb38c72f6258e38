"""Policies driven by the decision core, unchanged: ours, and HPA and KEDA restated as
GPUScaler specs (with ``cooldownSeconds: 0`` and HPA's default behavior the core decides
as the HPA does; DESIGN.md Contract 1).

* ``ours``: the scenario's GPUScaler, polled every ``pollingIntervalSeconds``.
* ``hpa_util``: HPA on NVML's plain GPU utilization, target 60 %, default behavior,
  15 s sync: NVIDIA's common recipe (DCGM exporter + prometheus-adapter + HPA).
* ``keda_queue``: KEDA's Prometheus scaler on the summed queue depth with
  ``metricType: AverageValue`` (an External metric: ``ceil(total / target)``, HPA §1.7),
  30 s polling, HPA's default behavior underneath.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from autoscaler.core import Decision, Memory, MetricObservation, Observation, PodState, decide
from autoscaler.core.observe import Reading, Sample, counter_rates, max_age_of, observe_metric
from autoscaler.core.startup import measure_startups
from autoscaler.core.window import EMPTY, WindowState, smooth
from autoscaler.metrics.registry import series_of
from autoscaler.metrics.types import Signal
from autoscaler.spec import (
    Behavior,
    GPUScalerSpec,
    MetricSpec,
    MetricTarget,
    ScaleTargetRef,
)
from simulations.fleet import Snapshot
from simulations.policies.base import FleetView, pod_name
from simulations.policies.registry import register
from simulations.scenario import Scenario

if TYPE_CHECKING:
    from simulations.policies.plan import Plan

TARGET = ScaleTargetRef("apps/v1", "Deployment", "model-server")


class CorePolicy:
    every_step = False

    def __init__(self, name: str, spec: GPUScalerSpec, delay_s: float):
        self.name = name
        self.spec = spec
        self.interval_s = float(spec.polling_interval_seconds)
        self.delay_s = delay_s
        self.memory = Memory()
        self.last: Decision | None = None
        self._names: dict[int, str] = {}
        #: Each counter signal's per-pod totals at the previous poll, for its rate.
        self._totals: dict[Signal, dict[str, tuple[float, float]]] = {}
        self._ready_since: dict[int, float] = {}  # serial -> the first poll that saw it Ready
        self._window: WindowState = EMPTY  # the metrics' averaging windows, as the controller's

    def _name(self, serial: int) -> str:
        n = self._names.get(serial)
        if n is None:
            n = self._names[serial] = pod_name(serial)
        return n

    def observe(self, t: float, in_system: float, ready_replicas: int) -> None:
        return None

    def decide(self, view: FleetView) -> int:
        listed = list(zip(view.pod_serial.tolist(), view.pod_ready.tolist(), view.pod_start.tolist(), strict=True))
        # Each pod carries its creation and Ready times, as the API shows them, so that
        # ``startupSeconds: auto`` measures here too. The Ready time is the first poll that
        # saw it Ready (the fleet's exact one is not in the view): a load of 90 s polled
        # every 15 s reads 90 to 105 s, never less. Replicas Ready at the first poll are
        # not measured (measuring begins then), as in the controller.
        ready_since = {s: self._ready_since.get(s, view.now) for s, r, _ in listed if r}
        self._ready_since = ready_since
        pods = tuple(
            PodState(
                self._name(int(s)),
                ready=bool(r),
                start_time=float(st),
                phase="Running",
                created=float(st),
                ready_time=ready_since.get(s),
            )
            for s, r, st in listed
        )
        obs = Observation(
            current_replicas=view.current_replicas,
            pods=pods,
            metrics=self._metrics(view.metrics) if view.metrics is not None else {},
            startups=measure_startups(pods, self.memory),
        )
        obs, self._window = smooth(self.spec, obs, self._window, view.now)
        d = decide(self.spec, obs, self.memory, view.now)
        self.memory = d.memory
        self.last = d
        return d.desired_replicas

    def _metrics(self, snap: Snapshot) -> dict[str, MetricObservation]:
        """The fleet's snapshot through the one observe step (:mod:`autoscaler.core.observe`),
        as the controller reads Prometheus: per-pod metrics by their signal's series, a
        counter as its rate since this policy's previous poll (a pod new since then is
        missing, not 0), a latency as the mean of its ``_sum`` and ``_count`` rates, the
        others by their name. The snapshot is taken at ``snap.time``, so nothing is stale."""
        names = [self._name(s) for s in snap.serial.tolist()]
        max_age = max_age_of(self.spec)
        out: dict[str, MetricObservation] = {}
        read: dict[Signal, dict[str, tuple[float, float]]] = {}
        for m in self.spec.metrics:
            signals = m.definition.signals_of(m)
            if not signals:
                reading = Reading(value=Sample(prometheus_value(m.name or "", snap), snap.time))
            else:
                parts = [read[s] if s in read else read.setdefault(s, self._per_pod(snap, s, names)) for s in signals]
                mean = m.definition.mean_of(m) is not None
                reading = Reading(per_pod=parts[0], counts=parts[1]) if mean else Reading(per_pod=parts[0])
            out[m.key] = observe_metric(m, reading, names, max_age, snap.time)
        return out

    def _per_pod(self, snap: Snapshot, signal: Signal, names: list[str]) -> dict[str, tuple[float, float]]:
        values = signal_values(snap, signal).tolist()
        samples = {n: (v, snap.time) for n, v in zip(names, values, strict=False)}
        if not _OURS[signal].counter:
            return samples
        rates = counter_rates(self._totals.get(signal, {}), samples)
        self._totals[signal] = samples
        return dict(rates)


_OURS = series_of(())


def signal_values(snap: Snapshot, signal: Signal) -> np.ndarray:
    """A signal's per-pod values in its unit, from the Contract 2 series behind it in our
    exporter (``gpu_sm_active_ratio`` x 100 = SM activity in percent), read by name from
    the snapshot's ``series``, as the controller reads them from Prometheus."""
    series = _OURS[signal]
    return np.asarray(snap.series[series.metric], dtype=float) * series.scale


def prometheus_value(name: str, snap: Snapshot) -> float:
    if name == "inference_queue_depth_total":
        return snap.queue_total
    if name == "inference_running_requests_total":
        return snap.running_total
    if name == "inference_concurrency_total":
        return snap.in_system
    raise KeyError(name)  # the scenario loader accepts only the names above


@register("ours", "#d62728")
def ours(scenario: Scenario, plan: Plan | None = None) -> CorePolicy:
    return CorePolicy("ours", scenario.ours, scenario.metrics_delay_s)


@register("hpa_util", "#1f77b4")
def hpa_util(scenario: Scenario, plan: Plan | None = None) -> CorePolicy:
    h = scenario.hpa_util
    spec = GPUScalerSpec(
        scale_target_ref=TARGET,
        min_replicas=scenario.min_replicas,
        max_replicas=scenario.max_replicas,
        metrics=(
            MetricSpec(
                type="GPUUtilization",
                signal="utilization",
                target=MetricTarget(average_utilization=h.target_utilization),
            ),
        ),
        polling_interval_seconds=h.sync_s,
        startup_seconds=int(round(scenario.model.startup_s)),
        behavior=Behavior(),
    )
    return CorePolicy("hpa_util", spec, scenario.metrics_delay_s)


@register("keda_queue", "#ff7f0e")
def keda_queue(scenario: Scenario, plan: Plan | None = None) -> CorePolicy:
    k = scenario.keda_queue
    spec = GPUScalerSpec(
        scale_target_ref=TARGET,
        min_replicas=scenario.min_replicas,
        max_replicas=scenario.max_replicas,
        metrics=(
            MetricSpec(
                type="Prometheus",
                name="inference_queue_depth_total",
                query="sum(inference_queue_depth)",
                target=MetricTarget(average_value=k.target_queue_per_replica),
            ),
        ),
        polling_interval_seconds=k.polling_s,
        startup_seconds=int(round(scenario.model.startup_s)),
        behavior=Behavior(),
    )
    return CorePolicy("keda_queue", spec, scenario.metrics_delay_s)
