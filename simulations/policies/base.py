"""One interface for every policy: at each of its polls, a desired replica count.

The engine calls :meth:`Policy.decide` every ``interval_s`` with a :class:`FleetView`:
the Deployment's pods as the API server lists them now, and the metrics as they were
``delay_s`` ago (a Prometheus scrape and query away). A policy that keeps its own
per-second statistics (Knative's) sets ``every_step`` and gets :meth:`Policy.observe`
after each step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from simulations.fleet import Snapshot


@dataclass(frozen=True)
class FleetView:
    now: float
    current_replicas: int  # the Deployment's spec.replicas (loading + ready)
    ready_replicas: int
    pod_serial: np.ndarray  # the Deployment's pods: serial numbers,
    pod_ready: np.ndarray  # readiness,
    pod_start: np.ndarray  # and start times
    metrics: Snapshot | None  # what the metric pipeline shows (``delay_s`` old), if anything yet


class Policy(Protocol):
    name: str
    interval_s: float
    delay_s: float
    every_step: bool

    def observe(self, t: float, in_system: float, ready_replicas: int) -> None: ...

    def decide(self, view: FleetView) -> int: ...


def pod_name(serial: int) -> str:
    return f"pod-{serial}"
