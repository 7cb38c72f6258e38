"""A fake ``pynvml`` module: the same function names, constants and ``NVMLError``
classes as nvidia-ml-py, over scripted GPUs.

The exporter's sampler receives it where it would receive the real ``pynvml``
(dependency injection at the vendor boundary), so every line of our NVML code runs
in tests. What it mimics from the real binding (nvidia-ml-py 13.615):
- ``NVMLError(code)`` builds the code's subclass (``NVMLError_GpuIsLost``), ``.value``
  is the code, ``str()`` NVML's words; calls before ``nvmlInit`` raise
  ``NVMLError_Uninitialized``; a missing driver raises ``NVMLError_LibraryNotFound``
  from ``nvmlInit`` (code 12, "NVML Shared Library Not Found").
- Utilization and GPM metrics are percent, power milliwatts, memory bytes; MIG-enabled
  GPUs answer NOT_SUPPORTED to ``nvmlDeviceGetUtilizationRates``, and empty MIG
  slots answer NOT_FOUND.
- GPM: ``nvmlGpmMetricsGet`` needs two samples of the same device, the older first,
  and fills one ``{metricId, nvmlReturn, value}`` entry per requested metric. A
  window's value here is the scripted percent at the time of the newer sample.
  Allocated samples are counted, so tests can check nothing leaks.
- Health: ``nvmlDeviceGetCurrentClocksEventReasons`` (and the deprecated
  ``...ClocksThrottleReasons``) answer the scripted bit mask, with the
  ``nvmlClocksEventReason*``/``nvmlClocksThrottleReason*`` bits of nvml.h;
  ``nvmlDeviceGetTotalEccErrors`` answers the scripted counts or NOT_SUPPORTED where
  the GPU has no ECC. Xid events go through an event set as in NVML: a GPU registered
  with ``nvmlDeviceRegisterEvents`` receives the Xids injected with :meth:`FakeNvml.xid`
  *after* it registered (earlier ones are lost, as with the driver), and
  ``nvmlEventSetWait_v2`` returns them one by one, then raises ``NVMLError_Timeout``.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999

_WORDS = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_TIMEOUT: "Timeout",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """Like pynvml's: ``NVMLError(15)`` is an ``NVMLError_GpuIsLost``."""

    _by_code: dict[int, type[NVMLError]] = {}
    value: int

    def __new__(cls, value: int = NVML_ERROR_UNKNOWN) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._by_code.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __str__(self) -> str:
        return _WORDS.get(self.value, f"NVML Error with code {self.value}")


def _subclass(name: str, code: int) -> type[NVMLError]:
    def new(cls: type[NVMLError], *args: Any) -> NVMLError:
        return NVMLError.__new__(cls, code)

    cls = type(name, (NVMLError,), {"__new__": new})
    NVMLError._by_code[code] = cls
    return cls


