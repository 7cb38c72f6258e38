"""GPU sampling through NVML, faked only at the pynvml boundary (tests/fakes/nvml.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exporter.gpus import GpuSampler, probe
from exporter.snapshot import GpuReading
from simulations.cluster.nvml import (
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_TIMEOUT,
    FakeGpu,
    FakeMig,
    FakeNvml,
    h200s,
)

UUID0, UUID1 = "GPU-00000000-0000-0000-0000-000000000000", "GPU-00000000-0000-0000-0000-000000000001"


def ticks(fake: FakeNvml, n: int, *, gpm: bool = True) -> list[tuple[GpuReading, ...]]:
    sampler = GpuSampler(fake, gpm=gpm)
    try:
        return [sampler.sample().readings for _ in range(n)]
    finally:
        sampler.close()


def by_uuid(readings: tuple[GpuReading, ...]) -> dict[str, GpuReading]:
    return {r.uuid: r for r in readings}


# -- plain readings and unit conversion ---------------------------------------------
Script = Callable[[FakeGpu], None]


def _set(**kw: object) -> Script:
    def apply(g: FakeGpu) -> None:
        for k, v in kw.items():
            setattr(g, k, v)

    return apply


@pytest.mark.parametrize(
    "script, field, expected",
    [
        pytest.param(
            _set(utilization=97), "utilization_ratio", 0.97, id="utilization-percent-to-ratio"
        ),  # 97 % -> 0.97
        pytest.param(_set(utilization=0), "utilization_ratio", 0.0, id="idle-is-a-real-zero"),
        pytest.param(_set(power_mw=312_000), "power_watts", 312.0, id="power-mW-to-W"),  # 312000 mW / 1000
        pytest.param(_set(power_mw=None), "power_watts", None, id="power-not-supported-absent"),
        pytest.param(_set(temperature=71), "temperature_celsius", 71.0, id="temperature"),
        pytest.param(
            _set(memory_used=40 * 2**30), "memory_used_bytes", 42_949_672_960, id="memory-used-bytes"
        ),  # 40 GiB
        pytest.param(_set(), "memory_total_bytes", 141 * 2**30, id="memory-total-bytes"),
        pytest.param(_set(sm_util=78.0), "sm_active_ratio", 0.78, id="gpm-sm-active"),  # 78 % of SMs busy
        pytest.param(_set(sm_occupancy=35.5), "sm_occupancy_ratio", 0.355, id="gpm-occupancy"),
        pytest.param(_set(tensor_util=60.0), "tensor_active_ratio", 0.6, id="gpm-tensor"),
        pytest.param(_set(dram_bw_util=12.0), "dram_bandwidth_ratio", 0.12, id="gpm-dram"),
        pytest.param(_set(sm_util=100.4), "sm_active_ratio", 1.0, id="gpm-overshoot-clamped"),
        pytest.param(_set(sm_util=0.26), "sm_active_ratio", 0.0026, id="tiny-kernels-read-low"),  # H200: 0.26 % busy
        pytest.param(_set(gpm=False, sm_util=50.0), "sm_active_ratio", None, id="pre-hopper-no-gpm-absent"),
        pytest.param(
            _set(gpm_not_supported={3}, sm_occupancy=20.0), "sm_occupancy_ratio", None, id="one-gpm-metric-unsupported"
        ),
        pytest.param(
            _set(gpm_not_supported={3}, sm_util=20.0), "sm_active_ratio", 0.2, id="other-gpm-metrics-still-read"
        ),
    ],
)
def test_reading_after_two_ticks(script: Script, field: str, expected: float | None) -> None:
    fake = FakeNvml(h200s(1))
    script(fake.gpus[0])
    reading = ticks(fake, 2)[-1][0]
    assert reading.up
    got = getattr(reading, field)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_gpm_needs_two_samples_so_the_first_tick_has_none() -> None:
    fake = FakeNvml(h200s(1))
    fake.gpus[0].sm_util = 50.0
    first, second = ticks(fake, 2)
    assert first[0].sm_active_ratio is None  # absent, not 0
    assert second[0].sm_active_ratio == pytest.approx(0.5)


def test_gpm_can_be_turned_off() -> None:
    fake = FakeNvml(h200s(1))
    fake.gpus[0].sm_util = 50.0
    assert ticks(fake, 2, gpm=False)[-1][0].sm_active_ratio is None
    assert "nvmlGpmSampleGet" not in fake.calls


def test_labels_are_index_uuid_and_model() -> None:
    fake = FakeNvml([FakeGpu(uuid="GPU-a", name="NVIDIA H100 80GB HBM3"), FakeGpu(uuid="GPU-b", name="NVIDIA L4")])
    readings = ticks(fake, 1)[0]
    assert [(r.index, r.uuid, r.model, r.mig) for r in readings] == [
        (0, "GPU-a", "NVIDIA H100 80GB HBM3", ""),
        (1, "GPU-b", "NVIDIA L4", ""),
    ]


# -- errors -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetMemoryInfo",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetTemperature",
        "nvmlDeviceGetHandleByIndex",
        "*",
    ],
)
def test_one_gpu_lost_is_down_and_the_others_keep_reporting(call: str) -> None:
    fake = FakeNvml(h200s(3))
    fake.gpus[0].utilization = 40
    sampler = GpuSampler(fake)
    sampler.sample()  # GPU 1 answered once: its labels are known
    fake.fail(call, gpu=1, code=NVML_ERROR_GPU_IS_LOST)
    sample = sampler.sample()
    got = {r.index: r for r in sample.readings}
    assert [got[i].up for i in range(3)] == [True, False, True]
    assert (got[1].uuid, got[1].model) == (UUID1, "NVIDIA H200")  # labels kept while down
    assert got[1].utilization_ratio is None and got[1].memory_used_bytes is None  # nothing reported as 0
    assert got[0].utilization_ratio == pytest.approx(0.4)
    assert sample.errors == {"nvml": 1}  # one per failing GPU per tick
    assert "GPU is lost" in sample.problems["gpu 1"]
    sampler.close()


def test_a_gpu_that_never_answered_is_down_with_empty_labels() -> None:
    fake = FakeNvml(h200s(2))
    fake.fail("nvmlDeviceGetUUID", gpu=0)
    sample = GpuSampler(fake).sample()
    assert [(r.index, r.uuid, r.up) for r in sample.readings] == [(0, "", False), (1, UUID1, True)]


def test_a_transient_error_recovers_on_the_next_tick() -> None:
    fake = FakeNvml(h200s(1))
    fake.fail("nvmlDeviceGetPowerUsage", code=NVML_ERROR_TIMEOUT, times=1)
    sampler = GpuSampler(fake)
    assert [sampler.sample().readings[0].up for _ in range(3)] == [False, True, True]


def test_gpm_error_counts_gpm_and_keeps_the_gpu_up() -> None:
    fake = FakeNvml(h200s(1))
    fake.gpus[0].sm_util = 30.0
    sampler = GpuSampler(fake)
    sampler.sample()
    fake.fail("nvmlGpmSampleGet", times=1)
    failed = sampler.sample()
    assert failed.readings[0].up and failed.readings[0].sm_active_ratio is None
    assert failed.errors == {"gpm": 1}
    # Pairing restarts: one tick to take a sample, the next has a value again.
    assert sampler.sample().readings[0].sm_active_ratio is None
    assert sampler.sample().readings[0].sm_active_ratio == pytest.approx(0.3)
    sampler.close()
    assert fake.samples_allocated == 0


def test_device_count_failure_marks_every_known_gpu_down() -> None:
    fake = FakeNvml(h200s(2))
    sampler = GpuSampler(fake)
    sampler.sample()
    fake.fail("nvmlDeviceGetCount", code=NVML_ERROR_GPU_IS_LOST)
    sample = sampler.sample()
    assert [(r.uuid, r.up) for r in sample.readings] == [(UUID0, False), (UUID1, False)]
    assert sample.errors == {"nvml": 1} and sample.nvml_error is not None


def test_library_missing_reports_the_reason_and_retries_init_each_tick() -> None:
    fake = FakeNvml(h200s(1), library_missing=True)
    sampler = GpuSampler(fake)
    sample = sampler.sample()
    assert (
        sample.readings == () and sample.nvml_error == "NVML unavailable: NVML Shared Library Not Found (NVML error 12)"
    )
    assert probe(fake) == sample.nvml_error
    fake.library_missing = False  # the driver came up
    assert sampler.sample().nvml_error is None and probe(fake) is None


# -- MIG ----------------------------------------------------------------------------
def test_mig_instances_are_reported_per_instance() -> None:
    gpu = FakeGpu(
        uuid="GPU-m",
        migs=[
            FakeMig(slot=0, gpu_instance_id=7, uuid="MIG-a", memory_used=2**30, sm_util=50.0),
            FakeMig(
                slot=4,
                gpu_instance_id=9,
                uuid="MIG-b",
                name="NVIDIA H200 MIG 3g.71gb",
                memory_total=71 * 2**30,
                sm_util=10.0,
            ),
        ],
    )
    fake = FakeNvml([gpu])
    readings = by_uuid(ticks(fake, 2)[-1])
    whole, a, b = readings["GPU-m"], readings["MIG-a"], readings["MIG-b"]
    assert (whole.mig, a.mig, b.mig) == ("", "7", "9")  # mig label = GPU-instance id
    assert a.index == b.index == 0
    assert whole.utilization_ratio is None  # NVML has no plain utilization under MIG
    assert whole.power_watts == 100.0 and a.power_watts is None  # board-level readings stay on the GPU
    assert (a.memory_used_bytes, b.memory_total_bytes) == (2**30, 71 * 2**30)
    assert a.sm_active_ratio == pytest.approx(0.5) and b.sm_active_ratio == pytest.approx(0.1)
    assert whole.sm_active_ratio is None  # GPM under MIG is per instance
    assert b.model == "NVIDIA H200 MIG 3g.71gb"


def test_a_failing_mig_instance_is_down_alone() -> None:
    fake = FakeNvml([FakeGpu(uuid="GPU-m", migs=[FakeMig(0, 1, "MIG-a"), FakeMig(1, 2, "MIG-b")])])
    sampler = GpuSampler(fake)
    sampler.sample()
    fake.fail("nvmlDeviceGetGpuInstanceId", times=1)  # the first instance read this tick fails
    got = by_uuid(sampler.sample().readings)
    assert (got["GPU-m"].up, got["MIG-a"].up, got["MIG-b"].up) == (True, False, True)
    assert got["MIG-a"].mig == "1"  # labels remembered


# -- resources ----------------------------------------------------------------------
def test_gpm_samples_do_not_leak_when_gpus_come_and_go() -> None:
    fake = FakeNvml(h200s(4))
    sampler = GpuSampler(fake)
    for _ in range(3):
        sampler.sample()
    assert fake.samples_allocated == 4  # one held per GPU between ticks
    fake.gpus = fake.gpus[:2]  # two GPUs vanish
    sampler.sample()
    assert fake.samples_allocated == 2
    sampler.close()
    assert fake.samples_allocated == 0 and not fake.initialized


def test_mig_reconfiguration_forgets_removed_instances() -> None:
    gpu = FakeGpu(uuid="GPU-m", migs=[FakeMig(0, 1, "MIG-a"), FakeMig(1, 2, "MIG-b")])
    fake = FakeNvml([gpu])
    sampler = GpuSampler(fake)
    sampler.sample()
    gpu.migs = [FakeMig(0, 3, "MIG-c")]  # re-partitioned: one bigger instance
    assert sorted(by_uuid(sampler.sample().readings)) == ["GPU-m", "MIG-c"]
    fake.fail("nvmlDeviceGetMemoryInfo", gpu=0)
    down = sampler.sample().readings  # the GPU fails: it and its *current* instance are down
    assert [(r.uuid, r.up) for r in down] == [("GPU-m", False), ("MIG-c", False)]
    sampler.close()
    assert fake.samples_allocated == 0
