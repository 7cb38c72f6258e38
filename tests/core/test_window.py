"""The per-metric averaging window (autoscaler/core/window.py): tables of polls in, means out.

Each row is a sequence of polls of one windowed metric (15 s apart unless said), and the
observation the core decides on at the last one. Times are seconds relative to ``NOW``.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from autoscaler.core import HOLD, SCALE_DOWN, MetricObservation, Observation, PodState, decide
from autoscaler.core.points import MAX_POINTS
from autoscaler.core.window import EMPTY, Smoothed, WindowState, smooth
from autoscaler.spec import MetricSpec
from tests.core.builders import NOW, OPEN, SEEN, prom, queue, spec


def windowed(metric: MetricSpec, seconds: float) -> MetricSpec:
    return replace(metric, window_seconds=seconds)


def per_pod(**samples: float) -> MetricObservation:
    return MetricObservation(per_pod=samples)


def pods(*names: str, not_ready: tuple[str, ...] = ()) -> tuple[PodState, ...]:
    return tuple(PodState(n, ready=n not in not_ready) for n in names)


def run(metric: MetricSpec, polls: list[tuple[float, Observation]]) -> Smoothed:
    """Smooth each poll in turn from an empty window; the last poll's result."""
    s = spec(metric)
    state = EMPTY
    result = None
    for t, obs in polls:
        result = smooth(s, obs, state, NOW + t)
        state = result.state
    assert result is not None
    return result


def q(t: float, names: tuple[str, ...] = ("a", "b"), not_ready: tuple[str, ...] = (), **samples: float
      ) -> tuple[float, Observation]:
    """A queue-depth poll at ``t`` of the pods ``names`` with these samples."""
    obs = Observation(current_replicas=len(names), pods=pods(*names, not_ready=not_ready),
                      metrics={"queue_depth": per_pod(**samples)})
    return t, obs


def failed(t: float, error: str = "prometheus: connection refused") -> tuple[float, Observation]:
    return t, Observation(current_replicas=2, pods=pods("a", "b"),
                          metrics={"queue_depth": MetricObservation.failed(error)})


Q60 = windowed(queue(4), 60)

PER_POD = [
    # id, window seconds, polls, expected per-pod samples at the last poll
    ("first-poll-is-raw", 60, [q(0, a=6, b=2)], {"a": 6, "b": 2}),
    ("mean-of-four-polls", 60, [q(0, a=2, b=2), q(15, a=2, b=2), q(30, a=2, b=2), q(45, a=14, b=2)],
     {"a": 5.0, "b": 2.0}),  # (2 + 2 + 2 + 14) / 4 = 5
    # At t=60 the point of t=0 is exactly 60 s old: it has left the 60 s window.
    ("edge-60s-old-leaves", 60, [q(0, a=100, b=0), q(15, a=0, b=0), q(30, a=0, b=0), q(45, a=0, b=0), q(60, a=8, b=0)],
     {"a": 2.0, "b": 0.0}),  # (0 + 0 + 0 + 8) / 4
    ("edge-59.9s-old-stays", 60, [q(0.1, a=100, b=0), q(15, a=0, b=0), q(30, a=0, b=0), q(45, a=0, b=0),
                              q(60, a=0, b=0)], {"a": 20.0, "b": 0.0}),  # 100 / 5
    ("new-pod-starts-its-own-window", 60, [q(0, a=8, b=8), q(15, ("a", "b", "c"), a=0, b=0, c=9)],
     {"a": 4.0, "b": 4.0, "c": 9.0}),
    ("vanished-pod-drops-out", 60, [q(0, a=8, b=8), q(15, ("a",), a=0)], {"a": 4.0}),
    # A pod that left and came back under the same name starts again: nothing of before.
    ("returning-pod-starts-afresh", 60, [q(0, a=8, b=8), q(15, ("a",), a=0), q(30, a=0, b=2)],
     {"a": 8 / 3, "b": 2.0}),
    # A pod without a usable sample this poll stays missing (the proposal fills it);
    # its points stay and count again next poll.
    ("pod-missing-this-poll-stays-missing", 60, [q(0, a=4, b=8), q(15, a=4)], {"a": 4.0}),
    ("pod-missing-then-back", 60, [q(0, a=4, b=8), q(15, a=4), q(30, a=4, b=2)], {"a": 4.0, "b": 5.0}),
    ("nan-passes-through", 60, [q(0, a=4, b=8), q(15, a=4, b=math.nan)], {"a": 4.0, "b": math.nan}),
    ("nan-then-back", 60, [q(0, a=4, b=8), q(15, a=4, b=math.nan), q(30, a=4, b=2)], {"a": 4.0, "b": 5.0}),
    # A replica still loading has no window: its samples pass as they are, and its
    # window starts when it is Ready (its idle loading time does not dilute its load).
    ("loading-pod-not-averaged", 60, [q(0, not_ready=("b",), a=4, b=0), q(15, not_ready=("b",), a=4, b=0),
                                  q(30, a=4, b=12)], {"a": 4.0, "b": 12.0}),
    ("window-just-over-one-poll", 16, [q(0, a=100, b=100), q(15, a=1, b=1)], {"a": 50.5, "b": 50.5}),
    ("window-shorter-than-poll", 10, [q(0, a=100, b=100), q(15, a=1, b=1)], {"a": 1.0, "b": 1.0}),
]


