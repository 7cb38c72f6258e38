"""Measured load time (``startupSeconds: auto``) and capacity (pods no node can take), as tables.

Times are seconds relative to ``NOW``; a pod ``created`` at NOW - 200 and Ready at
NOW - 105 loaded for 95 s.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from autoscaler.core import Memory, Observation, PodState, decide
from autoscaler.core.proposal import classify_pods
from autoscaler.core.startup import REMEMBERED_STARTUPS, measure_startups, remember_startups, startup_seconds
from autoscaler.core.types import Startup
from tests.core.builders import NOW, OPEN, SEEN, observe, spec

NO_GPU = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def ready(name: str, created: float, ready_at: float) -> PodState:
    return PodState(name, ready=True, start_time=NOW + created, created=NOW + created, ready_time=NOW + ready_at)


def waiting(name: str) -> PodState:
    """What the API shows of a pod no node can take: Pending, no start time, PodScheduled False."""
    return PodState(name, ready=False, start_time=None, phase="Pending", created=NOW - 50, unschedulable=NO_GPU)


def up(name: str) -> PodState:
    return PodState(name, ready=True, start_time=NOW - 3600)


# --------------------------------------------------------------------- classify


@pytest.mark.parametrize("pod,klass", [
    pytest.param(waiting("a"), "unschedulable", id="no node: neither ready nor loading"),
    pytest.param(PodState("a", ready=False, start_time=None, phase="Pending"), "loading",
                 id="pending and schedulable (or not yet looked at): loading"),
    pytest.param(replace(waiting("a"), ready=True, phase="Running"), "candidates",
                 id="a stale Unschedulable beside Ready: ready wins"),
    pytest.param(replace(waiting("a"), deleting=True), "ignored", id="deleting: ignored"),
])
def test_classify(pod: PodState, klass: str) -> None:
    classes = classify_pods((pod, up("b")), 120, NOW)
    assert getattr(classes, klass) >= {"a"}
    assert ("a" in classes.set_aside) == (klass != "candidates")


# --------------------------------------------------------------------- measuring

SINCE = NOW - 1000
WATCHING = Memory(startups_since=SINCE)


@pytest.mark.parametrize("pods,memory,seen,expected", [
    pytest.param((ready("a", -200, -105),), WATCHING, (), [("a", 95.0)], id="created to Ready: 95 s"),
    pytest.param((ready("a", -200, -105),), Memory(), (), [], id="first poll: nothing measured"),
    pytest.param((ready("a", -2000, -1500),), WATCHING, (), [], id="Ready before measuring began"),
    pytest.param((ready("a", -200, -105),), replace(WATCHING, startups=(Startup("a", NOW - 105, 95.0),)), (), [],
                 id="already remembered: not again"),
    pytest.param((ready("b", -150, -105),), replace(WATCHING, startups=(Startup("a", NOW - 105, 95.0),)), (),
                 [("b", 45.0)], id="Ready in the same second as the newest remembered: measured"),
    pytest.param((ready("b", -150, -110),), replace(WATCHING, startups=(Startup("a", NOW - 105, 95.0),)), (), [],
                 id="Ready before the newest remembered: not measured"),
    pytest.param((ready("a", -200, -105),), WATCHING, {("a", NOW - 200)}, [], id="measured in this process"),
    pytest.param((PodState("a", ready=False, created=NOW - 200),), WATCHING, (), [], id="not Ready"),
    pytest.param((replace(ready("a", -200, -105), deleting=True),), WATCHING, (), [], id="deleting"),
    pytest.param((ready("a", -100, -90), ready("b", -200, -105)), WATCHING, (), [("b", 95.0), ("a", 10.0)],
                 id="by Ready time"),
])
def test_measure_startups(pods: tuple[PodState, ...], memory: Memory, seen: set[tuple[str, float]],
                          expected: list[tuple[str, float]]) -> None:
    assert [(s.pod, s.seconds) for s in measure_startups(pods, memory, seen)] == expected


def _remembered(*seconds: float) -> Memory:
    return Memory(startups=tuple(Startup(f"p{i}", NOW + i, s) for i, s in enumerate(seconds)), startups_since=SINCE)


@pytest.mark.parametrize("declared,auto,memory,expected", [
    pytest.param(120, False, _remembered(300), 120, id="declared: the measured figure is not used"),
    pytest.param(120, True, Memory(), 120, id="auto, nothing measured: the declared default"),
    pytest.param(120, True, _remembered(300), 300, id="auto: one slow pull is seen at once"),
    pytest.param(120, True, _remembered(80, 95, 90), 95, id="up to 9: the slowest"),
    # ceil(0.9 x 10) = 9th smallest of 80, 82, ..., 97, 400 = 97: one outlier does not lead
    pytest.param(120, True, _remembered(80, 82, 85, 88, 90, 91, 93, 95, 97, 400), 97, id="10: the second slowest"),
])
def test_startup_seconds(declared: int, auto: bool, memory: Memory, expected: float) -> None:
    assert startup_seconds(declared, auto, memory) == expected


def test_remember_keeps_the_newest_and_starts_the_watermark() -> None:
    first = remember_startups(Memory(), (), NOW)
    assert first.startups_since == NOW and first.startups == ()
    many = tuple(Startup(f"p{i}", NOW + i, float(i)) for i in range(REMEMBERED_STARTUPS + 3))
    kept = remember_startups(first, many, NOW + 100)
    assert [s.pod for s in kept.startups] == [f"p{i}" for i in range(3, REMEMBERED_STARTUPS + 3)]
    assert kept.startups_since == NOW  # set once


def test_decide_remembers_what_it_is_handed() -> None:
    obs = replace(observe(2, queue_depth={"p0": 4, "p1": 4}), startups=(Startup("p1", NOW - 5, 95.0),))
    d = decide(spec(), obs, replace(SEEN, startups_since=SINCE), NOW)
    assert d.memory.startups == d.memory_if_not_applied.startups == (Startup("p1", NOW - 5, 95.0),)


# One ready replica at queue 8 (target 4) and one not Ready, started 150 s ago. Declared
# 120 s: it is stuck, set aside: ceil(2.0 x 1 ready) = 2, hold, DesiredWithinRange.
# Measured 200 s (auto): it is loading, capacity on its way: (8 + 0) / 2 = ratio 1.0 in
# the band, hold, reason Loading (a calculator blind to it asks ceil(2 x 1) + 1 = 3).
SLOW = (up("p0"), PodState("p1", ready=False, start_time=NOW - 150))


@pytest.mark.parametrize("auto,memory,code", [
    pytest.param(False, _remembered(200), "DesiredWithinRange", id="declared 120 s: stuck after 150 s"),
    pytest.param(True, Memory(startups_since=SINCE), "DesiredWithinRange", id="auto, nothing measured: 120 s"),
    pytest.param(True, _remembered(200), "Loading", id="auto, measured 200 s: still loading after 150 s"),
])
def test_auto_decides_with_the_measured_load_time(auto: bool, memory: Memory, code: str) -> None:
    s = replace(spec(behavior=OPEN), startup_auto=auto)
    memory = replace(memory, recommendations=SEEN.recommendations)
    d = decide(s, observe(2, SLOW, queue_depth={"p0": 8}), memory, NOW)
    assert (d.desired_replicas, d.reason_code) == (2, code)


# --------------------------------------------------------------------- capacity

# (pods, per-pod queues at target 4, desired, reason code, CapacityAvailable)
CAPACITY = [
    # ceil(12/4 x 2 ready) = 6, but 1 pod waits for a GPU: no scale-up past it
    pytest.param((up("p0"), up("p1"), waiting("p2")), {"p0": 12, "p1": 12}, 3, "Unschedulable", "False",
                 id="scale-up capped at current while a pod waits"),
    # the same without the waiting pod: ceil(3.0 x 2) = 6
    pytest.param((up("p0"), up("p1"), up("p2")), {"p0": 12, "p1": 12, "p2": 0}, 6, "DesiredWithinRange", "True",
                 id="scale-up when every pod is placed"),
    # ceil(1/4 x 2 ready) = 1: scale-down is unaffected (the Deployment drops the pending pod first)
    pytest.param((up("p0"), up("p1"), waiting("p2")), {"p0": 1, "p1": 1}, 1, "DesiredWithinRange", "False",
                 id="scale-down unaffected"),
    # 1 ready at 1.25 x target: ceil(1.25 x 1) = 2 < 3 would shrink while overloaded: keep current
    pytest.param((up("p0"), waiting("p1"), waiting("p2")), {"p0": 5}, 3, "DesiredWithinRange", "False",
                 id="over target with pods waiting: no scale-down"),
    # no replica can report load: hold, and it is not a metrics failure
    pytest.param((waiting("p0"),), {}, 1, "Unschedulable", "False", id="every pod waits: hold"),
]


@pytest.mark.parametrize("pod_list,queues,desired,code,available", CAPACITY)
def test_capacity(pod_list: tuple[PodState, ...], queues: dict[str, float], desired: int, code: str,
                  available: str) -> None:
    d = decide(spec(behavior=OPEN), observe(len(pod_list), pod_list, queue_depth=queues), SEEN, NOW)
    assert (d.desired_replicas, d.reason_code) == (desired, code)
    assert d.metrics_available
    [capacity] = [c for c in d.conditions if c.type == "CapacityAvailable"]
    assert capacity.status == available
    if available == "False":
        waits = sum(1 for p in pod_list if p.unschedulable is not None)
        assert (capacity.reason, capacity.message) == (
            "Unschedulable", f"{waits} pod(s) of the target cannot be scheduled: {NO_GPU}")


def test_capacity_caps_the_fallback_too() -> None:
    """Metrics gone for 3 polls with fallback 5: the raise to 5 is a scale-up, and a pod waits."""
    from autoscaler.spec import Fallback
    s = spec(behavior=OPEN, fallback=Fallback(failure_threshold=1, replicas=5))
    d = decide(s, observe(2, (up("p0"), waiting("p1")), qps="!down"), SEEN, NOW)
    assert (d.desired_replicas, d.reason_code) == (2, "Unschedulable")


def test_an_unschedulable_pod_is_not_loading_forever() -> None:
    """Before: a Pending pod without startTime counted as loading however long it waited,
    so on a scale-up it was capacity at 0 % (capacity on its way that never came)."""
    obs: Observation = observe(2, (up("p0"), waiting("p1")), queue_depth={"p0": 12})
    classes = classify_pods(obs.pods, 120, NOW + 100_000)
    assert classes.loading == frozenset() and classes.unschedulable == {"p1"}
