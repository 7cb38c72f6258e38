"""GPU health: Xid errors from NVML's event set, and whether a GPU can still serve.

Xid events are the driver's error reports (the ``NVRM: Xid`` lines of the kernel log).
NVML hands them out through an event set: every GPU is registered once for
``nvmlEventTypeXidCriticalError``, and each sampling tick drains what arrived since the
last one with ``nvmlEventSetWait_v2`` and a 1 ms timeout, on the sampler's own thread
(no second thread, so no lock around NVML). A tick with nothing to report costs one
1 ms wait; a burst is drained up to :data:`MAX_EVENTS_PER_TICK` and the rest waits for
the next tick, so a storm of Xids cannot stretch a tick.

A GPU is *unhealthy* when it stopped answering NVML, or once it reported one of
:data:`FATAL_XIDS`: errors after which NVIDIA's own guidance is to reset the GPU (or
the node) before it serves again. Unhealthy is sticky for the life of the exporter,
as in NVIDIA's k8s-device-plugin, which marks such a device unhealthy until it
restarts: a reset or a reboot restarts the exporter's pod as well.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from exporter.nvml import Nvml, device_key

#: Xids after which the GPU is counted as not-ready capacity until it is reset.
#: Sources: NVIDIA, "Dynamic Page Retirement: Visibility"
#: (docs.nvidia.com/deploy/dynamic-page-retirement/visibility.html) for 48/63/64, and
#: the Xid catalog (docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html)
#: for the others; NVIDIA's health-validation checks rate Xid 48 CRITICAL, "drain".
#:   48  double-bit (uncorrectable) ECC error
#:   63  ECC page retirement / row remapping recorded: reset the GPU to activate
#:   64  ECC page retirement / row remapping failed
#:   74  NVLink error
#:   79  GPU has fallen off the bus
#:   92  high single-bit ECC error rate
#:   94  contained ECC error (the application touching the memory is killed)
#:   95  uncontained ECC error (every application on the GPU is affected)
#: Not fatal: application errors such as 13 (graphics engine exception), 31 (memory
#: page fault), 43 (GPU stopped processing), 45 (preemptive cleanup) and 68 (video
#: processor exception), which NVIDIA's k8s-device-plugin also skips ("Application
#: errors: the GPU should still be healthy"). They are counted, not held against the GPU.
FATAL_XIDS: frozenset[int] = frozenset({48, 63, 64, 74, 79, 92, 94, 95})

#: Events drained per tick at most (one 1 ms wait each at worst).
MAX_EVENTS_PER_TICK = 256
#: How long one wait may block, in ms: short, because it runs inside the sampling tick.
XID_WAIT_MS = 1


@dataclass(frozen=True)
class XidState:
    """What the exporter knows of one GPU's Xids: ``counts`` since start by Xid (empty
    while none came), ``fatal`` the first fatal Xid seen (None: none), ``watched``
    whether its events are registered at all (False: no Xid series for it)."""

    counts: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    fatal: int | None = None
    watched: bool = False


UNWATCHED = XidState()


class XidWatcher:
    """Counts Xid events per GPU UUID through one NVML event set."""

    def __init__(self, nvml: Nvml) -> None:
        self._nvml = nvml
        self._event_set: Any = None
        self._unsupported = False  # nvmlEventSetCreate refused: no Xid series at all
        self._registered: dict[Hashable, str] = {}  # device key -> GPU UUID
        self._refused: set[str] = set()  # UUIDs whose GPU cannot deliver events
        self._counts: dict[str, Counter[int]] = {}
        self._fatal: dict[str, int] = {}

    def watch(self, uuid: str, handle: Any) -> None:
        """Register a GPU once (the first tick it answers). Raises NvmlError on a
        failure other than NOT_SUPPORTED; the next tick tries again."""
        if self._unsupported or uuid in self._refused or uuid in self._registered.values():
            return
        if self._event_set is None:
            created = self._nvml.event_set()
            if created is None:
                self._unsupported = True
                return
            self._event_set = created
        if self._nvml.register_xid_events(handle, self._event_set):
            self._registered[device_key(handle)] = uuid
            self._counts.setdefault(uuid, Counter())
        else:
            self._refused.add(uuid)

    def drain(self) -> int:
        """Read the events that arrived since the last drain; returns how many Xids.
        Raises NvmlError when the wait itself fails (counted as an nvml error)."""
        if self._event_set is None:
            return 0
        seen = 0
        for _ in range(MAX_EVENTS_PER_TICK):
            event = self._nvml.wait_xid(self._event_set, XID_WAIT_MS)
            if event is None:
                break
            uuid = self._registered.get(event.device_key)
            if uuid is None:
                continue  # a device we did not register (cannot happen with one set per exporter)
            self._counts[uuid][event.xid] += 1
            if event.xid in FATAL_XIDS:
                self._fatal.setdefault(uuid, event.xid)
            seen += 1
        return seen

    def state(self, uuid: str) -> XidState:
        if uuid not in self._counts:
            return UNWATCHED
        return XidState(MappingProxyType(dict(self._counts[uuid])), self._fatal.get(uuid), watched=True)

    def close(self) -> None:
        if self._event_set is not None:
            self._nvml.free_event_set(self._event_set)
            self._event_set = None
            self._registered.clear()


def unhealthy_reason(up: bool, xids: XidState) -> str | None:
    """Why a GPU cannot serve, or None when it can.

    >>> unhealthy_reason(True, XidState(MappingProxyType({13: 2}), None, True)) is None
    True
    >>> unhealthy_reason(False, XidState(MappingProxyType({79: 1}), 79, True))
    'fatal Xid 79'
    >>> unhealthy_reason(False, UNWATCHED)
    'not answering NVML'
    """
    if xids.fatal is not None:  # the more telling of the two: Xid 79 is why a GPU stops answering
        return f"fatal Xid {xids.fatal}"
    if not up:
        return "not answering NVML"
    return None
