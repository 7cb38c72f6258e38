"""``TokenThroughput``: tokens each replica's model server processes per second, per pod.

Work, not requests: a 60k-token prompt costs a replica hundreds of times what a
200-token one does, so on long-prompt traffic a count of waiting requests says little
about how much prefill work is in the building. ``signal: prompt`` (the default) reads the
prompt-token counter (prefill work), ``signal: generation`` the output-token counter
(decode work). Both are counters, read as per-pod rates (tokens/s) over the source's
window (:class:`~autoscaler.metrics.types.SeriesSpec`), and compared with
``target: {averageValue: N}`` tokens/s a replica by HPA's averageValue rule: pods at
30,000 and 18,000 prompt tokens/s against 12,000 ask for ``ceil(24,000 / 12,000 x 2) = 4``.

The catch, and what it means for the target: a replica cannot process more than its
capacity. Say one replica prefills at most C = 20,000 tokens/s. Under overload every
replica reads 20,000 whatever the demand (the excess waits in the queue, where throughput
cannot see it), so the ratio the metric shows is at most ``C / target``:

* target 10,000 (50 % of C): an overload reads ratio 2.0 and doubles the replicas a poll;
* target 16,000 (80 % of C): an overload reads 1.25 and adds a quarter a poll, 4 -> 5 ->
  7 -> 9, a slow climb while the queue grows;
* target >= 20,000 (C or more): an overload reads 1.0 or less, inside the tolerance band:
  the metric never scales up, exactly when it should.

So choose the target well below measured capacity (half to two thirds of it), and pair
the metric with one that sees the backlog (``QueueDepth``, or a ``Latency`` guard on the
SLO itself). Below saturation, throughput measures demand directly, which is what makes
it the better signal for long prompts.

Square-root staffing (``squareRootStaffing: BETA``, with an ``averageValue`` target):
read the target as what one replica *sustains* (its capacity, e.g. 1 / prefill seconds
per token = 10,000 tokens/s) rather than a comfortable share of it, and ask for
``ceil(R + BETA x sqrt(R))`` replicas, R = the tokens/s summed over the ready pods /
``averageValue``. With BETA 2: R = 1.4 asks ``ceil(1.4 + 2.37) = 4``, R = 9 asks
``ceil(9 + 6) = 15``, R = 36 asks ``ceil(36 + 12) = 48`` (utilization 35 %, 60 %, 75 %).
Why: the Halfin-Whitt square-root staffing rule. Arrivals are bursty on the scale of
their own square root (Poisson: sd = sqrt(mean)), so the spare capacity that keeps the
chance of waiting constant grows as sqrt(R), not as R: a small fleet needs
proportionally more headroom for a burst, a large one can run hotter. A flat 60 % target
gives 2 replicas of work 4 (too few for a x3 step in the next load time) and 36 of work
60 (12 more than needed). BETA 0 (the default) is HPA's ``ceil(R)`` on the target as
written.

Series: ours, ``inference_prompt_tokens_total`` / ``inference_generation_tokens_total``
(DESIGN.md Contract 2), ``max`` per pod so a pod scraped twice is not counted double;
vLLM's ``vllm:prompt_tokens_total`` / ``vllm:generation_tokens_total`` (V1 counters,
``vllm/v1/metrics/loggers.py``), ``sum`` per pod because a data-parallel pod exposes one
series per engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from autoscaler.fields import FieldReader
from autoscaler.metrics.types import Fields, MetricDefinition, MetricType, SeriesSpec, Signal, SignalChoice

if TYPE_CHECKING:
    pass

PROMPT_TOKENS_RATE = Signal("prompt_tokens_rate")
GENERATION_TOKENS_RATE = Signal("generation_tokens_rate")
#: The spec's ``signal`` choices and the signal each one reads; the first is the default.
SIGNALS = SignalChoice({"prompt": PROMPT_TOKENS_RATE, "generation": GENERATION_TOKENS_RATE})
#: The largest ``squareRootStaffing`` accepted: beta 10 on one replica of work asks 11.
MAX_SQUARE_ROOT_STAFFING = 10.0
#: Keys in observations and recordings (tokens/s per pod).
KEYS = {choice: signal.value for choice, signal in SIGNALS.choices.items()}


def _parse(r: FieldReader, obj: Mapping[str, Any], path: str) -> Fields | None:
    signal = SIGNALS.parse(r, obj, path)
    beta = r.number(obj, "squareRootStaffing", path, 0.0, minimum=0, maximum=MAX_SQUARE_ROOT_STAFFING)
    return {"signal": signal, "square_root_staffing": beta}


DEFINITION = MetricDefinition(
    type=MetricType.TOKEN_THROUGHPUT,
    target_kinds=("averageValue", "value"),
    per_pod=True,
    signal_keys=KEYS,
    fields=("signal", "squareRootStaffing"),
    parse=_parse,
    signal_of=SIGNALS.of,
    series={
        "ours": {
            PROMPT_TOKENS_RATE: SeriesSpec("inference_prompt_tokens_total", "max", 1.0, counter=True),
            GENERATION_TOKENS_RATE: SeriesSpec("inference_generation_tokens_total", "max", 1.0, counter=True),
        },
        "vllm": {
            PROMPT_TOKENS_RATE: SeriesSpec("vllm:prompt_tokens_total", "sum", 1.0, counter=True),
            GENERATION_TOKENS_RATE: SeriesSpec("vllm:generation_tokens_total", "sum", 1.0, counter=True),
        },
    },
)