NVMLError_Uninitialized = _subclass("NVMLError_Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_InvalidArgument = _subclass("NVMLError_InvalidArgument", NVML_ERROR_INVALID_ARGUMENT)
NVMLError_NotSupported = _subclass("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NotFound = _subclass("NVMLError_NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_Timeout = _subclass("NVMLError_Timeout", NVML_ERROR_TIMEOUT)
NVMLError_LibraryNotFound = _subclass("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_FunctionNotFound = _subclass("NVMLError_FunctionNotFound", NVML_ERROR_FUNCTION_NOT_FOUND)
NVMLError_GpuIsLost = _subclass("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)
NVMLError_Unknown = _subclass("NVMLError_Unknown", NVML_ERROR_UNKNOWN)


@dataclass
class FakeMig:
    """One MIG instance in a MIG slot; percents like the real GPM metrics (0..100)."""

    slot: int
    gpu_instance_id: int
    uuid: str
    name: str = "NVIDIA H200 MIG 1g.18gb"
    memory_used: int = 0
    memory_total: int = 18 * 2**30
    sm_util: float = 0.0
    sm_occupancy: float = 0.0
    tensor_util: float = 0.0
    dram_bw_util: float = 0.0


@dataclass
class FakeGpu:
    """One scripted GPU; change attributes between ticks to script a time series.

    ``power_mw=None`` makes the power call NOT_SUPPORTED; ``gpm=False`` is a pre-Hopper
    GPU; ``migs`` not None turns MIG on with those instances; ``gpm_not_supported``
    lists GPM metric ids whose entry comes back NOT_SUPPORTED.
    """

    uuid: str
    name: str = "NVIDIA H200"
    utilization: int = 0
    memory_used: int = 0
    memory_total: int = 141 * 2**30
    power_mw: int | None = 100_000
    temperature: int = 35
    gpm: bool = True
    sm_util: float = 0.0
    sm_occupancy: float = 0.0
    tensor_util: float = 0.0
    dram_bw_util: float = 0.0
    migs: list[FakeMig] | None = None
    mig_slots: int = 7
    gpm_not_supported: set[int] = field(default_factory=set)
    # health: clock event reasons as NVML's bit mask (0x20 | 0x4 = SW thermal + power
    # cap; None: NOT_SUPPORTED); ECC counts as (corrected, uncorrected), None where the
    # board has no ECC; xid_events False: the GPU refuses event registration.
    clocks_event_reasons: int | None = 0
    ecc_volatile: tuple[int, int] | None = (0, 0)
    ecc_aggregate: tuple[int, int] | None = (0, 0)
    xid_events: bool = True


@dataclass(frozen=True)
class _Handle:
    index: int
    slot: int | None = None  # a MIG slot on GPU ``index``


@dataclass
class _Sample:
    """A GPM sample: which device it was taken on, when, and what was true then."""

    device: tuple[int, int | None] | None = None
    seq: int = -1
    percents: dict[int, float] = field(default_factory=dict)
    freed: bool = False


@dataclass
class _Rule:
    call: str
    gpu: int | None
    code: int
    times: int | None


class _Metric:
    def __init__(self) -> None:
        self.metricId = 0
        self.nvmlReturn = NVML_SUCCESS
        self.value = 0.0


class GpmMetricsGet:
    """The request/response struct of ``nvmlGpmMetricsGet`` (the real array holds
    NVML_GPM_METRIC_MAX entries; 32 is plenty for a fake)."""

    def __init__(self) -> None:
        self.version = 0
        self.numMetrics = 0
        self.sample1: Any = None
        self.sample2: Any = None
        self.metrics = [_Metric() for _ in range(32)]


@dataclass
class _EventSet:
    registered: set[int] = field(default_factory=set)  # GPU indexes
    queue: deque[_Struct] = field(default_factory=deque)
    freed: bool = False


class _Struct:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


class FakeNvml:
    """A module-like object; pass it where the exporter takes ``pynvml``."""

    NVMLError = NVMLError
    NVMLError_Uninitialized = NVMLError_Uninitialized
    NVMLError_InvalidArgument = NVMLError_InvalidArgument
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NotFound = NVMLError_NotFound
    NVMLError_Timeout = NVMLError_Timeout
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_FunctionNotFound = NVMLError_FunctionNotFound
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVMLError_Unknown = NVMLError_Unknown
    c_nvmlGpmMetricsGet_t = GpmMetricsGet

    NVML_SUCCESS = NVML_SUCCESS
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_NOT_FOUND = NVML_ERROR_NOT_FOUND
    NVML_ERROR_GPU_IS_LOST = NVML_ERROR_GPU_IS_LOST
    NVML_ERROR_TIMEOUT = NVML_ERROR_TIMEOUT
    NVML_ERROR_UNKNOWN = NVML_ERROR_UNKNOWN
    NVML_TEMPERATURE_GPU = 0
    NVML_DEVICE_MIG_DISABLE = 0
    NVML_DEVICE_MIG_ENABLE = 1
    NVML_GPM_METRICS_GET_VERSION = 1
    NVML_GPM_SUPPORT_VERSION = 1
    # GPM metric ids, as in nvml.h / pynvml
    NVML_GPM_METRIC_GRAPHICS_UTIL = 1
    NVML_GPM_METRIC_SM_UTIL = 2
    NVML_GPM_METRIC_SM_OCCUPANCY = 3
    NVML_GPM_METRIC_INTEGER_UTIL = 4
    NVML_GPM_METRIC_ANY_TENSOR_UTIL = 5
    NVML_GPM_METRIC_DRAM_BW_UTIL = 10
    NVML_GPM_METRIC_MAX = 477
    # ECC (nvml.h: nvmlMemoryErrorType_t, nvmlEccCounterType_t)
    NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
    NVML_VOLATILE_ECC = 0
    NVML_AGGREGATE_ECC = 1
    # events (nvml.h: nvmlEventType*)
    nvmlEventTypeSingleBitEccError = 0x1
    nvmlEventTypeDoubleBitEccError = 0x2
    nvmlEventTypeXidCriticalError = 0x8
    # clock event reasons; the ClocksThrottle names are the deprecated spelling, same bits
    nvmlClocksEventReasonGpuIdle = nvmlClocksThrottleReasonGpuIdle = 0x1
    nvmlClocksEventReasonApplicationsClocksSetting = nvmlClocksThrottleReasonApplicationsClocksSetting = 0x2
    nvmlClocksEventReasonSwPowerCap = nvmlClocksThrottleReasonSwPowerCap = 0x4
    nvmlClocksEventReasonHwSlowdown = nvmlClocksThrottleReasonHwSlowdown = 0x8
    nvmlClocksEventReasonSyncBoost = nvmlClocksThrottleReasonSyncBoost = 0x10
    nvmlClocksEventReasonSwThermalSlowdown = nvmlClocksThrottleReasonSwThermalSlowdown = 0x20
    nvmlClocksEventReasonHwThermalSlowdown = nvmlClocksThrottleReasonHwThermalSlowdown = 0x40
    nvmlClocksEventReasonHwPowerBrakeSlowdown = nvmlClocksThrottleReasonHwPowerBrakeSlowdown = 0x80
    nvmlClocksEventReasonDisplayClockSetting = nvmlClocksThrottleReasonDisplayClockSetting = 0x100

    def __init__(
        self, gpus: list[FakeGpu], *, library_missing: bool = False, driver_lacks_clock_events: bool = False
    ) -> None:
        self.gpus = gpus
        self.library_missing = library_missing
        # a driver before R535: the binding has nvmlDeviceGetCurrentClocksEventReasons,
        # libnvidia-ml does not (FUNCTION_NOT_FOUND); the Throttle spelling still works
        self.driver_lacks_clock_events = driver_lacks_clock_events
        self.event_sets: list[_EventSet] = []
        self.initialized = False
        self.calls: dict[str, int] = {}
        self._rules: list[_Rule] = []
        self._seq = itertools.count()
        self.samples_allocated = 0  # alloc minus free: 0 when nothing leaks

    # -- scripting -------------------------------------------------------------
    def fail(
        self, call: str, *, gpu: int | None = None, code: int = NVML_ERROR_GPU_IS_LOST, times: int | None = None
    ) -> None:
        """Make ``call`` (``"*"`` for every device call) raise ``NVMLError(code)`` on
        GPU ``gpu`` (None: any GPU), ``times`` times (None: until :meth:`heal`)."""
        self._rules.append(_Rule(call, gpu, code, times))

    def heal(self) -> None:
        self._rules.clear()

    def xid(self, gpu: int, xid: int, *, gpu_instance_id: int | None = None) -> int:
        """The driver reports Xid ``xid`` on GPU ``gpu``: every event set in which that
        GPU is registered receives it. Returns how many sets did (0: nobody listened)."""
        event = _Struct(
            device=_Handle(gpu),
            eventType=self.nvmlEventTypeXidCriticalError,
            eventData=xid,
            gpuInstanceId=0xFFFFFFFF if gpu_instance_id is None else gpu_instance_id,
            computeInstanceId=0xFFFFFFFF,
        )
        listening = [s for s in self.event_sets if gpu in s.registered and not s.freed]
        for event_set in listening:
            event_set.queue.append(event)
        return len(listening)

    def _enter(self, call: str, handle: _Handle | None = None) -> None:
        self.calls[call] = self.calls.get(call, 0) + 1
        if call != "nvmlInit" and not self.initialized:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        for rule in self._rules:
            if rule.call not in (call, "*") or rule.times == 0:
                continue
            if rule.gpu is not None and (handle is None or handle.index != rule.gpu):
                continue
            if rule.times is not None:
                rule.times -= 1
            raise NVMLError(rule.code)

    def _gpu(self, handle: _Handle) -> FakeGpu:
        if not isinstance(handle, _Handle) or not 0 <= handle.index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return self.gpus[handle.index]

    def _device(self, handle: _Handle) -> FakeGpu | FakeMig:
        gpu = self._gpu(handle)
        if handle.slot is None:
            return gpu
        for mig in gpu.migs or []:
            if mig.slot == handle.slot:
                return mig
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)

    # -- library ---------------------------------------------------------------
    def nvmlInit(self) -> None:
        self._enter("nvmlInit")
        if self.library_missing:
            raise NVMLError(NVML_ERROR_LIBRARY_NOT_FOUND)
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.initialized = False

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        handle = _Handle(index)
        self._enter("nvmlDeviceGetHandleByIndex", handle)
        self._gpu(handle)
        return handle

    # -- readings ----------------------------------------------------------------
    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        self._enter("nvmlDeviceGetUUID", handle)
        return self._device(handle).uuid

    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        self._enter("nvmlDeviceGetName", handle)
        return self._device(handle).name

    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> _Struct:
        self._enter("nvmlDeviceGetUtilizationRates", handle)
        gpu = self._gpu(handle)
        if handle.slot is not None or gpu.migs is not None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return _Struct(gpu=gpu.utilization, memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle, version: int | None = None) -> _Struct:
        self._enter("nvmlDeviceGetMemoryInfo", handle)
        dev = self._device(handle)
        return _Struct(total=dev.memory_total, used=dev.memory_used, free=dev.memory_total - dev.memory_used)

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetPowerUsage", handle)
        gpu = self._gpu(handle)
        if gpu.power_mw is None or handle.slot is not None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return gpu.power_mw

    def nvmlDeviceGetTemperature(self, handle: _Handle, sensor: int) -> int:
        self._enter("nvmlDeviceGetTemperature", handle)
        if sensor != self.NVML_TEMPERATURE_GPU:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return self._gpu(handle).temperature

    # -- health ------------------------------------------------------------------
    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetCurrentClocksEventReasons", handle)
        if self.driver_lacks_clock_events:
            raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)
        return self._clock_mask(handle)

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetCurrentClocksThrottleReasons", handle)
        return self._clock_mask(handle)

    def _clock_mask(self, handle: _Handle) -> int:
        gpu = self._gpu(handle)
        if gpu.clocks_event_reasons is None or handle.slot is not None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return gpu.clocks_event_reasons

    def nvmlDeviceGetTotalEccErrors(self, handle: _Handle, error_type: int, counter_type: int) -> int:
        self._enter("nvmlDeviceGetTotalEccErrors", handle)
        gpu = self._gpu(handle)
        if error_type not in (0, 1) or counter_type not in (0, 1):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        counts = gpu.ecc_volatile if counter_type == self.NVML_VOLATILE_ECC else gpu.ecc_aggregate
        if counts is None or handle.slot is not None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return counts[error_type]

    # -- events --------------------------------------------------------------------
    def nvmlEventSetCreate(self) -> _EventSet:
        self._enter("nvmlEventSetCreate")
        event_set = _EventSet()
        self.event_sets.append(event_set)
        return event_set

    def nvmlDeviceRegisterEvents(self, handle: _Handle, event_types: int, event_set: _EventSet) -> None:
        self._enter("nvmlDeviceRegisterEvents", handle)
        gpu = self._gpu(handle)
        if event_set.freed or handle.slot is not None:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        if not gpu.xid_events or not event_types & self.nvmlEventTypeXidCriticalError:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        event_set.registered.add(handle.index)

    def nvmlEventSetWait_v2(self, event_set: _EventSet, timeout_ms: int) -> _Struct:
        """Never sleeps: an empty queue is a timeout at once (the exporter asks for 1 ms)."""
        self._enter("nvmlEventSetWait_v2")
        if event_set.freed:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        try:
            return event_set.queue.popleft()
        except IndexError:
            raise NVMLError(NVML_ERROR_TIMEOUT) from None

    def nvmlEventSetFree(self, event_set: _EventSet) -> None:
        self._enter("nvmlEventSetFree")
        if event_set.freed:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        event_set.freed = True

    # -- MIG ---------------------------------------------------------------------
    def nvmlDeviceGetMigMode(self, handle: _Handle) -> list[int]:
        self._enter("nvmlDeviceGetMigMode", handle)
        mode = int(self._gpu(handle).migs is not None)
        return [mode, mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetMaxMigDeviceCount", handle)
        return self._gpu(handle).mig_slots

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: _Handle, index: int) -> _Handle:
        self._enter("nvmlDeviceGetMigDeviceHandleByIndex", handle)
        gpu = self._gpu(handle)
        if not any(m.slot == index for m in gpu.migs or []):
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return _Handle(handle.index, index)

    def nvmlDeviceGetGpuInstanceId(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetGpuInstanceId", handle)
        dev = self._device(handle)
        if not isinstance(dev, FakeMig):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return dev.gpu_instance_id

    # -- GPM ---------------------------------------------------------------------
    def nvmlGpmQueryDeviceSupport(self, handle: _Handle) -> _Struct:
        self._enter("nvmlGpmQueryDeviceSupport", handle)
        return _Struct(version=1, isSupportedDevice=int(self._gpu(handle).gpm))

    def nvmlGpmSampleAlloc(self) -> _Sample:
        self._enter("nvmlGpmSampleAlloc")
        self.samples_allocated += 1
        return _Sample()

    def nvmlGpmSampleFree(self, sample: _Sample) -> None:
        self._enter("nvmlGpmSampleFree")
        if sample.freed:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        sample.freed = True
        self.samples_allocated -= 1

    def _take(self, device: FakeGpu | FakeMig, key: tuple[int, int | None], sample: _Sample) -> _Sample:
        if sample.freed:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        sample.device = key
        sample.seq = next(self._seq)
        sample.percents = {
            self.NVML_GPM_METRIC_SM_UTIL: device.sm_util,
            self.NVML_GPM_METRIC_SM_OCCUPANCY: device.sm_occupancy,
            self.NVML_GPM_METRIC_ANY_TENSOR_UTIL: device.tensor_util,
            self.NVML_GPM_METRIC_DRAM_BW_UTIL: device.dram_bw_util,
        }
        return sample

    def nvmlGpmSampleGet(self, handle: _Handle, sample: _Sample) -> _Sample:
        self._enter("nvmlGpmSampleGet", handle)
        gpu = self._gpu(handle)
        if not gpu.gpm or gpu.migs is not None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return self._take(gpu, (handle.index, None), sample)

    def nvmlGpmMigSampleGet(self, handle: _Handle, gpu_instance_id: int, sample: _Sample) -> _Sample:
        self._enter("nvmlGpmMigSampleGet", handle)
        gpu = self._gpu(handle)
        if not gpu.gpm:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        for mig in gpu.migs or []:
            if mig.gpu_instance_id == gpu_instance_id:
                return self._take(mig, (handle.index, gpu_instance_id), sample)
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    def nvmlGpmMetricsGet(self, request: GpmMetricsGet) -> GpmMetricsGet:
        self._enter("nvmlGpmMetricsGet")
        s1, s2 = request.sample1, request.sample2
        if request.version != self.NVML_GPM_METRICS_GET_VERSION or not (0 < request.numMetrics <= len(request.metrics)):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        if s1.freed or s2.freed or s1.device is None or s1.device != s2.device or not s1.seq < s2.seq:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        gpu = self.gpus[s2.device[0]]
        for metric in request.metrics[: request.numMetrics]:
            if metric.metricId in gpu.gpm_not_supported or metric.metricId not in s2.percents:
                metric.nvmlReturn, metric.value = NVML_ERROR_NOT_SUPPORTED, 0.0
            else:
                metric.nvmlReturn, metric.value = NVML_SUCCESS, float(s2.percents[metric.metricId])
        return request


def h200s(n: int, *, prefix: str = "GPU-00000000-0000-0000-0000-0000000000") -> list[FakeGpu]:
    """``n`` idle H200s with UUIDs ``GPU-...00`` .. ``GPU-...{n-1:02d}``."""
    return [FakeGpu(uuid=f"{prefix}{i:02d}") for i in range(n)]
