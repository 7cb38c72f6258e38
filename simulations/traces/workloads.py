"""Held-out workloads: generated traffic of shapes that ``../shared/traces`` does not hold.

The repository's traces are what a default spec gets chosen on, so they cannot also tell
whether it holds on traffic it has never seen. These generators give that second opinion
as code, not data (nothing is written to disk): ``--trace synthetic:kind=NAME[,seed=N]``.
Each kind is a request rate over time (a shape) and two clipped log-normal token
distributions, after the held-out workloads of the dq-research branch
(``scratch/dq/make_synthetic.py``); the numbers are theirs, the draws are not.

Arrivals are a non-homogeneous Poisson process drawn by thinning, one hour block at a
time from ``default_rng([seed, kind index, block])``: in block ``b`` draw
``Poisson(peak x 3600)`` candidates uniformly, keep each with probability
``rate(t) / peak``. So, as for :class:`~simulations.traces.synthetic.PoissonTrace`, any
chunking gives the same requests, every policy replays the same ones, and memory is one
block's worth. An on/off shape draws its schedule (exponential on and off periods,
starting off) once, from ``default_rng([seed, kind index, 2**32 - 1])``: at most a few
thousand periods a day, bounded by the duration, which :data:`MAX_DURATION_S` caps.

Worked numbers: ``onoff_mixed`` alternates ~300 s at 10 req/s and ~300 s at 2 req/s, a
mean of 6 req/s, so its default 2 h hold about 43,000 requests; its prompts' median is
2,000 tokens (0.2 s of prefill on the default scenario's replica), but σ = 1 puts one in
ten above 7,200 tokens and the clip at 32,000 (3.2 s alone).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from simulations.traces.base import Arrivals

BLOCK_S = 3600.0
#: The simulator refuses spans above 31 days (simulations/engine.py, MAX_SPAN_S); so do these.
MAX_DURATION_S = 31 * 86400.0
DEFAULT_DURATION_S = 7200.0
_SCHEDULE_STREAM = 2**32 - 1


@dataclass(frozen=True)
class LogNormalTokens:
    """Token counts ``round(median x exp(sigma x N(0, 1)))`` clipped to ``[lo, hi]``."""

    median: float
    sigma: float
    lo: float
    hi: float

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.clip(np.round(self.median * np.exp(self.sigma * rng.standard_normal(n))), self.lo, self.hi)

    def describe(self) -> str:
        return f"median {self.median:,.0f} (σ {self.sigma:g}, {self.lo:,.0f}..{self.hi:,.0f})"


@dataclass(frozen=True)
class OnOff:
    """Bursts: exponential periods of mean ``on_s`` at ``on_rate`` and ``off_s`` at ``off_rate``, starting off."""

    on_s: float
    off_s: float
    on_rate: float
    off_rate: float

    @property
    def peak(self) -> float:
        return max(self.on_rate, self.off_rate)

    def describe(self) -> str:
        return (
            f"on/off: ~{self.on_s:g} s at {self.on_rate:g} req/s, ~{self.off_s:g} s at {self.off_rate:g} req/s "
            "(exponential periods, starting off)"
        )


@dataclass(frozen=True)
class Swell:
    """A smooth daily-like swing: ``low`` at t = 0, ``high`` half a period later, back by a period."""

    low: float
    high: float
    period_s: float

    @property
    def peak(self) -> float:
        return self.high

    def rate(self, t: np.ndarray) -> np.ndarray:
        return (self.low + self.high) / 2 - (self.high - self.low) / 2 * np.cos(2 * np.pi * t / self.period_s)

    def describe(self) -> str:
        return f"swell {self.low:g} -> {self.high:g} -> {self.low:g} req/s over {self.period_s / 60:g} min"


@dataclass(frozen=True)
class Steps:
    """Constant rates that change at given times: ``((0, 5), (1800, 15))`` is 5 req/s, then 15 from 30 min."""

    levels: tuple[tuple[float, float], ...]

    @property
    def peak(self) -> float:
        return max(r for _, r in self.levels)

    def rate(self, t: np.ndarray) -> np.ndarray:
        starts = np.array([s for s, _ in self.levels])
        rates = np.array([r for _, r in self.levels])
        return rates[np.searchsorted(starts, t, side="right") - 1]

    def describe(self) -> str:
        return "steps " + " -> ".join(f"{r:g} req/s" + (f" at {s / 60:g} min" if s else "") for s, r in self.levels)


Shape = OnOff | Swell | Steps


@dataclass(frozen=True)
class Workload:
    """One kind: what it stands for, its rate shape and its token distributions."""

    what: str
    shape: Shape
    prompt: LogNormalTokens
    output: LogNormalTokens


#: The kinds, in a fixed order (the order is part of each kind's seed: append, never reorder).
WORKLOADS: dict[str, Workload] = {
    "onoff_mixed": Workload(
        "mixed on/off traffic, heavy-tailed prompts (dq v4)",
        OnOff(on_s=300.0, off_s=300.0, on_rate=10.0, off_rate=2.0),
        LogNormalTokens(2000, 1.0, 20, 32_000),
        LogNormalTokens(300, 0.9, 1, 4000),
    ),
    "long_prompt_swell": Workload(
        "a long-prompt swell: RAG or document traffic growing and fading (dq v4)",
        Swell(low=2.0, high=30.0, period_s=5400.0),
        LogNormalTokens(4000, 0.8, 100, 40_000),
        LogNormalTokens(200, 0.8, 1, 3000),
    ),
    "reasoning_swell": Workload(
        "reasoning: short prompts, long outputs, bound by slots not prefill (dq v1)",
        Swell(low=4.0, high=20.0, period_s=3600.0),
        LogNormalTokens(600, 0.7, 20, 8000),
        LogNormalTokens(1500, 0.6, 50, 8000),
    ),
    "chat_step": Workload(
        "chat with rate steps: x3 at 30 min, down to 8 req/s at 70 min (dq v3)",
        Steps(((0.0, 5.0), (1800.0, 15.0), (4200.0, 8.0))),
        LogNormalTokens(1000, 0.7, 20, 16_000),
        LogNormalTokens(250, 0.7, 10, 4000),
    ),
    "long_prompt_onoff": Workload(
        "long-prompt bursts out of near-idle minutes (dq v1)",
        OnOff(on_s=120.0, off_s=90.0, on_rate=6.0, off_rate=0.3),
        LogNormalTokens(6000, 0.8, 200, 32_000),
        LogNormalTokens(150, 1.0, 1, 2000),
    ),
    "short_bursts": Workload(
        "bursts shorter than a model load: ~45 s at 12 req/s between ~2 min lulls (dq v3)",
        OnOff(on_s=45.0, off_s=120.0, on_rate=12.0, off_rate=0.5),
        LogNormalTokens(3000, 0.7, 50, 24_000),
        LogNormalTokens(80, 1.0, 1, 2000),
    ),
}
KINDS = tuple(WORKLOADS)


@dataclass(frozen=True)
class WorkloadTrace:
    """``synthetic:kind=NAME``: a :class:`Workload` drawn over ``[0, duration_s)`` (module docstring)."""

    kind: str
    duration_s: float = DEFAULT_DURATION_S
    seed: int = 1
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in WORKLOADS:
            raise ValueError(f"unknown workload kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            raise ValueError(f"duration {self.duration_s:g} s; expected more than 0 and at most 31 days")
        if not self.scale > 0:
            raise ValueError(f"scale {self.scale:g}; expected a number > 0")

    @property
    def name(self) -> str:
        return self.kind

    @property
    def workload(self) -> Workload:
        return WORKLOADS[self.kind]

    @property
    def start_s(self) -> float:
        return 0.0

    @property
    def end_s(self) -> float:
        return self.duration_s

    def describe(self) -> str:
        w = self.workload
        rate = f"; rate x{self.scale:g}" if self.scale != 1 else ""
        return (
            f"{self.kind}, seed {self.seed}: {w.what}; {w.shape.describe()}{rate}; prompts {w.prompt.describe()}, "
            f"outputs {w.output.describe()} tokens; over {self.duration_s:,.0f} s"
        )

    def arrivals(self, t0: float, t1: float) -> Arrivals:
        t0, t1 = max(t0, 0.0), min(t1, self.duration_s)
        parts = []
        for b in range(int(t0 // BLOCK_S), int(np.ceil(t1 / BLOCK_S))):
            a = self._block(b)
            i, j = np.searchsorted(a.time, [t0, t1], side="left")
            parts.append(a.take(slice(int(i), int(j))))
        return Arrivals.concat(parts)

    def rate(self, t: np.ndarray) -> np.ndarray:
        """Requests per second at each time in ``t`` (the scale included)."""
        shape = self.workload.shape
        if isinstance(shape, OnOff):
            ends, on = _schedule(shape, self.seed, KINDS.index(self.kind), self.duration_s)
            idx = np.minimum(np.searchsorted(ends, t, side="right"), ends.shape[0] - 1)
            base = np.where(on[idx], shape.on_rate, shape.off_rate)
        else:
            base = shape.rate(t)
        return self.scale * np.asarray(base, dtype=float)

    def _block(self, b: int) -> Arrivals:
        w = self.workload
        rng = np.random.default_rng([self.seed, KINDS.index(self.kind), b])
        lo = b * BLOCK_S
        hi = min(lo + BLOCK_S, self.duration_s)
        peak = self.scale * w.shape.peak
        cand = np.sort(lo + (hi - lo) * rng.random(int(rng.poisson(peak * (hi - lo)))))
        t = cand[rng.random(cand.shape[0]) * peak < self.rate(cand)]
        return Arrivals.of(t, w.prompt.draw(rng, t.shape[0]), w.output.draw(rng, t.shape[0]))


@functools.lru_cache(maxsize=16)
def _schedule(shape: OnOff, seed: int, stream: int, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The on/off periods covering ``[0, duration_s)``: their end times and whether each is on."""
    rng = np.random.default_rng([seed, stream, _SCHEDULE_STREAM])
    ends: list[float] = []
    on: list[bool] = []
    t, state = 0.0, False
    while t < duration_s:  # bounded: each period lasts at least 1 s and duration_s is at most 31 days
        t += max(1.0, float(rng.exponential(shape.on_s if state else shape.off_s)))
        ends.append(t)
        on.append(state)
        state = not state
    return np.array(ends), np.array(on)
