"""What a simulated replica reports, by DESIGN.md Contract 2's names, and the bookkeeping
behind the counters: the requests in flight, and per-replica totals of the work done.

The fleet (:mod:`simulations.fleet`) decides when requests start and finish; this module
turns that into what a model server's ``/metrics`` would say at a given time: token
counters that only grow, the KV cache held, and the ``_sum``/``_count`` counters of
time to first token and queue time, per pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# The per-pod series a snapshot carries, by their DESIGN.md Contract 2 names.
QUEUE_DEPTH = "inference_queue_depth"  # waiting requests
RUNNING_REQUESTS = "inference_running_requests"  # requests in flight past their wait
PROMPT_TOKENS = "inference_prompt_tokens_total"  # counter: prompt tokens prefilled so far
GENERATION_TOKENS = "inference_generation_tokens_total"  # counter: output tokens decoded so far
KV_CACHE_USAGE = "inference_kv_cache_usage_ratio"  # KV tokens held / model.kvCacheTokens, 0..1
GPU_UTILIZATION = "gpu_utilization_ratio"  # NVML plain utilization, 0..1
GPU_SM_ACTIVE = "gpu_sm_active_ratio"  # GPM SM activity, 0..1
# Counters as a server's histograms expose them (``_sum`` and ``_count``; vLLM's
# ``vllm:time_to_first_token_seconds`` and ``vllm:request_queue_time_seconds``), so a
# policy takes ``rate(_sum) / rate(_count)`` over its window: the recent mean, per pod.
TTFT_SUM = "inference_time_to_first_token_seconds_sum"
TTFT_COUNT = "inference_time_to_first_token_seconds_count"
QUEUE_TIME_SUM = "inference_queue_time_seconds_sum"
QUEUE_TIME_COUNT = "inference_queue_time_seconds_count"
SERIES = (
    QUEUE_DEPTH,
    RUNNING_REQUESTS,
    PROMPT_TOKENS,
    GENERATION_TOKENS,
    KV_CACHE_USAGE,
    GPU_UTILIZATION,
    GPU_SM_ACTIVE,
    TTFT_SUM,
    TTFT_COUNT,
    QUEUE_TIME_SUM,
    QUEUE_TIME_COUNT,
)


def work_series(
    flight: InFlight, finished: WorkCounters, live: np.ndarray, t: float, ready: np.ndarray, kv_cache_tokens: float
) -> dict[str, np.ndarray]:
    """The token counters, KV-cache use and first-token/queue-time counters at ``t``, per ready pod.

    A prompt's tokens count as its prefill runs (linearly over the row's prefill), its
    output tokens as they are decoded (linearly from its first token to its finish); a
    request holds KV cache for the tokens processed so far. A row's first token and
    queue time are counted once its prefill has ended, as a server observes its
    ``time_to_first_token_seconds`` histogram at the first token.
    """
    n_rep = finished.prompt_tokens.shape[0]
    replica, count = flight.replica, flight.size
    prompt_done = flight.prompt * count * _progress(t, flight.prefill_start, flight.prefill_end)
    first_token = flight.first_token
    output_done = flight.output * count * _progress(t, first_token, flight.finish)
    kv_tokens = np.bincount(replica[live], weights=(prompt_done + output_done)[live], minlength=n_rep)
    out = flight.prefill_end <= t
    ttft = first_token - flight.arrival
    # >= 0: a request that never waited reads 0, not -1e-16 of float noise, which would make
    # the _sum counter step down and read as a server restart (a reset: the whole total as its rate).
    queue_time = np.maximum(0.0, ttft - (flight.prefill_end - flight.prefill_start) / count)
    now = WorkCounters.of(flight, out, prompt_done, output_done, ttft, queue_time, n_rep)
    total = finished.plus(now)
    return {
        PROMPT_TOKENS: total.prompt_tokens[ready],
        GENERATION_TOKENS: total.generation_tokens[ready],
        KV_CACHE_USAGE: np.minimum(1.0, kv_tokens[ready] / kv_cache_tokens),
        TTFT_SUM: total.ttft_sum[ready],
        TTFT_COUNT: total.first_tokens[ready],
        QUEUE_TIME_SUM: total.queue_time_sum[ready],
        QUEUE_TIME_COUNT: total.first_tokens[ready],
    }


def _progress(t: float, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Share of ``[begin, end]`` done at ``t`` (0..1); an empty interval is done once ``t`` reaches it."""
    length = end - begin
    linear = np.divide(t - begin, length, out=np.zeros_like(length), where=length > 0)
    progress: np.ndarray = np.where(length > 0, np.clip(linear, 0.0, 1.0), (t >= end).astype(float))
    return progress


