"""Read every GPU (and MIG instance) on the node once per sampling tick.

One GPU that errors is reported ``up=False`` with the labels it had while it
answered, counted once under ``nvml`` for that tick, and the others keep reporting:
an 8-GPU node with GPU 3 lost exports 7 GPUs up and ``gpu_up{gpu="3"} 0``. A reading
the board does not offer (power on some boards, utilization under MIG) is simply
left out and is not an error.

Health rides along on each reading (:class:`~exporter.snapshot.GpuHealth`): clock
event reasons and ECC counts are read with the other values, Xid events are drained
from NVML's event set once per tick (:mod:`exporter.health`). A GPU that is down, or
that reported a fatal Xid, is ``healthy=False``, and so are its MIG instances. A health
reading that fails leaves only that reading out (counted under ``nvml``); the GPU
stays up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from exporter.errors import NvmlError, NvmlUnavailable
from exporter.gpm import GpmRatios, GpmTracker
from exporter.health import XidWatcher, unhealthy_reason
from exporter.nvml import Nvml
from exporter.snapshot import GpuHealth, GpuReading


@dataclass(frozen=True)
class GpuSample:
    """What one tick learnt from NVML.

    ``errors`` counts failures of this tick by kind (``nvml``, ``gpm``); ``problems``
    names each failing thing (``gpu 3``) with its reason, for logging on a change of
    state; ``nvml_error`` is set when NVML cannot be used at all.
    """

    readings: tuple[GpuReading, ...] = ()
    errors: Mapping[str, int] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)
    nvml_error: str | None = None


@dataclass(frozen=True)
class _Identity:
    uuid: str
    model: str
    mig: str = ""


class GpuSampler:
    """Samples GPUs through a ``pynvml``-like module given at construction.

    ``lib`` is the real ``pynvml`` (:func:`exporter.nvml.load_pynvml`) or a fake with
    the same names; ``gpm=False`` turns GPM off even where supported.
    """

    def __init__(self, lib: Any, *, gpm: bool = True) -> None:
        self._nvml = Nvml(lib)
        self._gpm = GpmTracker(self._nvml)
        self._use_gpm = gpm
        self._initialized = False
        # Labels last seen per GPU index and per (index, MIG slot): a GPU that stops
        # answering keeps its uuid/model labels on its gpu_up 0 series.
        self._gpus: dict[int, _Identity] = {}
        self._migs: dict[tuple[int, int], _Identity] = {}
        self._gpm_support: dict[str, bool] = {}
        self._xids = XidWatcher(self._nvml)

    def sample(self) -> GpuSample:
        """One pass over all devices. Retries ``nvmlInit`` each tick until it works."""
        if not self._initialized:
            try:
                self._nvml.init()
            except NvmlUnavailable as exc:
                reason = f"NVML unavailable: {exc.message} (NVML error {exc.code})"
                return GpuSample(problems={"library": reason}, nvml_error=reason)
            self._initialized = True
        errors: Counter[str] = Counter()
        problems: dict[str, str] = {}
        try:
            self._xids.drain()  # Xids since the last tick, before this tick's health is judged
        except NvmlError as exc:
            errors["nvml"] += 1
            problems["xid events"] = str(exc)
        try:
            count = self._nvml.device_count()
        except NvmlError as exc:
            reason = f"NVML device count failed: {exc}"
            errors["nvml"] += 1
            down = [self._down(i, ident) for i, ident in sorted(self._gpus.items())]
            return GpuSample(tuple(down), dict(errors), {"library": reason}, nvml_error=reason)
        readings: list[GpuReading] = []
        gpm_keys: list[str] = []
        for index in range(count):
            readings.extend(self._read_gpu(index, errors, problems, gpm_keys))
        self._gpm.retain(gpm_keys)
        return GpuSample(tuple(readings), dict(errors), problems)

    # -- one GPU ---------------------------------------------------------------
    def _read_gpu(
        self, index: int, errors: Counter[str], problems: dict[str, str], gpm_keys: list[str]
    ) -> list[GpuReading]:
        nvml = self._nvml
        try:
            handle = nvml.device(index)
            ident = _Identity(nvml.uuid(handle), nvml.name(handle))
            self._gpus[index] = ident
            utilization = nvml.utilization_ratio(handle)
            used, total = nvml.memory_bytes(handle)
            power = nvml.power_watts(handle)
            temperature = nvml.temperature_celsius(handle)
            mig = nvml.mig_enabled(handle)
            mig_handles = nvml.mig_devices(handle) if mig else []
            slots = {slot for slot, _ in mig_handles}
            for gone in [key for key in self._migs if key[0] == index and key[1] not in slots]:
                del self._migs[gone]  # MIG reconfigured: forget instances that no longer exist
        except NvmlError as exc:
            errors["nvml"] += 1
            problems[f"gpu {index}"] = str(exc)
            known = self._gpus.get(index, _Identity("", ""))
            down = [self._down(index, known)]
            down += [self._down(index, m) for (i, _), m in sorted(self._migs.items()) if i == index]
            return down
        # Under MIG, GPM is read per instance (nvmlGpmMigSampleGet), not for the whole GPU.
        gpm = None if mig else self._gpm_ratios(ident.uuid, handle, None, f"gpu {index}", errors, problems, gpm_keys)
        whole = GpuReading(
            index,
            ident.uuid,
            ident.model,
            utilization_ratio=utilization,
            memory_used_bytes=used,
            memory_total_bytes=total,
            power_watts=power,
            temperature_celsius=temperature,
            health=self._health(index, ident.uuid, handle, errors, problems),
        )
        instances = [self._read_mig(index, handle, slot, h, errors, problems, gpm_keys) for slot, h in mig_handles]
        parent_health = _instance_health(whole.health)
        return [_with_gpm(whole, gpm)] + [replace(m, health=parent_health) if m.up else m for m in instances]

    def _down(self, index: int, ident: _Identity) -> GpuReading:
        """A GPU (or MIG instance) that did not answer: unhealthy, Xids still counted
        (Xid 79, fallen off the bus, arrives exactly when the GPU stops answering)."""
        xids = self._xids.state(ident.uuid)
        health = GpuHealth(
            healthy=False,
            reason=unhealthy_reason(False, xids),
            xid_errors=xids.counts if xids.watched else None,
        )
        return GpuReading(index, ident.uuid, ident.model, ident.mig, up=False, health=health)

    def _health(self, index: int, uuid: str, handle: Any, errors: Counter[str], problems: dict[str, str]) -> GpuHealth:
        """Clock event reasons, ECC counts and Xids of a GPU that answered this tick."""
        nvml = self._nvml
        try:
            self._xids.watch(uuid, handle)
        except NvmlError as exc:
            errors["nvml"] += 1
            problems[f"xid events gpu {index}"] = str(exc)
        clocks = ecc = None
        try:
            clocks = nvml.clock_event_reasons(handle)
        except NvmlError as exc:
            errors["nvml"] += 1
            problems[f"clock event reasons gpu {index}"] = str(exc)
        try:
            ecc = nvml.ecc_errors(handle)
        except NvmlError as exc:
            errors["nvml"] += 1
            problems[f"ecc gpu {index}"] = str(exc)
        xids = self._xids.state(uuid)
        reason = unhealthy_reason(True, xids)
        if reason is not None:
            problems[f"gpu {index} unhealthy"] = reason
        return GpuHealth(
            healthy=reason is None,
            reason=reason,
            clock_event_reasons=clocks,
            xid_errors=xids.counts if xids.watched else None,
            ecc_errors=ecc if ecc is not None else GpuHealth().ecc_errors,
        )

    def _read_mig(
        self,
        index: int,
        parent: Any,
        slot: int,
        handle: Any,
        errors: Counter[str],
        problems: dict[str, str],
        gpm_keys: list[str],
    ) -> GpuReading:
        """One MIG instance: its own UUID (``MIG-...``), frame buffer and GPM metrics.

        Power and temperature belong to the whole board and stay on the parent's series.
        """
        nvml = self._nvml
        where = f"gpu {index} mig slot {slot}"
        try:
            gi = nvml.gpu_instance_id(handle)
            ident = _Identity(nvml.uuid(handle), nvml.name(handle), str(gi))
            self._migs[(index, slot)] = ident
            used, total = nvml.memory_bytes(handle)
        except NvmlError as exc:
            errors["nvml"] += 1
            problems[where] = str(exc)
            return self._down(index, self._migs.get((index, slot), _Identity("", "", "")))
        gpm = self._gpm_ratios(ident.uuid, parent, gi, where, errors, problems, gpm_keys)
        reading = GpuReading(
            index, ident.uuid, ident.model, ident.mig, memory_used_bytes=used, memory_total_bytes=total
        )
        return _with_gpm(reading, gpm)

    def _gpm_ratios(
        self,
        key: str,
        handle: Any,
        gpu_instance_id: int | None,
        where: str,
        errors: Counter[str],
        problems: dict[str, str],
        gpm_keys: list[str],
    ) -> GpmRatios | None:
        """GPM ratios for ``key`` (a GPU or MIG UUID) on the GPU ``handle``; support is
        asked once per device and remembered (it is a property of the chip)."""
        if not self._use_gpm:
            return None
        try:
            if key not in self._gpm_support:
                self._gpm_support[key] = self._nvml.gpm_supported(handle)
            if not self._gpm_support[key]:
                return None
            gpm_keys.append(key)
            return self._gpm.advance(key, handle, gpu_instance_id)
        except NvmlError as exc:
            errors["gpm"] += 1
            problems[f"gpm {where}"] = str(exc)
            return None

    def close(self) -> None:
        """Free held GPM samples and shut NVML down (best effort)."""
        if self._initialized:
            self._gpm.close()
            self._xids.close()
            try:
                self._nvml.shutdown()
            except NvmlError:
                pass
            self._initialized = False


def _with_gpm(reading: GpuReading, r: GpmRatios | None) -> GpuReading:
    if r is None:
        return reading
    return replace(
        reading,
        sm_active_ratio=r.sm_active,
        sm_occupancy_ratio=r.sm_occupancy,
        tensor_active_ratio=r.tensor_active,
        dram_bandwidth_ratio=r.dram_bandwidth,
    )


def _instance_health(gpu: GpuHealth | None) -> GpuHealth | None:
    """A MIG instance is as healthy as its GPU; the readings stay on the GPU's series."""
    return None if gpu is None else GpuHealth(healthy=gpu.healthy, reason=gpu.reason)


def probe(lib: Any) -> str | None:
    """Why NVML cannot be used on this machine, or None when it can (init + shutdown)."""
    nvml = Nvml(lib)
    try:
        nvml.init()
    except NvmlUnavailable as exc:
        return f"NVML unavailable: {exc.message} (NVML error {exc.code})"
    try:
        nvml.shutdown()
    except NvmlError:
        pass
    return None