@pytest.mark.parametrize("window, polls, expected", [r[1:] for r in PER_POD], ids=[r[0] for r in PER_POD])
def test_per_pod(window, polls, expected) -> None:
    got = run(windowed(queue(4), window), polls).observation.metrics["queue_depth"]
    assert got.error is None
    assert got.per_pod.keys() == expected.keys()
    for pod, v in expected.items():
        assert got.per_pod[pod] == pytest.approx(v, nan_ok=True), pod


FAULTS = [
    # id, polls, expected error at the last poll
    ("failure-this-poll-stays-failed", [q(0, a=4, b=4), q(15, a=4, b=4), failed(30)],
     "prometheus: connection refused"),
    ("metric-absent-stays-absent", [q(0, a=4, b=4), (15, Observation(current_replicas=2, pods=pods("a", "b")))],
     None),
]


@pytest.mark.parametrize("polls, error", [r[1:] for r in FAULTS], ids=[r[0] for r in FAULTS])
def test_faults_are_never_masked(polls, error) -> None:
    got = run(Q60, polls).observation.metrics.get("queue_depth")
    if error is None:
        assert got is None
    else:
        assert got is not None and got.error == error and not got.per_pod


def test_after_a_failure_the_window_carries_on() -> None:
    # 4 at t=0 and t=15, failed at t=30, 10 at t=45: (4 + 4 + 10) / 3 = 6
    got = run(Q60, [q(0, a=4, b=4), q(15, a=4, b=4), failed(30), q(45, a=10, b=10)])
    assert got.observation.metrics["queue_depth"].per_pod == {"a": 6.0, "b": 6.0}


def test_a_fault_never_turns_into_a_scale_down() -> None:
    # 1 a pod against 4 on 4 replicas (a scale-down due), then the metric fails: with the
    # window the decision holds exactly as without it (old values never stand in for the fault).
    s = spec(Q60, behavior=OPEN)
    state, memory = EMPTY, SEEN
    names = ("a", "b", "c", "d")
    for t in (0, 15):
        obs = Observation(current_replicas=4, pods=pods(*names), metrics={"queue_depth": per_pod(a=1, b=1, c=1, d=1)})
        r = smooth(s, obs, state, NOW + t)
        state = r.state
    obs = Observation(current_replicas=4, pods=pods(*names), metrics={"queue_depth": MetricObservation.failed("down")})
    r = smooth(s, obs, state, NOW + 30)
    d = decide(s, r.observation, memory, NOW + 30)
    assert (d.desired_replicas, d.action) == (4, HOLD)
    assert not d.metrics_available


TARGET_WIDE = [
    # id, polls of a target-wide value, expected value (or error) at the last one
    ("mean-of-values", [(0, 100.0), (15, 200.0), (30, 600.0)], 300.0),
    ("old-value-ages-out", [(0, 1000.0), (30, 100.0), (60, 300.0)], 200.0),  # the one of t=0 is 60 s old
    ("failed-value-stays-failed", [(0, 100.0), (15, "no sample in the last 30 s")], "no sample in the last 30 s"),
    ("nan-passes-through", [(0, 100.0), (15, math.nan)], math.nan),
]


@pytest.mark.parametrize("polls, expected", [r[1:] for r in TARGET_WIDE], ids=[r[0] for r in TARGET_WIDE])
def test_target_wide(polls, expected) -> None:
    metric = windowed(prom("qps", value=100), 60)
    obs_polls = [
        (t, Observation(current_replicas=2, pods=pods("a", "b"),
                        metrics={"qps": MetricObservation.failed(v) if isinstance(v, str) else MetricObservation(value=v)}))
        for t, v in polls
    ]
    got = run(metric, obs_polls).observation.metrics["qps"]
    if isinstance(expected, str):
        assert got.error == expected and got.value is None
    else:
        assert got.value == pytest.approx(expected, nan_ok=True)


