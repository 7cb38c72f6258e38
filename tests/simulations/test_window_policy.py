"""The simulator's ``ours`` with a metric ``window``: the policy decides on the window's
mean of the fleet's queue, as the controller does (autoscaler/core/window.py)."""
from __future__ import annotations

from typing import Any

import pytest

from simulations.policies.core import CorePolicy, ours
from tests.simulations.conftest import make_scenario, scaler_doc
from tests.simulations.test_policies import snapshot, view

OPEN = {"scaleUp": {"tolerance": 0}, "scaleDown": {"stabilizationWindowSeconds": 0, "tolerance": 0}}


def policy(window: str | None = None, look_ahead: dict[str, str] | None = None) -> CorePolicy:
    """``ours`` on queue depth against 4 a pod, with these of the metric's options that are given."""
    metric: dict[str, Any] = {"type": "QueueDepth", "target": {"averageValue": 4}}
    if window is not None:
        metric["window"] = window
    if look_ahead is not None:
        metric["lookAhead"] = look_ahead
    doc = scaler_doc(maxReplicas=100, pollingIntervalSeconds=15, metrics=[metric], behavior=OPEN)
    p = ours(make_scenario(policies={"ours": {"scaler": doc}}))
    assert isinstance(p, CorePolicy)
    return p


@pytest.mark.parametrize("window, expected", [
    # 4 replicas at 4 a pod (on target) for 45 s, then one poll at 0 a pod:
    pytest.param(None, [4, 4, 4, 1], id="no-window: ceil(4 x 0/4) -> minReplicas 1"),
    pytest.param("60s", [4, 4, 4, 3], id="60s: (4 + 4 + 4 + 0) / 4 = 3 a pod, ceil(4 x 3/4) = 3"),
])
def test_ours_decides_on_the_window_mean(window: str | None, expected: list[int]) -> None:
    p = policy(window)
    got = []
    for k, depth in enumerate([4.0, 4.0, 4.0, 0.0]):
        t = 15.0 * k
        got.append(p.decide(view(t, 4, metrics=snapshot([depth] * 4, [50] * 4, [50] * 4, t=t))))
    assert got == expected


@pytest.mark.parametrize("look_ahead, expected", [
    # 4 replicas whose queues climb 2, 3, 4 a pod (8, 12, 16 in all, +4 a poll):
    pytest.param(None, [2, 3, 4], id="reactive: ceil(16 / 4) = 4 at the third poll"),
    # 30 s ahead: 16 + 30 x 4/15 = 24, ceil(24 / 4) = 6 (three polls make the first trend).
    pytest.param({"ahead": "30s"}, [2, 3, 6], id="30s ahead: ceil(24 / 4) = 6"),
])
def test_ours_decides_on_the_look_ahead(look_ahead: dict[str, str] | None, expected: list[int]) -> None:
    p = policy(look_ahead=look_ahead)
    got = []
    for k, depth in enumerate([2.0, 3.0, 4.0]):
        t = 15.0 * k
        got.append(p.decide(view(t, 4, metrics=snapshot([depth] * 4, [50] * 4, [50] * 4, t=t))))
    assert got == expected
