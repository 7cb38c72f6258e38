"""The playground's default load: a Poisson stream whose rate ramps up, holds, and drops.

A trace slice with a ramp and a drop is what shows an autoscaler at work in a few
minutes: the queue builds as the rate climbs past what the warm replicas serve, new
replicas load for ``startupSeconds``, and after the drop the stabilization window
holds the count before it comes down. The rate is piecewise linear through
``points`` (time, requests/s); arrivals are drawn by thinning a Poisson stream of the
peak rate, from ``default_rng(seed)``, so every run (the playground and its twin
simulation) replays exactly the same requests.

Worked numbers for the default (240 s): 4 req/s for 30 s, up to 36 req/s by 120 s,
held to 165 s, down to 4 req/s by 180 s: about 4,400 requests; with 48 slots and
~3.5 s of decode each, a replica serves ~12 req/s, so the peak needs 3 to 4 replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from simulations.traces.base import Arrivals


@dataclass(frozen=True)
class RampTrace:
    """Rate ``points`` ``((t, rate), ...)`` with ``t`` increasing from 0; the trace ends at the last ``t``."""

    points: tuple[tuple[float, float], ...]
    prompt: float = 500.0
    output: float = 120.0
    seed: int = 1
    name: str = "ramp"

    def __post_init__(self) -> None:
        times = [t for t, _ in self.points]
        if len(times) < 2 or times[0] != 0 or any(b <= a for a, b in zip(times, times[1:], strict=False)):
            raise ValueError(f"ramp points need increasing times from 0, got {self.points}")
        if any(r < 0 for _, r in self.points):
            raise ValueError(f"ramp rates must be >= 0, got {self.points}")

    @property
    def start_s(self) -> float:
        return 0.0

    @property
    def end_s(self) -> float:
        return float(self.points[-1][0])

    def describe(self) -> str:
        shape = " -> ".join(f"{r:g}/s@{t:g}s" for t, r in self.points)
        return f"{self.name}: Poisson ramp {shape}, exponential tokens (prompt {self.prompt:g}, output {self.output:g})"

    def rate(self, t: float | np.ndarray) -> np.ndarray:
        ts, rs = zip(*self.points, strict=True)
        return np.asarray(np.interp(t, ts, rs), dtype=float)

    @cached_property
    def _all(self) -> Arrivals:
        rng = np.random.default_rng([self.seed, 0x9A4])
        peak = max(r for _, r in self.points)
        n = int(rng.poisson(peak * self.end_s))
        t = np.sort(self.end_s * rng.random(n))
        keep = rng.random(n) * peak < self.rate(t)
        t = t[keep]
        prompt = np.maximum(1.0, np.round(rng.exponential(self.prompt, n)))[keep]
        output = np.maximum(1.0, np.round(rng.exponential(self.output, n)))[keep]
        return Arrivals.of(t, prompt, output)

    def arrivals(self, t0: float, t1: float) -> Arrivals:
        a = self._all
        i, j = np.searchsorted(a.time, [t0, t1], side="left")
        return a.take(slice(int(i), int(j)))


def default_ramp(duration_s: float = 240.0, low: float = 4.0, high: float = 36.0) -> RampTrace:
    """The default shape scaled to ``duration_s``: low 1/8, ramp to 1/2, hold to ~0.69, drop by 0.75."""
    d = duration_s
    return RampTrace(((0.0, low), (d / 8, low), (d / 2, high), (d * 0.6875, high), (d * 0.75, low), (d, low)))
