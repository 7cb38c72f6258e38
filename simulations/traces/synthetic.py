"""A synthetic Poisson source, for tests and for checking the fleet model against theory.

Arrivals are a Poisson process of ``rate`` requests/s over ``[0, duration_s)``. Token
counts are either fixed (``prompt``, ``output``) or exponential with those means
(``dist="exponential"``, real-valued: with ``prefill = 0`` and a constant decode step
the service time is then exponential, the M/M/c case of the Erlang-C test).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.traces.base import Arrivals

TOKEN_DISTS = ("fixed", "exponential")


@dataclass(frozen=True)
class PoissonTrace:
    rate: float
    duration_s: float
    prompt: float = 1000.0
    output: float = 200.0
    dist: str = "fixed"
    seed: int = 1
    name: str = "poisson"

    @property
    def start_s(self) -> float:
        return 0.0

    @property
    def end_s(self) -> float:
        return self.duration_s

    def describe(self) -> str:
        return (
            f"{self.name}: Poisson {self.rate:g} req/s over {self.duration_s:,.0f} s, "
            f"{self.dist} tokens (prompt {self.prompt:g}, output {self.output:g})"
        )

    def arrivals(self, t0: float, t1: float) -> Arrivals:
        """Per 1-hour block ``b``, drawn from ``default_rng([seed, b])``: any chunking gives the same requests."""
        t0, t1 = max(t0, 0.0), min(t1, self.duration_s)
        parts = []
        block = 3600.0
        for b in range(int(t0 // block), int(np.ceil(t1 / block))):
            a = self._block(b, block)
            i, j = np.searchsorted(a.time, [t0, t1], side="left")
            parts.append(a.take(slice(int(i), int(j))))
        return Arrivals.concat(parts)

    def _block(self, b: int, block: float) -> Arrivals:
        rng = np.random.default_rng([self.seed, b])
        lo = b * block
        hi = min(lo + block, self.duration_s)
        n = int(rng.poisson(self.rate * (hi - lo)))
        t = np.sort(lo + (hi - lo) * rng.random(n))
        if self.dist == "exponential":
            p = rng.exponential(self.prompt, n) if self.prompt > 0 else np.zeros(n)
            o = rng.exponential(self.output, n)
        else:
            p = np.full(n, self.prompt)
            o = np.full(n, self.output)
        return Arrivals.of(t, p, o)
