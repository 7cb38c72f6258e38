"""GPU health through NVML, faked only at the pynvml boundary (simulations/cluster/nvml.py):
clock event reasons, ECC counts, Xid events from the event set, and gpu_healthy."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter import device_check
from exporter.collector import SnapshotCollector
from exporter.config import ExporterConfig
from exporter.gpus import GpuSampler
from exporter.health import FATAL_XIDS, MAX_EVENTS_PER_TICK
from exporter.service import Exporter
from exporter.snapshot import GpuHealth, GpuReading, Holder, Snapshot, frozen_map
from simulations.cluster.nvml import (
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_NOT_SUPPORTED,
    NVML_ERROR_UNKNOWN,
    FakeGpu,
    FakeMig,
    FakeNvml,
    h200s,
)

UUID0 = "GPU-00000000-0000-0000-0000-000000000000"


def health(fake: FakeNvml, ticks: int = 1) -> GpuHealth:
    sampler = GpuSampler(fake, gpm=False)
    try:
        for _ in range(ticks):
            reading = sampler.sample().readings[0]
    finally:
        sampler.close()
    assert reading.health is not None
    return reading.health


# -- clock event reasons ------------------------------------------------------------
@pytest.mark.parametrize(
    "mask, held",
    [
        pytest.param(0x0, set(), id="none"),
        pytest.param(0x1, {"gpu_idle"}, id="idle"),
        pytest.param(0x24, {"sw_power_cap", "sw_thermal_slowdown"}, id="power-cap-and-sw-thermal"),  # 0x20 | 0x4
        pytest.param(0x48, {"hw_slowdown", "hw_thermal_slowdown"}, id="hw-thermal"),  # 0x40 | 0x8
        pytest.param(0x88, {"hw_slowdown", "hw_power_brake_slowdown"}, id="power-brake"),  # 0x80 | 0x8
        pytest.param(0x112, {"applications_clocks_setting", "sync_boost", "display_clock_setting"}, id="settings"),
    ],
)
def test_clock_event_reasons_decode_the_mask(mask: int, held: set[str]) -> None:
    fake = FakeNvml([FakeGpu(UUID0, clocks_event_reasons=mask)])
    reasons = health(fake).clock_event_reasons
    assert reasons is not None and len(reasons) == 9  # every reason reported, 0 or 1
    assert {r for r, on in reasons.items() if on} == held


def test_clock_event_reasons_absent_where_not_supported() -> None:
    assert health(FakeNvml([FakeGpu(UUID0, clocks_event_reasons=None)])).clock_event_reasons is None


def test_an_old_driver_falls_back_to_the_throttle_reasons_call() -> None:
    # nvidia-ml-py has nvmlDeviceGetCurrentClocksEventReasons; a driver before R535 answers FUNCTION_NOT_FOUND
    fake = FakeNvml([FakeGpu(UUID0, clocks_event_reasons=0x20)], driver_lacks_clock_events=True)
    reasons = health(fake).clock_event_reasons
    assert reasons is not None and reasons["sw_thermal_slowdown"] and not reasons["sw_power_cap"]


class OldBinding(FakeNvml):
    """An nvidia-ml-py from before the ClocksEvent names: only the Throttle spelling."""

    @property
    def nvmlDeviceGetCurrentClocksEventReasons(self) -> None:  # type: ignore[override]
        raise AttributeError("nvmlDeviceGetCurrentClocksEventReasons")


def test_an_old_binding_uses_the_throttle_reasons_call() -> None:
    reasons = health(OldBinding([FakeGpu(UUID0, clocks_event_reasons=0x40)])).clock_event_reasons
    assert reasons is not None and reasons["hw_thermal_slowdown"]


# -- ECC ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "volatile, aggregate, expected",
    [
        pytest.param(
            (3, 1), (10, 2),
            {("corrected", "volatile"): 3, ("uncorrected", "volatile"): 1,
             ("corrected", "aggregate"): 10, ("uncorrected", "aggregate"): 2},
            id="all-four",
        ),
        pytest.param((0, 0), None, {("corrected", "volatile"): 0, ("uncorrected", "volatile"): 0}, id="no-aggregate"),
        pytest.param(None, None, {}, id="no-ecc-is-absent-not-zero"),
    ],
)  # fmt: skip
def test_ecc_counts(
    volatile: tuple[int, int] | None, aggregate: tuple[int, int] | None, expected: dict[tuple[str, str], int]
) -> None:
    fake = FakeNvml([FakeGpu(UUID0, ecc_volatile=volatile, ecc_aggregate=aggregate)])
    assert dict(health(fake).ecc_errors) == expected


def test_a_failing_health_read_leaves_it_out_and_keeps_the_gpu_up() -> None:
    fake = FakeNvml([FakeGpu(UUID0, ecc_volatile=(5, 0), clocks_event_reasons=0x4)])
    fake.fail("nvmlDeviceGetTotalEccErrors", code=NVML_ERROR_UNKNOWN)
    sample = GpuSampler(fake).sample()
    (reading,) = sample.readings
    assert reading.up and reading.health is not None and reading.health.healthy
    assert dict(reading.health.ecc_errors) == {}  # left out, never 0
    assert reading.health.clock_event_reasons is not None  # the other reading still there
    assert sample.errors == {"nvml": 1} and "ecc gpu 0" in sample.problems


# -- Xid events ---------------------------------------------------------------------
def test_xids_are_counted_per_gpu_and_xid() -> None:
    fake = FakeNvml(h200s(2))
    sampler = GpuSampler(fake, gpm=False)
    first = sampler.sample()  # registers both GPUs in the event set
    assert [r.health.xid_errors for r in first.readings if r.health] == [{}, {}]  # watched, none yet
    for xid in (13, 13, 31):
        assert fake.xid(1, xid) == 1
    got = sampler.sample().readings
    assert [dict(r.health.xid_errors or {}) for r in got if r.health] == [{}, {13: 2, 31: 1}]
    assert all(r.health and r.health.healthy for r in got)  # application errors: the GPU still serves
    sampler.close()
    assert all(s.freed for s in fake.event_sets)


def test_an_xid_before_registration_is_not_seen() -> None:
    fake = FakeNvml(h200s(1))
    assert fake.xid(0, 79) == 0  # nobody listens yet, as with the driver
    assert health(fake).xid_errors == {}


@pytest.mark.parametrize("xid", sorted(FATAL_XIDS))
def test_a_fatal_xid_makes_the_gpu_unhealthy_and_it_stays_so(xid: int) -> None:
    fake = FakeNvml(h200s(1))
    sampler = GpuSampler(fake, gpm=False)
    sampler.sample()
    fake.xid(0, xid)
    for _ in range(3):  # sticky: NVIDIA's guidance is a reset before it serves again
        sample = sampler.sample()
        (reading,) = sample.readings
        assert reading.up and reading.health == GpuHealth(
            healthy=False,
            reason=f"fatal Xid {xid}",
            clock_event_reasons=reading.health.clock_event_reasons if reading.health else None,
            xid_errors={xid: 1},
            ecc_errors=reading.health.ecc_errors if reading.health else {},
        )
    assert sample.problems["gpu 0 unhealthy"] == f"fatal Xid {xid}"


def test_a_gpu_that_stops_answering_is_unhealthy_and_keeps_its_xid_count() -> None:
    fake = FakeNvml(h200s(2))
    sampler = GpuSampler(fake, gpm=False)
    sampler.sample()
    fake.xid(0, 79)  # fallen off the bus ...
    fake.fail("*", gpu=0, code=NVML_ERROR_GPU_IS_LOST)  # ... and every read fails from now on
    got = sampler.sample().readings
    assert [(r.up, r.health.healthy if r.health else None) for r in got] == [(False, False), (True, True)]
    assert got[0].health is not None and got[0].health.xid_errors == {79: 1}
    assert got[0].health.reason == "fatal Xid 79"


def test_a_gpu_down_without_a_fatal_xid_says_it_is_not_answering() -> None:
    fake = FakeNvml(h200s(1))
    fake.fail("nvmlDeviceGetMemoryInfo")
    reading = GpuSampler(fake).sample().readings[0]
    assert reading.health == GpuHealth(healthy=False, reason="not answering NVML")


def test_a_gpu_that_cannot_deliver_events_has_no_xid_series() -> None:
    fake = FakeNvml([FakeGpu(UUID0, xid_events=False)])
    h = health(fake, ticks=2)
    assert h.xid_errors is None and h.healthy


@pytest.mark.parametrize(
    "code, watched_later, errors",
    [
        pytest.param(NVML_ERROR_NOT_SUPPORTED, False, {}, id="no-events-on-this-system-no-series"),
        pytest.param(NVML_ERROR_UNKNOWN, True, {"nvml": 1}, id="a-failed-create-is-counted-and-retried"),
    ],
)
def test_event_set_creation_failing(code: int, watched_later: bool, errors: dict[str, int]) -> None:
    fake = FakeNvml(h200s(1))
    fake.fail("nvmlEventSetCreate", code=code, times=1)
    sampler = GpuSampler(fake, gpm=False)
    first = sampler.sample()
    assert first.errors == errors and first.readings[0].health is not None
    assert first.readings[0].health.xid_errors is None
    second = sampler.sample().readings[0].health
    assert second is not None and (second.xid_errors is not None) is watched_later


def test_a_storm_is_drained_a_bounded_batch_per_tick() -> None:
    fake = FakeNvml(h200s(1))
    sampler = GpuSampler(fake, gpm=False)
    sampler.sample()
    for _ in range(MAX_EVENTS_PER_TICK + 44):
        fake.xid(0, 31)
    counts = [dict(sampler.sample().readings[0].health.xid_errors or {}) for _ in range(2)]  # type: ignore[union-attr]
    assert counts == [{31: MAX_EVENTS_PER_TICK}, {31: MAX_EVENTS_PER_TICK + 44}]  # 256, then the other 44


def test_a_failing_event_wait_counts_an_error_and_keeps_sampling() -> None:
    fake = FakeNvml(h200s(1))
    sampler = GpuSampler(fake, gpm=False)
    sampler.sample()
    fake.fail("nvmlEventSetWait_v2", code=NVML_ERROR_UNKNOWN, times=1)
    sample = sampler.sample()
    assert sample.readings[0].up and sample.errors == {"nvml": 1} and "xid events" in sample.problems
    fake.xid(0, 48)
    after = sampler.sample().readings[0].health
    assert after is not None and (after.healthy, after.reason, after.xid_errors) == (False, "fatal Xid 48", {48: 1})


def test_mig_instances_share_their_gpus_health() -> None:
    fake = FakeNvml([FakeGpu("GPU-m", migs=[FakeMig(0, 7, "MIG-a"), FakeMig(1, 8, "MIG-b")])])
    sampler = GpuSampler(fake, gpm=False)
    sampler.sample()
    fake.xid(0, 95, gpu_instance_id=7)  # uncontained: every instance on the GPU is affected
    got = {r.uuid: r.health for r in sampler.sample().readings}
    assert got["GPU-m"] is not None and got["GPU-m"].xid_errors == {95: 1}
    assert got["MIG-a"] == got["MIG-b"] == GpuHealth(healthy=False, reason="fatal Xid 95")  # counts stay on the GPU


# -- exposition ---------------------------------------------------------------------
def scrape(snap: Snapshot) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snap, max_age_s=15.0, clock=lambda: 100.0))
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples
    }


def test_health_series_carry_the_gpu_and_pod_labels() -> None:
    fake = FakeNvml([
        FakeGpu("GPU-a", clocks_event_reasons=0x48, ecc_volatile=(7, 2), ecc_aggregate=None),
        FakeGpu("GPU-b", ecc_volatile=None, ecc_aggregate=None, clocks_event_reasons=None, xid_events=False),
    ])  # fmt: skip
    sampler = GpuSampler(fake, gpm=False)
    sampler.sample()
    fake.xid(0, 79)
    readings = sampler.sample().readings
    snap = Snapshot(
        node="n1", taken_at=100.0, gpus=readings, holders=frozen_map({"GPU-a": (Holder("serving", "llm-0", "vllm"),)})
    )
    got = scrape(snap)
    a = {"node": "n1", "gpu": "0", "uuid": "GPU-a", "model": "NVIDIA H200", "mig": "",
         "namespace": "serving", "pod": "llm-0", "container": "vllm"}  # fmt: skip
    b = {"node": "n1", "gpu": "1", "uuid": "GPU-b", "model": "NVIDIA H200", "mig": "",
         "namespace": "", "pod": "", "container": ""}  # fmt: skip

    def key(name: str, labels: dict[str, str], **extra: str) -> tuple[str, frozenset[tuple[str, str]]]:
        return name, frozenset({**labels, **extra}.items())

    assert got[key("gpu_healthy", a)] == 0.0 and got[key("gpu_healthy", b)] == 1.0
    assert got[key("gpu_xid_errors_total", a, xid="79")] == 1.0
    assert got[key("gpu_clocks_event_reasons", a, reason="hw_thermal_slowdown")] == 1.0
    assert got[key("gpu_clocks_event_reasons", a, reason="sw_power_cap")] == 0.0
    assert got[key("gpu_ecc_errors_total", a, type="uncorrected", counter="volatile")] == 2.0
    assert got[key("gpu_ecc_errors_total", a, type="corrected", counter="volatile")] == 7.0
    # what NVML did not give is absent, never 0
    assert not any(name.startswith(("gpu_ecc", "gpu_clocks", "gpu_xid")) and ("uuid", "GPU-b") in labels
                   for name, labels in got)  # fmt: skip
    assert not any(name == "gpu_ecc_errors_total" and ("counter", "aggregate") in labels for name, labels in got)


def test_no_health_series_without_health() -> None:
    snap = Snapshot(node="n1", taken_at=100.0, gpus=(GpuReading(0, "GPU-a", "NVIDIA H200"),))
    assert not any(name.startswith(("gpu_healthy", "gpu_xid", "gpu_ecc", "gpu_clocks")) for name, _ in scrape(snap))


# -- the device check reads the health series -----------------------------------------
def test_device_check_prints_gpu_health() -> None:
    nvml = FakeNvml([FakeGpu("GPU-0", clocks_event_reasons=0x1, ecc_volatile=(2, 0), ecc_aggregate=None)])
    config = ExporterConfig(
        listen_host="127.0.0.1", listen_port=0, interval_s=3600.0, node="device-check", kubelet_socket=None
    )
    with Exporter(config, nvml_lib=nvml) as ex:
        nvml.xid(0, 13)
        ex.thread.tick_once()
        got = device_check.scrape(ex.url)
    assert got.health.healthy == 1.0 and got.health.clock_reasons == ("gpu_idle",)
    assert got.health.xid_errors == {"13": 1.0}
    assert got.health.ecc_errors == {"corrected/volatile": 2.0, "uncorrected/volatile": 0.0}
    printed = device_check.table([device_check.summarize("idle", [got])])
    assert "gpu_idle" in printed and "13:1" in printed and "corrected/volatile:2" in printed
