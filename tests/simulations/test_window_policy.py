"""The simulator's ``ours`` with a metric ``window``: the policy decides on the window's
mean of the fleet's queue, as the controller does (autoscaler/core/window.py)."""
from __future__ import annotations

from typing import Any

import pytest

from simulations.policies.core import CorePolicy, ours
from tests.simulations.conftest import make_scenario, scaler_doc
from tests.simulations.test_policies import snapshot, view

OPEN = {"scaleUp": {"tolerance": 0}, "scaleDown": {"stabilizationWindowSeconds": 0, "tolerance": 0}}


def policy(window: str | None) -> CorePolicy:
    metric: dict[str, Any] = {"type": "QueueDepth", "target": {"averageValue": 4}}
    if window is not None:
        metric["window"] = window
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
