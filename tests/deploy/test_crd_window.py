"""The CRD's schema for a metric's ``window`` agrees with ``gpu-autoscaler validate``,
both ways, on each side of each limit."""
from __future__ import annotations

from typing import Any

import pytest

from autoscaler.spec import WINDOW_PATTERN
from tests.deploy import manifests
from tests.deploy.test_crd_work_metrics import scaler

QUEUE = {"type": "QueueDepth", "target": {"averageValue": 4}}
EDGES = [1, 60, 3600, 0, -1, 3601, 2**31, 30.5, True, "1", "60s", "3600s", "3601s", "0s", "2m", "2min", "60m",
         "61m", "0m", "1h", "2h", "1d", "500ms", "1.5m", "060s", " 60s", "60S", "", "soon"]


@pytest.mark.parametrize("window", EDGES, ids=[repr(w) for w in EDGES])
def test_validate_agrees_with_the_api_server(window: Any) -> None:
    doc = scaler(QUEUE | {"window": window})
    errors = manifests.gpuscaler_errors(doc)
    assert manifests.validate_accepts(doc) == (errors == []), errors


def test_the_crd_holds_the_parsers_pattern() -> None:
    (version,) = manifests.crd()["spec"]["versions"]
    metric = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["metrics"]["items"]
    window = metric["properties"]["window"]
    assert window["pattern"] == WINDOW_PATTERN
    assert (window["minimum"], window["maximum"], window["x-kubernetes-int-or-string"]) == (1, 3600, True)


@pytest.mark.parametrize("duration", EDGES, ids=[repr(w) for w in EDGES])
@pytest.mark.parametrize("field", ["ahead", "over"])
def test_look_ahead_durations_agree_with_the_api_server(field: str, duration: Any) -> None:
    """``lookAhead.ahead`` and ``.over`` take ``window``'s durations. (``over`` of at most
    two polls is refused by validate and reported by the controller as InvalidSpec; the
    schema cannot compare it with pollingIntervalSeconds, so these use over > 30 s.)"""
    look_ahead = {"ahead": "30s", "over": "2m"} | {field: duration}
    doc = scaler(QUEUE | {"lookAhead": look_ahead})
    errors = manifests.gpuscaler_errors(doc)
    if field == "over" and duration in (1, "1") and not isinstance(duration, bool):  # 1 s: a valid duration
        assert errors == [] and not manifests.validate_accepts(doc)
        return
    assert manifests.validate_accepts(doc) == (errors == []), errors


def test_look_ahead_needs_ahead_in_the_api_server_too() -> None:
    assert manifests.gpuscaler_errors(scaler(QUEUE | {"lookAhead": {"over": "2m"}})) != []
    assert manifests.gpuscaler_errors(scaler(QUEUE | {"lookAhead": {"ahead": "30s"}})) == []
