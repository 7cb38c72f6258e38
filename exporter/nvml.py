"""The one module that talks to NVML (through ``pynvml``, from ``nvidia-ml-py``).

Everything else in the exporter sees :class:`Nvml`, whose methods return plain
Python numbers and raise only our :mod:`exporter.errors`. The ``pynvml`` module is
*given* to :class:`Nvml` (the real one from :func:`load_pynvml`, or a fake with the
same function names in tests), so tests fake NVML at the vendor boundary and nothing
of ours is patched.

Units are converted here, once: NVML's power is milliwatts (``312000`` -> 312.0 W),
utilization and GPM metrics are percent (``97`` -> 0.97).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from exporter.errors import NvmlError, NvmlNotSupported, NvmlUnavailable

T = TypeVar("T")

#: NVML return codes we treat specially (values from nvml.h / pynvml).
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6

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


class Nvml:
    """Typed, error-wrapped access to one ``pynvml``-like module.

    ``lib`` needs the ``nvml*`` functions, ``NVMLError``, and the ``NVML_*`` constants
    that pynvml has; a handle is whatever ``nvmlDeviceGetHandleByIndex`` returns.
    """

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        self._error_type: type[BaseException] = lib.NVMLError
        self._gpm_ids = tuple(int(getattr(lib, name)) for name in GPM_METRICS)

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


def _text(value: str | bytes) -> str:
    """pynvml returns str from most string calls, but bytes from some older builds."""
    return value.decode() if isinstance(value, bytes) else str(value)
