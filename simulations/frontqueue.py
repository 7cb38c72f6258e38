"""The FIFO queue in front of the fleet (the load balancer's waiting line).

It holds the trace's requests in arrival order, loaded an hour at a time, with a head
pointer: requests before ``head`` have been admitted, and the head row may be partly
admitted (``head_used`` of its ``count``), which is how a group of identical requests is
split between slots.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from simulations.grouping import group_arrivals
from simulations.traces.base import Arrivals, Trace, chunks

CHUNK_S = 3600.0


class FrontQueue:
    def __init__(self, trace: Trace, step_s: float, max_groups_per_step: int = 0):
        self._chunks: Iterator[tuple[float, float, Arrivals]] = chunks(trace, CHUNK_S)
        self._origin = trace.start_s
        self._step_s = step_s
        self._groups = max_groups_per_step
        self.time = np.empty(0)
        self.prompt = np.empty(0)
        self.output = np.empty(0)
        self.count = np.empty(0)
        self.head = 0
        self.head_used = 0.0
        self.loaded_until = trace.start_s
        self.exhausted = False
        self.loaded_requests = 0.0
        self.rows_loaded = 0
        #: requests that arrived before the last step's end and are not admitted yet
        self.waiting = 0.0
        self._seen = 0  # rows already counted by :meth:`arrival_credit`

    def ensure(self, t_end: float) -> None:
        """Load chunks until every arrival before ``t_end`` is in the buffer."""
        while not self.exhausted and self.loaded_until < t_end:
            nxt = next(self._chunks, None)
            if nxt is None:
                self.exhausted = True
                break
            _, t1, a = nxt
            a = group_arrivals(a, self._origin, self._step_s, self._groups)
            self.loaded_until = t1
            self.loaded_requests += a.requests
            self.rows_loaded += len(a)
            h = self.head
            self.time = np.concatenate((self.time[h:], a.time))
            self.prompt = np.concatenate((self.prompt[h:], a.prompt))
            self.output = np.concatenate((self.output[h:], a.output))
            self.count = np.concatenate((self.count[h:], a.count))
            self.head = 0
            self._seen -= h

    def arrival_credit(self, t_end: float) -> float:
        """Request-seconds spent in the system before ``t_end`` by the requests arriving since
        the last call: ``sum(count * (t_end - arrival))`` (for the exact time integral of the
        number of requests in the system)."""
        hi = self.upto(t_end)
        lo = self._seen
        self._seen = hi
        if hi <= lo:
            return 0.0
        return float(((t_end - self.time[lo:hi]) * self.count[lo:hi]).sum())

    def upto(self, t_end: float) -> int:
        """Index one past the last row arriving before ``t_end``."""
        return int(np.searchsorted(self.time, t_end, side="left"))

    def demand_counts(self, hi: int) -> np.ndarray:
        """Requests per row from the head to ``hi`` (the head row less what was admitted of it)."""
        if not self.head_used:
            return self.count[self.head : hi]
        c = self.count[self.head : hi].copy()
        if c.shape[0]:
            c[0] -= self.head_used
        return c

    def consume(self, cum: np.ndarray, k: float) -> None:
        """Admit ``k`` requests from the head; ``cum`` is the cumulative demand from the head."""
        full = int(np.searchsorted(cum, k, side="right"))
        if full:
            self.head += full
            self.head_used = k - float(cum[full - 1])
        else:
            self.head_used += k

    def drained(self) -> bool:
        return self.exhausted and self.head >= self.time.shape[0]
