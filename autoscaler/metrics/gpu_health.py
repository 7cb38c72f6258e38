"""GPU health, per pod: not a metric type a spec targets, but a fact every decision
needs. The exporter publishes ``gpu_healthy`` (0/1) on each GPU with the pod that holds
it; a pod whose GPU stopped answering NVML or reported a fatal Xid reads 0 (``min`` over
its GPUs: one broken GPU of a tensor-parallel pod of 8 stops the whole replica).

The controller fetches it in the same batched query per tick as the other per-pod
signals (one more query per tick, whatever the number of scalers) and the core sets such
pods aside as not capacity (:mod:`autoscaler.core.proposal`). Only our exporter has the
series: with dcgm-exporter alone the query returns nothing, and every pod counts as healthy.
"""

from __future__ import annotations

from autoscaler.metrics.types import SeriesSpec, Signal

GPU_HEALTH = Signal("gpu_healthy")

SERIES: dict[Signal, SeriesSpec] = {GPU_HEALTH: SeriesSpec("gpu_healthy", "min", 1.0)}
