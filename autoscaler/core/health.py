"""Which pods hold a GPU that cannot serve, from the exporter's ``gpu_healthy`` per pod.

Pure: the reading comes in (as every metric's does, through the one staleness rule of
:mod:`autoscaler.core.observe`) and the pods go out with ``gpu_unhealthy`` set where the
newest sample is 0. Nothing known is healthy: a failed fetch, a stale sample or a pod
without the series leaves the pod as it was, because marking pods broken on missing data
would ask for replicas nobody needs (and a fault must never change the count by itself).
"""

from __future__ import annotations

from dataclasses import replace

from autoscaler.core.observe import Reading, observe_per_pod
from autoscaler.core.types import PodState

#: The words a pod's ``gpu_unhealthy`` carries (the exporter's series says no more).
UNHEALTHY = "gpu_healthy is 0 (a fatal Xid, or the GPU stopped answering NVML)"


def mark_unhealthy(pods: tuple[PodState, ...], reading: Reading, max_age: float, now: float) -> tuple[PodState, ...]:
    """``pods`` with ``gpu_unhealthy`` set on each whose fresh ``gpu_healthy`` is below 0.5.

    >>> from autoscaler.core.observe import Sample
    >>> pods = (PodState("a"), PodState("b"), PodState("c"))
    >>> reading = Reading(per_pod={"a": Sample(1.0, 100.0), "b": Sample(0.0, 100.0), "c": Sample(0.0, 40.0)})
    >>> [p.gpu_unhealthy is not None for p in mark_unhealthy(pods, reading, 30.0, 105.0)]
    [False, True, False]
    """
    if reading.error is not None or not reading.per_pod or not pods:
        return pods
    names = [p.name for p in pods]
    seen = observe_per_pod(reading, names, max_age, now, "gpu_healthy").per_pod
    if not any(v < 0.5 for v in seen.values()):
        return pods
    return tuple(replace(p, gpu_unhealthy=UNHEALTHY) if seen.get(p.name, 1.0) < 0.5 else p for p in pods)