def test_no_window_returns_the_same_observation() -> None:
    obs = q(0, a=4, b=4)[1]
    r = smooth(spec(queue(4)), obs, EMPTY, NOW)
    assert r.observation is obs and r.state == EMPTY


def test_only_windowed_metrics_are_smoothed() -> None:
    s = spec(Q60, prom("qps", value=100))
    state = EMPTY
    for t, (depth, qps) in enumerate([(0.0, 0.0), (8.0, 400.0)]):
        obs = Observation(current_replicas=1, pods=pods("a"),
                          metrics={"queue_depth": per_pod(a=depth), "qps": MetricObservation(value=qps)})
        r = smooth(s, obs, state, NOW + 15 * t)
        state = r.state
    assert r.observation.metrics["queue_depth"].per_pod == {"a": 4.0}
    assert r.observation.metrics["qps"].value == 400.0
    assert set(state.metrics) == {"queue_depth"}


def test_memory_is_bounded() -> None:
    # A 1 h window polled every second for 2 h, over pods that come and go: at most
    # MAX_POINTS a series, only pods of the target, never the span polled.
    metric = windowed(queue(4), 3600)
    s = spec(metric)
    state = WindowState()
    for t in range(7200):
        names = (f"p{t // 600}", "steady")  # a new pod every 10 min; the old one leaves
        obs = Observation(current_replicas=2, pods=pods(*names),
                          metrics={"queue_depth": per_pod(**{n: float(t % 7) for n in names})})
        state = smooth(s, obs, state, NOW + t).state
    window = state.metrics["queue_depth"]
    assert set(window.per_pod) == {"p11", "steady"}
    assert len(window.per_pod["steady"].times) == MAX_POINTS
    assert len(window.per_pod["p11"].times) == 600
    assert state.points == MAX_POINTS + 600


def test_removed_metric_forgets_its_points() -> None:
    r = run(Q60, [q(0, a=4, b=4)])
    s = spec(windowed(prom("qps", value=100), 60))
    obs = Observation(current_replicas=2, pods=pods("a", "b"), metrics={"qps": MetricObservation(value=1)})
    assert set(smooth(s, obs, r.state, NOW + 15).state.metrics) == {"qps"}


def test_clock_stepping_back_drops_the_future() -> None:
    # A point stamped after ``now`` (a new leader whose clock is behind) never counts.
    got = run(Q60, [q(30, a=100, b=100), q(15, a=2, b=2)])
    assert got.observation.metrics["queue_depth"].per_pod == {"a": 2.0, "b": 2.0}


def test_smoothed_burst_scales_less() -> None:
    # Two replicas at 2 a pod for 45 s, then one poll at 14 a pod: unsmoothed
    # ceil(14 / 4 x 2) = 7; over a 60 s window (2 + 2 + 2 + 14) / 4 = 5: ceil(5 / 4 x 2) = 3.
    polls = [q(0, a=2, b=2), q(15, a=2, b=2), q(30, a=2, b=2), q(45, a=14, b=14)]
    raw = decide(spec(queue(4), behavior=OPEN), polls[-1][1], SEEN, NOW + 45)
    smoothed = run(Q60, polls).observation
    d = decide(spec(Q60, behavior=OPEN), smoothed, SEEN, NOW + 45)
    assert (raw.desired_replicas, d.desired_replicas) == (7, 3)


def test_smoothed_dip_scales_down_less() -> None:
    # Four replicas at 4 a pod, then one poll at 0: unsmoothed it asks 1 (a scale-down);
    # over 60 s (4 + 4 + 4 + 0) / 4 = 3 a pod, ratio 0.75: ceil(0.75 x 4) = 3.
    names = ("a", "b", "c", "d")
    polls = [q(t, names, a=4, b=4, c=4, d=4) for t in (0, 15, 30)] + [q(45, names, a=0, b=0, c=0, d=0)]
    raw = decide(spec(queue(4), behavior=OPEN), polls[-1][1], SEEN, NOW + 45)
    d = decide(spec(Q60, behavior=OPEN), run(Q60, polls).observation, SEEN, NOW + 45)
    assert (raw.desired_replicas, raw.action) == (1, SCALE_DOWN)
    assert (d.desired_replicas, d.action) == (3, SCALE_DOWN)
