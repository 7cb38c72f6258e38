"""GPM (GPU Performance Monitoring) readings from consecutive sampling ticks.

GPM metrics are rates between two samples. Rather than sleeping inside a tick
between two samples, the tracker keeps each device's sample from the previous tick
and pairs it with this tick's: with a 5 s interval every reading averages the last
5 s, and a tick costs one sample per device instead of two plus a sleep. The first
tick after start (or after a device appears) therefore has no GPM values: absent,
never 0.

Why GPM at all, measured on an H200: a loop of tiny kernels reads 17 % plain
utilization while the SMs are 0.26 % busy; ``sm_active`` tells the two apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from exporter.nvml import GpmPercents, Nvml


@dataclass(frozen=True)
class GpmRatios:
    """GPM metrics as ratios 0..1 (NVML's percent / 100, clamped), None where absent."""

    sm_active: float | None
    sm_occupancy: float | None
    tensor_active: float | None
    dram_bandwidth: float | None

    @classmethod
    def from_percents(cls, p: GpmPercents) -> GpmRatios:
        return cls(_ratio(p.sm_util), _ratio(p.sm_occupancy), _ratio(p.tensor_util), _ratio(p.dram_bw_util))


def _ratio(percent: float | None) -> float | None:
    """Percent to a 0..1 ratio: 78.0 -> 0.78. GPM can overshoot 100 by rounding
    (100.4 seen on short windows), clamped so the contract's 0..1 holds."""
    if percent is None or percent != percent:  # NaN drops out
        return None
    return min(1.0, max(0.0, percent / 100.0))


class GpmTracker:
    """One held GPM sample per device key (a GPU's UUID, or a MIG instance's)."""

    def __init__(self, nvml: Nvml) -> None:
        self._nvml = nvml
        self._held: dict[str, Any] = {}

    def advance(self, key: str, handle: Any, gpu_instance_id: int | None = None) -> GpmRatios | None:
        """Take this tick's sample for ``key``; return the ratios since the previous one.

        None on the first tick for a key. Raises :class:`~exporter.errors.NvmlError`
        when the sample or the metrics fail; the held sample is then dropped, so a
        flaky device restarts its pairing instead of averaging over a gap.
        """
        older = self._held.pop(key, None)
        try:
            newer = self._nvml.gpm_sample(handle, gpu_instance_id)
        except Exception:
            if older is not None:
                self._nvml.gpm_free(older)
            raise
        self._held[key] = newer
        if older is None:
            return None
        try:
            return GpmRatios.from_percents(self._nvml.gpm_percents(older, newer))
        finally:
            self._nvml.gpm_free(older)

    def retain(self, keys: Iterable[str]) -> None:
        """Free the samples of devices not seen this tick (a GPU lost, MIG reconfigured)."""
        keep = set(keys)
        for key in [k for k in self._held if k not in keep]:
            self._nvml.gpm_free(self._held.pop(key))

    def close(self) -> None:
        self.retain(())

    @property
    def held(self) -> int:
        """How many samples are allocated now (the leak check in tests reads this)."""
        return len(self._held)
