"""The one module that talks to NVML (through ``pynvml``, from ``nvidia-ml-py``).

Everything else in the exporter sees :class:`Nvml`, whose methods return plain
Python numbers and raise only our :mod:`exporter.errors`. The ``pynvml`` module is
*given* to :class:`Nvml` (the real one from :func:`load_pynvml`, or a fake with the
same function names in tests), so tests fake NVML at the vendor boundary and nothing
of ours is patched.

Units are converted here, once: NVML's power is milliwatts (``312000`` -> 312.0 W),
utilization and GPM metrics are percent (``97`` -> 0.97). Bit masks are decoded here
too: clock event reasons ``0x24`` -> ``sw_power_cap`` and ``sw_thermal_slowdown``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any, TypeVar

from exporter.errors import NvmlError, NvmlNotSupported, NvmlUnavailable

T = TypeVar("T")

#: NVML return codes we treat specially (values from nvml.h / pynvml).
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_TIMEOUT = 10  # nvmlEventSetWait_v2: no event within the timeout
NVML_ERROR_FUNCTION_NOT_FOUND = 13  # the driver's libnvidia-ml lacks the symbol the binding asks for

#: Why clocks are held down, as ``(reason label, mask name)``. The mask is read from the
#: binding as ``nvmlClocksEventReason<name>`` (nvidia-ml-py >= 12.535) or, in older
#: bindings, ``nvmlClocksThrottleReason<name>`` (same bits, nvml.h). Names checked in
#: nvidia-ml-py 13.615 (pynvml.py): GpuIdle 0x1, ApplicationsClocksSetting 0x2,
#: SwPowerCap 0x4, HwSlowdown 0x8, SyncBoost 0x10, SwThermalSlowdown 0x20,
#: HwThermalSlowdown 0x40, HwPowerBrakeSlowdown 0x80, DisplayClockSetting 0x100.
CLOCK_EVENT_REASONS: tuple[tuple[str, str], ...] = (
    ("gpu_idle", "GpuIdle"),  # nothing runs: clocks drop, harmless
    ("applications_clocks_setting", "ApplicationsClocksSetting"),  # capped by nvidia-smi -ac
    ("sw_power_cap", "SwPowerCap"),  # at the power limit: normal under full load
    ("hw_slowdown", "HwSlowdown"),  # hardware slowdown (thermal or power brake): clocks halved or worse
    ("sync_boost", "SyncBoost"),  # held to the slowest GPU of a sync-boost group
    ("sw_thermal_slowdown", "SwThermalSlowdown"),  # the driver lowers clocks to cool down
    ("hw_thermal_slowdown", "HwThermalSlowdown"),  # the GPU itself is too hot
    ("hw_power_brake_slowdown", "HwPowerBrakeSlowdown"),  # the board's power brake is asserted (PSU)
    ("display_clock_setting", "DisplayClockSetting"),  # held below the display clock setting
)

#: ECC counters read with nvmlDeviceGetTotalEccErrors, as ``(type, counter, error-type
#: constant, counter-type constant)``: volatile counts since the driver loaded,
#: aggregate over the GPU's life (kept in its InfoROM).
ECC_COUNTERS: tuple[tuple[str, str, str, str], ...] = (
    ("corrected", "volatile", "NVML_MEMORY_ERROR_TYPE_CORRECTED", "NVML_VOLATILE_ECC"),
    ("uncorrected", "volatile", "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", "NVML_VOLATILE_ECC"),
    ("corrected", "aggregate", "NVML_MEMORY_ERROR_TYPE_CORRECTED", "NVML_AGGREGATE_ECC"),
    ("uncorrected", "aggregate", "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", "NVML_AGGREGATE_ECC"),
)

#: The four GPM metrics we export, by pynvml constant name.
GPM_METRICS: tuple[str, ...] = (
    "NVML_GPM_METRIC_SM_UTIL",  # share of SMs busy, 0..100
    "NVML_GPM_METRIC_SM_OCCUPANCY",  # active warps vs the theoretical maximum, 0..100
    "NVML_GPM_METRIC_ANY_TENSOR_UTIL",  # share of time any tensor core was busy, 0..100
    "NVML_GPM_METRIC_DRAM_BW_UTIL",  # DRAM bandwidth used vs the peak, 0..100
)


def load_pynvml() -> Any:
    """The real ``pynvml`` module.

    Importing it never touches the driver (it is ctypes code that loads
    ``libnvidia-ml.so.1`` lazily in ``nvmlInit``), so this succeeds on machines
    without a GPU; :meth:`Nvml.init` then raises :class:`NvmlUnavailable`.
    """
    import pynvml

    return pynvml


@dataclass(frozen=True)
class GpmPercents:
    """GPM metrics between two samples, in percent (0..100); None where NVML gave none."""

    sm_util: float | None
    sm_occupancy: float | None
    tensor_util: float | None
    dram_bw_util: float | None


@dataclass(frozen=True)
class XidEvent:
    """One ``nvmlEventTypeXidCriticalError`` event: on which device (``device_key`` of
    the handle it was registered with), which Xid, and the MIG GPU instance when NVML
    could attribute it to one (None otherwise)."""

    device_key: Hashable
    xid: int
    gpu_instance_id: int | None = None


def device_key(handle: Any) -> Hashable:
    """A value equal for two handles of the same device.

    The real binding's handles are ctypes pointers, which compare by identity: the
    handle inside an event is a different object from the one we registered, so they
    are compared by address. A fake's handles are plain hashable values.
    """
    try:
        return ("nvmlDevice", ctypes.cast(handle, ctypes.c_void_p).value)
    except (ctypes.ArgumentError, TypeError):
        key: Hashable = handle
        return key


class Nvml:
    """Typed, error-wrapped access to one ``pynvml``-like module.

    ``lib`` needs the ``nvml*`` functions, ``NVMLError``, and the ``NVML_*`` constants
    that pynvml has; a handle is whatever ``nvmlDeviceGetHandleByIndex`` returns.
    """

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        self._error_type: type[BaseException] = lib.NVMLError
        self._gpm_ids = tuple(int(getattr(lib, name)) for name in GPM_METRICS)
        self._clock_masks = _clock_masks(lib)

    # -- error translation ---------------------------------------------------
    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self._lib, name)(*args)
        except self._error_type as exc:
            code = int(getattr(exc, "value", -1))
            cls = NvmlNotSupported if code == NVML_ERROR_NOT_SUPPORTED else NvmlError
            raise cls(name, code, str(exc)) from exc

    def _optional(self, read: Callable[[], T]) -> T | None:
        """``read()``, or None when the GPU does not support that reading."""
        try:
            return read()
        except NvmlNotSupported:
            return None

    # -- library -------------------------------------------------------------
    def init(self) -> None:
        """``nvmlInit``; raises :class:`NvmlUnavailable` with NVML's reason
        (``NVML Shared Library Not Found`` on a machine without the driver)."""
        try:
            self._call("nvmlInit")
        except NvmlError as exc:
            raise NvmlUnavailable(exc.call, exc.code, exc.message) from exc

    def shutdown(self) -> None:
        self._call("nvmlShutdown")

    def device_count(self) -> int:
        return int(self._call("nvmlDeviceGetCount"))

    def device(self, index: int) -> Any:
        return self._call("nvmlDeviceGetHandleByIndex", index)

    # -- identity ------------------------------------------------------------
    def uuid(self, handle: Any) -> str:
        return _text(self._call("nvmlDeviceGetUUID", handle))

    def name(self, handle: Any) -> str:
        return _text(self._call("nvmlDeviceGetName", handle))

    # -- plain readings ------------------------------------------------------
    def utilization_ratio(self, handle: Any) -> float | None:
        """Share of the last sample period in which *a* kernel ran (``.gpu`` percent / 100).

        None on MIG-enabled GPUs, where NVML does not offer it.
        """
        rates = self._optional(lambda: self._call("nvmlDeviceGetUtilizationRates", handle))
        return None if rates is None else float(rates.gpu) / 100.0

    def memory_bytes(self, handle: Any) -> tuple[int, int]:
        """(used, total) frame-buffer bytes."""
        info = self._call("nvmlDeviceGetMemoryInfo", handle)
        return int(info.used), int(info.total)

    def power_watts(self, handle: Any) -> float | None:
        """Board power draw; NVML answers in milliwatts (312000 mW = 312.0 W)."""
        mw = self._optional(lambda: self._call("nvmlDeviceGetPowerUsage", handle))
        return None if mw is None else float(mw) / 1000.0

    def temperature_celsius(self, handle: Any) -> float | None:
        sensor = self._lib.NVML_TEMPERATURE_GPU
        value = self._optional(lambda: self._call("nvmlDeviceGetTemperature", handle, sensor))
        return None if value is None else float(value)

    # -- MIG -----------------------------------------------------------------
    def mig_enabled(self, handle: Any) -> bool:
        """Whether MIG is on now (the current mode; a pending mode waits for a reset)."""
        modes = self._optional(lambda: self._call("nvmlDeviceGetMigMode", handle))
        return modes is not None and int(modes[0]) == int(self._lib.NVML_DEVICE_MIG_ENABLE)

    def mig_devices(self, handle: Any) -> list[tuple[int, Any]]:
        """``(slot, handle)`` of each MIG instance on a MIG-enabled GPU.

        NVML numbers MIG slots ``0..max-1`` and answers NOT_FOUND for an empty slot
        (an H100 cut into 3 instances of 7 possible has 4 empty slots).
        """
        slots = int(self._call("nvmlDeviceGetMaxMigDeviceCount", handle))
        found = []
        for slot in range(slots):
            try:
                found.append((slot, self._call("nvmlDeviceGetMigDeviceHandleByIndex", handle, slot)))
            except NvmlError as exc:
                if exc.code != NVML_ERROR_NOT_FOUND:
                    raise
        return found

    def gpu_instance_id(self, mig_handle: Any) -> int:
        return int(self._call("nvmlDeviceGetGpuInstanceId", mig_handle))

    # -- GPM -----------------------------------------------------------------
    def gpm_supported(self, handle: Any) -> bool:
        """Whether the GPU has GPM counters (Hopper and newer); False when unsupported."""
        support = self._optional(lambda: self._call("nvmlGpmQueryDeviceSupport", handle))
        return bool(support is not None and support.isSupportedDevice)

    def gpm_sample(self, handle: Any, gpu_instance_id: int | None = None) -> Any:
        """A fresh GPM sample of a GPU, or of one MIG GPU instance on it.

        The sample is allocated here and must go back through :meth:`gpm_free`; when
        taking it fails it is freed before the error is raised.
        """
        sample = self._call("nvmlGpmSampleAlloc")
        try:
            if gpu_instance_id is None:
                self._call("nvmlGpmSampleGet", handle, sample)
            else:
                self._call("nvmlGpmMigSampleGet", handle, gpu_instance_id, sample)
        except NvmlError:
            self.gpm_free(sample)
            raise
        return sample

    def gpm_free(self, sample: Any) -> None:
        try:
            self._call("nvmlGpmSampleFree", sample)
        except NvmlError:
            pass  # nothing useful to do about a sample that will not free

    def gpm_percents(self, older: Any, newer: Any) -> GpmPercents:
        """The four GPM metrics averaged over the time between two samples.

        NVML fills one entry per requested metric, each with its own return code; an
        entry that failed is None rather than the whole reading failing.
        """
        request = self._lib.c_nvmlGpmMetricsGet_t()
        request.version = self._lib.NVML_GPM_METRICS_GET_VERSION
        request.numMetrics = len(self._gpm_ids)
        request.sample1 = older
        request.sample2 = newer
        for i, metric_id in enumerate(self._gpm_ids):
            request.metrics[i].metricId = metric_id
        result = self._call("nvmlGpmMetricsGet", request)
        values = [
            float(m.value) if int(m.nvmlReturn) == 0 else None
            for m in (result.metrics[i] for i in range(len(self._gpm_ids)))
        ]
        return GpmPercents(*values)

    # -- health ----------------------------------------------------------------
    def clock_event_reasons(self, handle: Any) -> Mapping[str, bool] | None:
        """Which of :data:`CLOCK_EVENT_REASONS` hold the clocks down now, each True/False.

        ``nvmlDeviceGetCurrentClocksEventReasons``, or the older
        ``nvmlDeviceGetCurrentClocksThrottleReasons`` where the binding or the driver
        lacks it (a driver before R535 answers FUNCTION_NOT_FOUND). A mask of
        ``0x24`` = 0x20 | 0x4 reads ``sw_thermal_slowdown`` and ``sw_power_cap`` True.
        None where the GPU does not report reasons.
        """
        mask = self._optional(lambda: self._clock_mask(handle))
        if mask is None:
            return None
        return MappingProxyType({reason: bool(mask & bit) for reason, bit in self._clock_masks})

    def _clock_mask(self, handle: Any) -> int:
        new, old = "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"
        if hasattr(self._lib, new):
            try:
                return int(self._call(new, handle))
            except NvmlError as exc:
                if exc.code != NVML_ERROR_FUNCTION_NOT_FOUND or not hasattr(self._lib, old):
                    raise
        return int(self._call(old, handle))

    def ecc_errors(self, handle: Any) -> Mapping[tuple[str, str], int]:
        """ECC error counts by ``(type, counter)`` (see :data:`ECC_COUNTERS`).

        A counter NVML does not offer (ECC off, or a board without ECC memory answers
        NOT_SUPPORTED) is left out of the mapping, never 0; any other failure raises.
        """
        counts: dict[tuple[str, str], int] = {}
        for kind, counter, error_type, counter_type in ECC_COUNTERS:
            value = self._optional(
                partial(
                    self._call,
                    "nvmlDeviceGetTotalEccErrors",
                    handle,
                    getattr(self._lib, error_type),
                    getattr(self._lib, counter_type),
                )
            )
            if value is not None:
                counts[(kind, counter)] = int(value)
        return MappingProxyType(counts)

    # -- Xid events --------------------------------------------------------------
    def event_set(self) -> Any | None:
        """``nvmlEventSetCreate``: the set every GPU's Xid events are registered in;
        None where NVML offers no events (NOT_SUPPORTED)."""
        return self._optional(lambda: self._call("nvmlEventSetCreate"))

    def free_event_set(self, event_set: Any) -> None:
        try:
            self._call("nvmlEventSetFree", event_set)
        except NvmlError:
            pass  # shutting down anyway

    def register_xid_events(self, handle: Any, event_set: Any) -> bool:
        """Register the GPU's Xid events in ``event_set``; False where the GPU cannot
        deliver them (NOT_SUPPORTED), so it has no Xid series rather than a 0."""
        kind = self._lib.nvmlEventTypeXidCriticalError
        try:
            self._call("nvmlDeviceRegisterEvents", handle, kind, event_set)
        except NvmlNotSupported:
            return False
        return True

    def wait_xid(self, event_set: Any, timeout_ms: int) -> XidEvent | None:
        """The next event of the set, waiting at most ``timeout_ms``; None on timeout.

        ``nvmlEventSetWait_v2`` answers TIMEOUT when nothing happened; the event's
        ``eventData`` is the Xid. A ``gpuInstanceId`` of 0xFFFFFFFF (all ones) means
        not attributable to a MIG instance.
        """
        try:
            data = self._call("nvmlEventSetWait_v2", event_set, timeout_ms)
        except NvmlError as exc:
            if exc.code == NVML_ERROR_TIMEOUT:
                return None
            raise
        if int(data.eventType) & int(self._lib.nvmlEventTypeXidCriticalError) == 0:
            return None
        gi = getattr(data, "gpuInstanceId", None)
        gi = None if gi is None or int(gi) == 0xFFFFFFFF else int(gi)
        return XidEvent(device_key(data.device), int(data.eventData), gi)


def _clock_masks(lib: Any) -> tuple[tuple[str, int], ...]:
    """Each reason's bit from the binding: the ClocksEvent name, else the ClocksThrottle one."""
    masks = []
    for reason, name in CLOCK_EVENT_REASONS:
        bit = getattr(lib, f"nvmlClocksEventReason{name}", None)
        if bit is None:
            bit = getattr(lib, f"nvmlClocksThrottleReason{name}", None)
        if bit is not None:
            masks.append((reason, int(bit)))
    return tuple(masks)


def _text(value: str | bytes) -> str:
    """pynvml returns str from most string calls, but bytes from some older builds."""
    return value.decode() if isinstance(value, bytes) else str(value)