class InFlight(NamedTuple):
    """Requests admitted and not finished before the current step, one row per admitted piece."""

    finish: np.ndarray
    replica: np.ndarray
    size: np.ndarray  # requests the row stands for
    prefill_start: np.ndarray
    prefill_end: np.ndarray
    arrival: np.ndarray
    prompt: np.ndarray  # tokens of one request of the row
    output: np.ndarray

    @property
    def first_token(self) -> np.ndarray:
        """The members' mean first-token time: their prefills run one after another."""
        unit = (self.prefill_end - self.prefill_start) / self.size
        first: np.ndarray = self.prefill_end - unit * (self.size - 1.0) * 0.5
        return first

    @staticmethod
    def empty() -> InFlight:
        z = np.empty(0)
        return InFlight(z, np.empty(0, dtype=np.intp), z, z, z, z, z, z)


@dataclass
class WorkCounters:
    """Per-replica counters (indexed like the fleet's replica arrays) of work done."""

    prompt_tokens: np.ndarray
    generation_tokens: np.ndarray
    first_tokens: np.ndarray
    ttft_sum: np.ndarray
    queue_time_sum: np.ndarray

    @staticmethod
    def zeros(n: int) -> WorkCounters:
        return WorkCounters(*(np.zeros(n) for _ in range(5)))

    @staticmethod
    def of(
        rows: InFlight,
        out: np.ndarray,
        prompt_done: np.ndarray,
        output_done: np.ndarray,
        ttft: np.ndarray,
        queue_time: np.ndarray,
        n: int,
    ) -> WorkCounters:
        def per_replica(weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
            if mask is None:
                return np.bincount(rows.replica, weights=weights, minlength=n)
            return np.bincount(rows.replica[mask], weights=weights[mask], minlength=n)

        first = rows.size
        return WorkCounters(
            per_replica(prompt_done),
            per_replica(output_done),
            per_replica(first, out),
            per_replica(ttft * first, out),
            per_replica(queue_time * first, out),
        )

    def add(self, done: InFlight, n: int) -> None:
        """Finished rows: all their work counts."""
        if not done.finish.shape[0]:
            return
        ttft = done.first_token - done.arrival
        queue_time = np.maximum(0.0, ttft - (done.prefill_end - done.prefill_start) / done.size)
        every = np.ones(done.finish.shape[0], dtype=bool)
        got = WorkCounters.of(done, every, done.prompt * done.size, done.output * done.size, ttft, queue_time, n)
        for name in _COUNTER_FIELDS:
            getattr(self, name)[:n] += getattr(got, name)

    def plus(self, other: WorkCounters) -> WorkCounters:
        return WorkCounters(*(getattr(self, f) + getattr(other, f) for f in _COUNTER_FIELDS))

    def resize(self, n: int) -> None:
        for name in _COUNTER_FIELDS:
            old = getattr(self, name)
            new = np.zeros(n)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def reset(self, idx: np.ndarray) -> None:
        for name in _COUNTER_FIELDS:
            getattr(self, name)[idx] = 0.0


_COUNTER_FIELDS = ("prompt_tokens", "generation_tokens", "first_tokens", "ttft_sum", "queue_time_sum")
