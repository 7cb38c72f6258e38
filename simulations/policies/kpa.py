"""The Knative Pod Autoscaler (KPA), restated from knative/serving
``pkg/autoscaler/scaling/autoscaler.go`` with Knative's defaults.

Every ``tick_s`` (2 s) it averages the observed concurrency (requests in flight at the
pods' queue-proxies, queued ones included, sampled each second) over the stable window
(60 s) and the panic window (6 s, 10 % of it), and proposes
``ceil(average / target)`` pods for each, with ``target = containerConcurrency x 70 %``
(containerConcurrency defaults to the model server's slots), clamped to
``[floor(ready / maxScaleDownRate), ceil(ready x maxScaleUpRate)]``. It enters panic when
the panic proposal reaches ``panicThreshold`` (200 %) of the ready pods; in panic the
count only grows (it keeps the largest panic proposal), and it leaves panic once a whole
stable window has passed without crossing the threshold.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from simulations.policies.base import FleetView
from simulations.policies.registry import register
from simulations.scenario import Scenario

if TYPE_CHECKING:
    from simulations.policies.plan import Plan


class KpaPolicy:
    name = "kpa"
    every_step = True

    def __init__(self, scenario: Scenario):
        k = scenario.kpa
        self.k = k
        self.interval_s = float(k.tick_s)
        self.delay_s = 0.0
        cc = k.container_concurrency or scenario.model.slots
        self.target = cc * k.target_utilization
        self.min_replicas = scenario.min_replicas
        self.max_replicas = scenario.max_replicas
        self.samples: deque[tuple[float, float]] = deque()
        self.panic_time: float | None = None
        self.max_panic_pods = 0
        self.first_sample: float | None = None

    def observe(self, t: float, in_system: float, ready_replicas: int) -> None:
        if self.first_sample is None:
            self.first_sample = t
        self.samples.append((t, in_system))
        horizon = t - self.k.stable_window_s - self.k.metrics_delay_s - 1.0
        while self.samples and self.samples[0][0] < horizon:
            self.samples.popleft()

    def _average(self, now: float, window: float) -> float | None:
        seen = now - self.k.metrics_delay_s
        vals = [v for (t, v) in self.samples if seen - window < t <= seen]
        return sum(vals) / len(vals) if vals else None

    def decide(self, view: FleetView) -> int:
        now = view.now
        stable = self._average(now, self.k.stable_window_s)
        panic = self._average(now, self.k.panic_window_s)
        if (
            stable is None
            or panic is None
            or self.first_sample is None
            or now - self.first_sample < self.k.stable_window_s
        ):
            # Warm-up: the simulation starts with an empty system, and a stable window
            # averaged over its first seconds would read near zero. A running KPA has a
            # full window; wait for one.
            return view.current_replicas
        ready = max(1.0, float(view.ready_replicas))
        max_up = math.ceil(self.k.max_scale_up_rate * ready)
        max_down = math.floor(ready / self.k.max_scale_down_rate)
        dspc = math.ceil(stable / self.target)
        dppc = math.ceil(panic / self.target)
        desired_stable = int(min(max(dspc, max_down), max_up))
        desired_panic = int(min(max(dppc, max_down), max_up))
        over = dppc / ready >= self.k.panic_threshold
        if over:
            self.panic_time = now
        elif self.panic_time is not None and self.panic_time + self.k.stable_window_s < now:
            self.panic_time = None
            self.max_panic_pods = 0
        desired = desired_stable
        if self.panic_time is not None:
            desired = max(desired, desired_panic)
            if desired > self.max_panic_pods:
                self.max_panic_pods = desired
            desired = self.max_panic_pods
        return min(max(desired, self.min_replicas), self.max_replicas)


@register("kpa", "#9467bd")
def kpa(scenario: Scenario, plan: Plan | None = None) -> KpaPolicy:
    return KpaPolicy(scenario)
