"""One sampling tick over the node's sources, and the thread that ticks.

``NodeSampler.tick(now)`` is given the time (read once per tick by the loop) and
returns a new :class:`~exporter.snapshot.Snapshot`. Order within a tick: the
model-server fetches are started first, then NVML and the kubelet are read while they
are in flight, then the fetches are collected; a tick therefore takes about
``max(NVML + kubelet, slowest target up to its timeout)``, ~1 s at worst with the
defaults, well inside a 5 s interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping

from exporter.attribution import PodResourcesSource
from exporter.discovery import TargetSource
from exporter.errors import ERROR_KINDS, ExporterError
from exporter.gpus import GpuSampler
from exporter.queues import QueueReader
from exporter.snapshot import Holder, QueueReading, Snapshot, frozen_map

log = logging.getLogger("exporter")


class StateLog:
    """Logs a problem when it starts and when it clears, not on every tick: a GPU lost
    for an hour at a 5 s interval is 2 lines, not 720."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._logger = logger
        self._open: dict[str, str] = {}

    def update(self, source: str, problems: Mapping[str, str]) -> None:
        """``problems`` is everything wrong in ``source`` now (thing -> reason)."""
        for thing, reason in problems.items():
            key = f"{source}: {thing}"
            if self._open.get(key) != reason:
                self._logger.warning("%s: %s", key, reason)
                self._open[key] = reason
        prefix = f"{source}: "
        for key in [k for k in self._open if k.startswith(prefix) and k[len(prefix) :] not in problems]:
            self._logger.info("%s: recovered", key)
            del self._open[key]


class NodeSampler:
    """Reads GPUs, attribution and queues into snapshots; keeps cumulative error counts.

    ``pod_resources`` None disables attribution (GPU series carry empty pod labels);
    ``targets``/``queues`` None disable queue reading.
    """

    def __init__(
        self,
        node: str,
        gpus: GpuSampler,
        *,
        pod_resources: PodResourcesSource | None = None,
        targets: TargetSource | None = None,
        queues: QueueReader | None = None,
        timer: Callable[[], float] = time.perf_counter,
        state_log: StateLog | None = None,
    ) -> None:
        self.node = node
        self._gpus = gpus
        self._pod_resources = pod_resources
        self._targets = targets
        self._queues = queues
        self._timer = timer
        self._errors: Counter[str] = Counter({kind: 0 for kind in ERROR_KINDS})
        self._log = state_log or StateLog()

    def tick(self, now: float) -> Snapshot:
        durations: dict[str, float] = {}
        pending = None
        q0 = self._timer()
        if self._targets is not None and self._queues is not None:
            listed = self._targets.poll(now)
            self._count(listed.errors)
            self._log.update("discovery", listed.problems)
            pending = self._queues.start(listed.targets)

        t0 = self._timer()
        gpu = self._gpus.sample()
        durations["nvml"] = self._timer() - t0
        self._count(gpu.errors)
        self._log.update("nvml", gpu.problems)

        holders: Mapping[str, tuple[Holder, ...]] = {}
        if self._pod_resources is not None:
            t0 = self._timer()
            try:
                holders = self._pod_resources.holders()
                self._log.update("podresources", {})
            except ExporterError as exc:
                self._errors[exc.kind] += 1
                self._log.update("podresources", {"kubelet": str(exc)})
            durations["podresources"] = self._timer() - t0

        queues: tuple[QueueReading, ...] = ()
        if pending is not None and self._queues is not None:
            result = self._queues.finish(pending)
            durations["queues"] = self._timer() - q0  # wall time of the round, overlapping NVML
            self._count(result.errors)
            self._log.update("queues", result.problems)
            queues = result.readings

        return Snapshot(
            node=self.node,
            taken_at=now,
            gpus=gpu.readings,
            holders=frozen_map(holders),
            queues=queues,
            errors_total=frozen_map(self._errors),
            durations=frozen_map(durations),
            nvml_error=gpu.nvml_error,
        )

    def _count(self, errors: Mapping[str, int]) -> None:
        for kind, n in errors.items():
            self._errors[kind] += n

    def close(self) -> None:
        self._gpus.close()
        if self._queues is not None:
            self._queues.close()


class SamplingThread:
    """Ticks a :class:`NodeSampler` every ``interval_s`` and holds the latest snapshot.

    Ticks are scheduled on a fixed grid (start, start+5, start+10 ...), not "5 s after
    the last tick ended", so a 1 s tick does not stretch the interval to 6 s; a tick
    that overruns skips to the next grid point. The wall clock (``clock``) is read
    once per tick and passed down as ``now``.
    """

    def __init__(self, sampler: NodeSampler, interval_s: float, *, clock: Callable[[], float] = time.time) -> None:
        self.sampler = sampler
        self.interval_s = interval_s
        self._clock = clock
        self._latest = Snapshot(node=sampler.node)
        self._stop = threading.Event()
        self._tick_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failure: str | None = None
        self.ticks = 0

    @property
    def latest(self) -> Snapshot:
        return self._latest

    def tick_once(self) -> Snapshot:
        """Run one tick now (the first one runs before the HTTP server starts). Ticks
        never overlap: the sources keep state between ticks (GPM samples)."""
        with self._tick_lock:
            snapshot = self.sampler.tick(self._clock())
            self._latest = snapshot
            self.ticks += 1
            return snapshot

    @property
    def failure(self) -> str | None:
        """Why the thread ended on its own (an error outside a tick); None while it runs."""
        return self._failure

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gpu-exporter-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # never die quietly: the exporter's /healthz and CLI read this
            self._failure = f"{type(exc).__name__}: {exc}"
            log.error("sampler thread died: %s", self._failure)

    def _loop(self) -> None:
        next_at = time.monotonic() + self.interval_s
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            try:
                self.tick_once()
            except Exception:  # never let one bad tick kill sampling; the next may work
                log.exception("sampling tick failed")
            now = time.monotonic()
            next_at += self.interval_s
            if next_at < now:  # overran: skip the missed grid points
                next_at += ((now - next_at) // self.interval_s + 1) * self.interval_s

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
