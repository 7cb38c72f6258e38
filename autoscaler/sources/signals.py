"""Which Prometheus series stand behind each built-in signal (``--signal-source``).

The rows below live in each metric type's module (:mod:`autoscaler.metrics`, its
definition's ``series``); this module only composes them per ``--signal-source``.

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

from autoscaler.metrics.registry import EXPORTERS, series_of
from autoscaler.metrics.types import SeriesSpec, Signal

__all__ = ["OURS", "SIGNAL_SOURCES", "SeriesSpec", "series_for"]

#: The series of our own exporter and model-server shims, for every signal.
OURS: Mapping[Signal, SeriesSpec] = series_of(())

#: ``--signal-source`` choices: ours, each other exporter (it replaces only what it has
#: and ours fill the rest), and dcgm+vllm together. The series themselves are each
#: metric type's (:mod:`autoscaler.metrics`).
SIGNAL_SOURCES: Mapping[str, Mapping[Signal, SeriesSpec]] = {
    **{e: series_of((e,)) for e in EXPORTERS},
    "dcgm+vllm": series_of(("dcgm", "vllm")),
}


def series_for(source: str) -> Mapping[Signal, SeriesSpec]:
    """The series table of a ``--signal-source`` name; KeyError names the choices."""
    try:
        return SIGNAL_SOURCES[source]
    except KeyError:
        raise KeyError(f"unknown signal source {source!r} (expected one of: {', '.join(SIGNAL_SOURCES)})") from None
