"""The immutable snapshot one sampling tick produces and every scrape reads.

A scrape never waits on NVML, the kubelet or a model server: the sampling thread
builds a new :class:`Snapshot` each interval and swaps a reference (atomic in
CPython); ``collect()`` reads whichever snapshot is current. Unknown values are None
and are left out of the exposition, never reported as 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

V = TypeVar("V")


@dataclass(frozen=True)
class GpuReading:
    """One GPU (``mig == ""``) or one MIG instance on it (``mig`` = its GPU-instance id).

    ``up`` is False when NVML errored on this device this tick; its values are then
    all None, and its labels are those last seen while it answered.
    """

    index: int
    uuid: str
    model: str
    mig: str = ""
    up: bool = True
    utilization_ratio: float | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    power_watts: float | None = None
    temperature_celsius: float | None = None
    sm_active_ratio: float | None = None
    sm_occupancy_ratio: float | None = None
    tensor_active_ratio: float | None = None
    dram_bandwidth_ratio: float | None = None
    health: GpuHealth | None = None


@dataclass(frozen=True)
class Holder:
    """The container a GPU is allocated to, from the kubelet's PodResources API."""

    namespace: str
    pod: str
    container: str


#: Labels of a GPU that no pod holds: Prometheus treats an empty label as absent.
UNALLOCATED = Holder("", "", "")


@dataclass(frozen=True)
class HistogramReading:
    """A latency histogram as the server exposes it: cumulative counts per upper bound
    (ascending, ``inf`` last), the sum of observations and their count.

    ``buckets=((0.5, 3.0), (1.0, 4.0), (inf, 5.0)), sum=2.9`` is 5 observations, 3 of
    them <= 0.5 s. Several series of one family (per model, per engine) are merged into
    one by adding the counts of the bounds they all share.
    """

    buckets: tuple[tuple[float, float], ...]
    sum: float

    @property
    def count(self) -> float:
        return self.buckets[-1][1] if self.buckets else 0.0


@dataclass(frozen=True)
class QueueReading:
    """What one model-server pod reports: queue depth and running requests, token work
    (monotonic totals since the server started; a restart starts them again from 0, a
    counter reset that ``rate()`` handles), KV-cache use 0..1, and the time-to-first-token
    and queue-time histograms. None where unknown or where the server has no equivalent
    (Triton has no in-flight gauge, so its ``running_requests`` is None; TGI has no
    KV-cache gauge)."""

    namespace: str
    pod: str
    queue_depth: float | None
    running_requests: float | None = None
    prompt_tokens_total: float | None = None
    generation_tokens_total: float | None = None
    kv_cache_usage_ratio: float | None = None
    time_to_first_token: HistogramReading | None = None
    queue_time: HistogramReading | None = None


def frozen_map(items: Mapping[str, V] | None = None) -> Mapping[str, V]:
    """A read-only copy, so a snapshot cannot change under a scrape."""
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True)
class Snapshot:
    """Everything a scrape publishes.

    ``taken_at`` is the Unix time the tick read its clock (None before the first
    tick); ``holders`` maps a GPU or MIG UUID to its holders (several when a GPU is
    time-sliced); ``errors_total`` is cumulative per kind since start;
    ``durations`` is seconds spent this tick per source (``nvml``, ``podresources``,
    ``queues``); ``nvml_error`` is the reason NVML is unusable, or None.
    """

    node: str
    taken_at: float | None = None
    gpus: tuple[GpuReading, ...] = ()
    holders: Mapping[str, tuple[Holder, ...]] = field(default_factory=lambda: frozen_map())
    queues: tuple[QueueReading, ...] = ()
    errors_total: Mapping[str, int] = field(default_factory=lambda: frozen_map())
    durations: Mapping[str, float] = field(default_factory=lambda: frozen_map())
    nvml_error: str | None = None


@dataclass(frozen=True)
class GpuHealth:
    """Whether a GPU (or a MIG instance, through its GPU) can serve, and why not.

    ``healthy`` False when the GPU stopped answering NVML or reported a fatal Xid
    (``reason`` says which, e.g. ``fatal Xid 79``). The readings behind it belong to
    the whole GPU and are None/empty on a MIG instance's reading: ``clock_event_reasons``
    reason -> held now (None where NVML gives none); ``xid_errors`` Xid -> count since
    the exporter started (None where the GPU's events are not watched, so there is no
    Xid series rather than a 0); ``ecc_errors`` (type, counter) -> count, only the
    counters NVML answered.
    """

    healthy: bool = True
    reason: str | None = None
    clock_event_reasons: Mapping[str, bool] | None = None
    xid_errors: Mapping[int, int] | None = None
    ecc_errors: Mapping[tuple[str, str], int] = field(default_factory=lambda: MappingProxyType({}))
