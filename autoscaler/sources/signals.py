"""Which Prometheus series stand behind each built-in signal (``--signal-source``).

Whatever the series, a signal means the same thing and has the same unit afterwards,
so a GPUScaler's targets need not change when a cluster switches exporters:

====================  ======================================  =====  =====
signal                series (source)                         per    scale
====================  ======================================  =====  =====
queue depth           ``inference_queue_depth`` (ours)        max    1
queue depth           ``vllm:num_requests_waiting`` (vllm)    sum    1
SM activity, percent  ``gpu_sm_active_ratio`` (ours)          avg    100
SM activity, percent  ``DCGM_FI_PROF_SM_ACTIVE`` (dcgm)       avg    100
utilization, percent  ``gpu_utilization_ratio`` (ours)        avg    100
utilization, percent  ``DCGM_FI_DEV_GPU_UTIL`` (dcgm)         avg    1
====================  ======================================  =====  =====

"per" is how a pod's several series fold into one number: a pod with two GPUs at
0.30 and 0.50 SM activity reads avg = 0.40, times 100 = 40 %. Our queue depth takes
``max`` so a pod scraped twice (two jobs) is not counted double; vLLM's takes ``sum``
because a data-parallel pod exposes one series per engine, and its queue is their total.

Assumptions about labels (written in the README too): every series carries the pod's
``namespace`` and ``pod``. dcgm-exporter does so only with pod attribution on
(``--kubernetes`` / ``DCGM_EXPORTER_KUBERNETES=true``) *and* when scraped with
``honor_labels: true``; otherwise Prometheus renames them to ``exported_namespace`` and
``exported_pod`` (the scrape target's own labels win) and nothing would match. vLLM's
series get ``namespace``/``pod`` from the scrape (a PodMonitor or kubernetes_sd
relabeling), as any pod scraped directly does.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from autoscaler.sources.base import Signal


@dataclass(frozen=True)
class SeriesSpec:
    """One series and how to turn it into the signal's unit."""

    metric: str
    aggregation: str  # "max" | "avg" | "sum": how a pod's series fold into one number
    scale: float      # multiply after folding (ratio 0..1 -> percent: 100)


OURS: Mapping[Signal, SeriesSpec] = {
    Signal.QUEUE_DEPTH: SeriesSpec("inference_queue_depth", "max", 1.0),
    Signal.SM_ACTIVE: SeriesSpec("gpu_sm_active_ratio", "avg", 100.0),
    Signal.UTILIZATION: SeriesSpec("gpu_utilization_ratio", "avg", 100.0),
}
DCGM_GPU: Mapping[Signal, SeriesSpec] = {
    # DCGM_FI_PROF_SM_ACTIVE is a 0..1 ratio; DCGM_FI_DEV_GPU_UTIL is already a percent.
    Signal.SM_ACTIVE: SeriesSpec("DCGM_FI_PROF_SM_ACTIVE", "avg", 100.0),
    Signal.UTILIZATION: SeriesSpec("DCGM_FI_DEV_GPU_UTIL", "avg", 1.0),
}
VLLM_QUEUE: Mapping[Signal, SeriesSpec] = {
    Signal.QUEUE_DEPTH: SeriesSpec("vllm:num_requests_waiting", "sum", 1.0),
}

#: ``--signal-source`` choices. dcgm-exporter has no queue depth and vLLM no GPU
#: activity, so each replaces only what it has and ours fill the rest.
SIGNAL_SOURCES: Mapping[str, Mapping[Signal, SeriesSpec]] = {
    "ours": OURS,
    "dcgm": {**OURS, **DCGM_GPU},
    "vllm": {**OURS, **VLLM_QUEUE},
    "dcgm+vllm": {**OURS, **DCGM_GPU, **VLLM_QUEUE},
}


def series_for(source: str) -> Mapping[Signal, SeriesSpec]:
    """The series table of a ``--signal-source`` name; KeyError names the choices."""
    try:
        return SIGNAL_SOURCES[source]
    except KeyError:
        raise KeyError(f"unknown signal source {source!r} (expected one of: {', '.join(SIGNAL_SOURCES)})") from None
