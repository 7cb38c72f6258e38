"""Measured load time: how long a new replica takes from creation to Ready (``startupSeconds: auto``).

A replica's load time is read from the pod's own fields: ``metadata.creationTimestamp``
to the Ready condition's ``lastTransitionTime``. It covers scheduling, the image pull,
the model download and load, and the readiness probe: everything between asking for a
replica and having one. The caller (controller, simulator) measures with
:func:`measure_startups` and hands the new figures in through the Observation; the core
remembers the last :data:`REMEMBERED_STARTUPS` in its Memory (so a new leader keeps
them) and decides with :func:`startup_seconds`.

Each pod is measured once, when it is first seen Ready, never again on a later poll, a
relist or a new leader: a pod is measured only when its Ready time is later than the
memory's watermark (the newest remembered Ready time, or ``startups_since``, the first
poll), or equal to it and not already remembered (Kubernetes times have whole seconds,
so two pods can turn Ready in the same second and be seen a poll apart). Pods already
Ready at the first poll are not measured: a pod that has been Ready for weeks may have
flapped, and its last Ready time minus its creation would read as weeks of loading.
A pod whose readiness flaps after it was measured is kept from a second measurement by
the caller's ``seen`` (pods already measured in this process); after a leader change,
such a flap can be measured once more, and the figure below is built to shrug off one
outlier.

Pure: no clock; ``now`` comes from the caller.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable
from dataclasses import replace

from autoscaler.core.types import Memory, PodState, Startup

#: How many measured startups the memory keeps (in status: ~100 bytes each).
REMEMBERED_STARTUPS = 10

#: The share of remembered startups the figure covers (nearest rank).
STARTUP_QUANTILE = 0.9


def measure_startups(
    pods: Iterable[PodState], memory: Memory, seen: Container[tuple[str, float]] = ()
) -> tuple[Startup, ...]:
    """The load times of pods that turned Ready since the memory's watermark, by Ready time.

    ``seen`` holds ``(name, created)`` of pods the caller has already measured. Before
    the first poll (``memory.startups_since`` None) nothing is measured. Worked: since
    1000, remembered [b Ready at 1200]; pod a created 1100 and Ready at 1190 (before the
    watermark: not measured), c created 1150 and Ready at 1200 (same second as b, not
    remembered: measured, 50 s), d created 1180 and Ready at 1275 (measured, 95 s)."""
    if memory.startups_since is None:
        return ()
    watermark = max(memory.startups_since, max((s.ready_time for s in memory.startups), default=-math.inf))
    at_watermark = {s.pod for s in memory.startups if s.ready_time == watermark}
    out = []
    for p in pods:
        if not p.ready or p.deleting or p.created is None or p.ready_time is None:
            continue
        if p.ready_time < watermark or (
            p.ready_time == watermark and (p.name in at_watermark or watermark == memory.startups_since)
        ):
            continue
        if (p.name, p.created) in seen:
            continue
        out.append(Startup(p.name, p.ready_time, max(0.0, p.ready_time - p.created)))
    return tuple(sorted(out, key=lambda s: (s.ready_time, s.pod)))


def remember_startups(memory: Memory, measured: tuple[Startup, ...], now: float) -> Memory:
    """The memory with ``measured`` added (the newest :data:`REMEMBERED_STARTUPS` kept)
    and ``startups_since`` set to ``now`` on the first poll."""
    if memory.startups_since is not None and not measured:
        return memory
    since = memory.startups_since if memory.startups_since is not None else now
    kept = tuple(sorted(memory.startups + measured, key=lambda s: (s.ready_time, s.pod)))[-REMEMBERED_STARTUPS:]
    return replace(memory, startups=kept, startups_since=since)


def startup_seconds(declared: float, auto: bool, memory: Memory) -> float:
    """The load time the decision assumes: ``declared`` unless ``auto``; with ``auto``, the
    90th percentile (nearest rank) of the remembered startups, and ``declared`` (the
    default, 120 s) until one is measured.

    Nearest rank over n remembered is the ``ceil(0.9 n)``-th smallest: up to 9 startups
    it is the slowest, so one slow image pull is seen at once; with 10 it is the second
    slowest, so one outlier (a node that pulled a cold image, a readiness flap) does not
    lead. Worked: [80, 82, 85, 88, 90, 91, 93, 95, 97, 400] -> ceil(9.0) = 9th = 97 s."""
    if not auto or not memory.startups:
        return declared
    ordered = sorted(s.seconds for s in memory.startups)
    return ordered[math.ceil(STARTUP_QUANTILE * len(ordered)) - 1]
