"""What the simulator replays: arrivals with token counts, handed out in time order.

A :class:`Trace` covers ``[start_s, end_s)`` on its own clock (seconds) and yields its
requests in chunks (:class:`Arrivals`, sorted by time), so a 14-day trace never has to
sit in memory whole. Generated traces (ServeGen, Poisson) are deterministic: a chunk is
drawn from a generator seeded by the trace's seed and the chunk's position on the clock,
so every policy replays exactly the same requests and a slice (one day) holds the same
requests as the same day of the whole fortnight.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Arrivals:
    """Requests in arrival order. ``count`` > 1 marks a group of identical requests (see
    :mod:`simulations.grouping`); traces themselves always give 1."""

    time: np.ndarray  # float64 seconds on the trace's clock
    prompt: np.ndarray  # float64 prompt (context) tokens
    output: np.ndarray  # float64 generated tokens
    count: np.ndarray  # float64 requests each row stands for

    def __len__(self) -> int:
        return int(self.time.shape[0])

    @property
    def requests(self) -> float:
        return float(self.count.sum())

    @staticmethod
    def empty() -> Arrivals:
        z = np.empty(0)
        return Arrivals(z, z, z, z)

    @staticmethod
    def of(time: np.ndarray, prompt: np.ndarray, output: np.ndarray) -> Arrivals:
        t = np.asarray(time, dtype=float)
        return Arrivals(t, np.asarray(prompt, dtype=float), np.asarray(output, dtype=float), np.ones(t.shape[0]))

    def take(self, idx: np.ndarray | slice) -> Arrivals:
        return Arrivals(self.time[idx], self.prompt[idx], self.output[idx], self.count[idx])

    @staticmethod
    def concat(parts: list[Arrivals]) -> Arrivals:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Arrivals.empty()
        if len(parts) == 1:
            return parts[0]
        fields = ("time", "prompt", "output", "count")
        return Arrivals(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


class Trace(Protocol):
    """A source of requests over ``[start_s, end_s)``."""

    @property
    def name(self) -> str: ...

    @property
    def start_s(self) -> float: ...

    @property
    def end_s(self) -> float: ...

    def arrivals(self, t0: float, t1: float) -> Arrivals:
        """The requests arriving in ``[t0, t1)``, sorted by time."""
        ...

    def describe(self) -> str: ...


def chunks(trace: Trace, chunk_s: float = 3600.0) -> Iterator[tuple[float, float, Arrivals]]:
    """``(t0, t1, arrivals)`` for consecutive chunks covering the trace."""
    t0 = trace.start_s
    while t0 < trace.end_s:
        t1 = min(t0 + chunk_s, trace.end_s)
        yield t0, t1, trace.arrivals(t0, t1)
        t0 = t1
