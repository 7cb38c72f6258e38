"""Look-ahead (autoscaler/core/lookahead.py, applied in autoscaler/core/window.py's smooth):
tables of polls in, projected samples out.

Each row is a sequence of polls of one metric with ``lookAhead`` (15 s apart unless said)
and the samples the core decides on at the last one. Times are seconds relative to ``NOW``.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from autoscaler.core import MetricObservation, Observation, decide
from autoscaler.core.lookahead import slope
from autoscaler.core.points import MAX_POINTS, Series
from autoscaler.core.window import EMPTY, smooth
from autoscaler.spec import LookAhead, MetricSpec, MetricTarget
from tests.core.builders import NOW, OPEN, SEEN, prom, queue, spec
from tests.core.test_window import failed, pods, q, run


def ahead(metric: MetricSpec, seconds: float = 30, over: float = 120, window: float | None = None) -> MetricSpec:
    return replace(metric, look_ahead=LookAhead(seconds, over), window_seconds=window)


def running(target: float) -> MetricSpec:
    return MetricSpec(type="Concurrency", target=MetricTarget(average_value=target))


def climb(*totals_a: float, b: float = 0.0, start: float = 0.0) -> list[tuple[float, Observation]]:
    """Polls 15 s apart with pod a at each of ``totals_a`` and pod b at ``b``."""
    return [q(start + 15 * i, a=v, b=b) for i, v in enumerate(totals_a)]


Q = ahead(queue(4))

PER_POD = [
    # id, metric, polls, expected per-pod samples at the last poll
    # Totals 2, 4, 6 over 30 s: slope 2/15 a second, 30 s ahead +4, shared by 2 ready pods.
    ("rising-three-polls", Q, climb(2, 4, 6), {"a": 8.0, "b": 2.0}),
    ("two-polls-are-no-trend", Q, climb(2, 4), {"a": 4.0, "b": 0.0}),
    ("first-poll-is-raw", Q, climb(5), {"a": 5.0, "b": 0.0}),
    ("flat-changes-nothing", Q, climb(6, 6, 6, 6), {"a": 6.0, "b": 0.0}),
    ("falling-never-lowers", Q, climb(9, 6, 3), {"a": 3.0, "b": 0.0}),
    # Totals 0, 0, 20: slope 2/3 a second, 30 s ahead +20, capped at the total itself (x2).
    ("lift-capped-at-double", Q, climb(0, 0, 20), {"a": 30.0, "b": 10.0}),
    # 90 s ahead: +12, capped at the total 6: each pod +3.
    ("ahead-90s-capped", ahead(queue(4), 90), climb(2, 4, 6), {"a": 9.0, "b": 3.0}),
    ("ahead-45s", ahead(queue(4), 45), climb(2, 4, 6), {"a": 9.0, "b": 3.0}),
    ("ahead-15s", ahead(queue(4), 15), climb(2, 4, 6), {"a": 7.0, "b": 1.0}),
    # over 40 s: at t=60 only the points of 30 and 45 s stay (ages 30, 15), with now's: 3 points.
    ("old-points-age-out", ahead(queue(4), 30, 40), climb(100, 0, 2, 4, 6), {"a": 8.0, "b": 2.0}),
    # A ready pod without a usable sample this poll: no point and no lift (its silence would
    # read as a fall, its return as a rise); the fit goes on from the next full poll.
    ("missing-pod-adds-no-point", Q, [q(0, a=2, b=0), q(15, a=4, b=0), q(30, a=6)], {"a": 6.0}),
    ("missing-pod-then-back", Q, [q(0, a=2, b=0), q(15, a=4, b=0), q(30, a=6), q(45, a=8, b=0)],
     {"a": 10.0, "b": 2.0}),  # 2, 4, 8 at 0, 15, 45 s: slope 2/15, +4 in 30 s
    # A replica still loading is neither in the total nor lifted.
    ("loading-replica-passes-through", Q,
     [q(0, ("a", "b", "c"), ("c",), a=2, b=0, c=0), q(15, ("a", "b", "c"), ("c",), a=4, b=0, c=0),
      q(30, ("a", "b", "c"), ("c",), a=6, b=0, c=0)], {"a": 8.0, "b": 2.0, "c": 0.0}),
    ("nan-adds-no-point", Q, [q(0, a=2, b=0), q(15, a=4, b=0), q(30, a=6, b=math.nan)],
     {"a": 6.0, "b": math.nan}),
]


@pytest.mark.parametrize("metric,polls,expected", [r[1:] for r in PER_POD], ids=[r[0] for r in PER_POD])
def test_per_pod(metric: MetricSpec, polls: list[tuple[float, Observation]], expected: dict[str, float]) -> None:
    got = dict(run(metric, polls).observation.metrics["queue_depth"].per_pod)
    assert got.keys() == expected.keys()
    for pod, v in expected.items():
        assert (math.isnan(got[pod]) and math.isnan(v)) or got[pod] == pytest.approx(v), pod


def test_the_docstrings_worked_example() -> None:
    """Running requests 200, 212, 226, 238, 251 over a minute on 6 pods: slope 0.8533 a second,
    30 s ahead 276.6, which asks ceil(276.6 / 33.6) = 9 where 251 asks 8."""
    assert slope(Series((0, 15, 30, 45, 60), (200, 212, 226, 238, 251))) == pytest.approx(0.85333, abs=1e-4)
    names = tuple("abcdef")

    def poll(t: float, total: float) -> tuple[float, Observation]:
        return t, Observation(current_replicas=6, pods=pods(*names),
                              metrics={"running_requests": MetricObservation(per_pod={n: total / 6 for n in names})})

    polls = [poll(15 * i, v) for i, v in enumerate((200, 212, 226, 238, 251))]
    for metric, asks in ((running(33.6), 8), (ahead(running(33.6)), 9)):
        decision = decide(spec(metric, behavior=OPEN), run(metric, polls).observation, SEEN, NOW + 60)
        assert decision.desired_replicas == asks
    # The reason says what the look-ahead added (README, "Look-ahead").
    assert decision.reason == "running_requests 46.1 (target 33.6; look-ahead +25.6 in 30 s) asks 9; 6 -> 9"


def test_a_failed_poll_passes_through_and_adds_no_point() -> None:
    r = run(Q, [*climb(2, 4, 6), failed(45)])
    assert r.observation.metrics["queue_depth"].error is not None
    assert r.state.trends["queue_depth"].values == (2.0, 4.0, 6.0)  # aged, nothing added
    # Back at 60 s: the fit is over 2, 4, 6 and now's 8 (no stand-in for the failed poll).
    back = run(Q, [*climb(2, 4, 6), failed(45), q(60, a=8, b=0)])
    assert back.observation.metrics["queue_depth"].per_pod["a"] == pytest.approx(8 + 30 * slope(
        Series((0, 15, 30, 60), (2, 4, 6, 8))) / 2)


def test_target_wide_value_is_projected() -> None:
    m = ahead(prom("qps", value=100))
    polls = [(15.0 * i, Observation(current_replicas=2, pods=pods("a", "b"),
                                    metrics={"qps": MetricObservation(value=v)})) for i, v in enumerate((100, 110, 120))]
    assert run(m, polls).observation.metrics["qps"].value == pytest.approx(140.0)  # 120 + 30 x 2/3


def test_no_look_ahead_is_the_same_observation() -> None:
    s = spec(queue(4))
    _, obs = q(0, a=1, b=2)
    assert smooth(s, obs, EMPTY, NOW).observation is obs


def test_after_the_window() -> None:
    """A windowed metric's trend is its mean's: queue a at 0, 0, 12 with a 30 s window reads
    0, 0, 6 (means of 0; 0, 0; 0, 12); the totals fit a slope of 0.2 a second, +6 in 30 s."""
    m = ahead(queue(4), window=30)
    got = run(m, climb(0, 0, 12)).observation.metrics["queue_depth"].per_pod
    assert got == {"a": pytest.approx(6 + 3), "b": pytest.approx(3.0)}


def test_points_are_bounded() -> None:
    m = ahead(queue(4), 30, 3600)
    polls = [q(float(i), a=float(i), b=0) for i in range(MAX_POINTS + 300)]
    r = run(m, polls)
    assert len(r.state.trends["queue_depth"].times) == MAX_POINTS
    assert r.state.points == MAX_POINTS
