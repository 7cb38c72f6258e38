"""The replay driver: open and closed loop, staleness, readiness, observed scale events."""
from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.dryrun import replay
from autoscaler.recording.reader import load_recording
from autoscaler.spec import parse_spec

T0 = 1_800_000_000


def spec(**overrides: object):
    raw = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
        "maxReplicas": 10,
        "pollingIntervalSeconds": 15,
        "startupSeconds": 60,
        "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}}],
    }
    raw.update(overrides)
    return parse_spec(raw)


def recording(tmp_path: Path, rows: list[str], s=None):
    p = tmp_path / "rec.csv"
    p.write_text("timestamp,metric,pod,value\n" + "\n".join(rows) + "\n")
    return load_recording(p, s or spec())


def test_closed_loop_scales_up_then_counts_loading_replicas(tmp_path: Path) -> None:
    # 2 pods recorded at 8 waiting each: 16 waiting in all.
    rows = [f"{T0 + 15 * i},queue_depth,{p},8" for i in range(10) for p in ("a", "b")]
    run = list(replay(spec(), recording(tmp_path, rows)))
    first = run[0].decision
    # ceil(8/4 * 2) = 4
    assert (first.current_replicas, first.desired_replicas, first.action) == (2, 4, "scale_up")
    second = run[1].decision
    # 16 waiting over the 2 ready replicas is still 8 each, but the 2 loading replicas
    # count at 0: ceil(16/4 / 4 * 4) = 4 -> no second scale-up for the same load.
    assert (second.current_replicas, second.desired_replicas) == (4, 4)
    assert second.action == "hold"
    # After startupSeconds (60 s = 4 ticks) all 4 are ready: 16 / 4 = 4 each, on target.
    later = run[5]
    assert all(p.ready for p in later.observation.pods)
    assert later.observation.metrics["queue_depth"].per_pod == {p.name: 4.0 for p in later.observation.pods}
    assert later.decision.desired_replicas == 4


def test_closed_loop_scale_down_waits_for_the_window(tmp_path: Path) -> None:
    s = spec(behavior={"scaleDown": {"stabilizationWindowSeconds": 60}})
    rows = [f"{T0 + 15 * i},queue_depth,{p},{0 if i >= 1 else 4}" for i in range(12) for p in ("a", "b", "c", "d")]
    run = list(replay(s, recording(tmp_path, rows, s)))
    downs = [t for t in run if t.decision.action == "scale_down"]
    assert downs, "expected a scale-down once the window passed"
    # The seed (4 at T0) and the first tick's recommendation (4) hold the count for a
    # window strictly younger than 60 s: the first scale-down is at T0 + 60.
    assert downs[0].timestamp == T0 + 60
    assert downs[0].decision.desired_replicas == 1


def test_open_loop_follows_recorded_replicas_and_feeds_scale_events(tmp_path: Path) -> None:
    s = spec(behavior={"scaleUp": {"cooldownSeconds": 120}})
    rows = []
    for i in range(6):
        t = T0 + 15 * i
        n = 2 if i < 2 else 4
        rows.append(f"{t},replicas,,{n}")
        rows += [f"{t},queue_depth,p{j},12" for j in range(n)]
    run = list(replay(s, recording(tmp_path, rows, s)))
    assert [t.decision.current_replicas for t in run] == [2, 2, 4, 4, 4, 4]
    assert run[0].decision.action == "scale_up"
    # The recording shows 2 -> 4 at T0+30: a scale-up, so the 120 s up-cooldown holds.
    assert run[2].decision.action == "hold"
    assert run[2].decision.reason_code == "Cooldown"


def test_open_loop_unready_pods_from_recording(tmp_path: Path) -> None:
    rows = [f"{T0},replicas,,3", f"{T0},ready,c,0", f"{T0},queue_depth,a,6", f"{T0},queue_depth,b,6",
            f"{T0},queue_depth,c,0"]
    run = list(replay(spec(), recording(tmp_path, rows)))
    pods = {p.name: p.ready for p in run[0].observation.pods}
    assert pods == {"a": True, "b": True, "c": False}
    # c is loading (first seen now, startupSeconds 60): counted at 0 on the scale-up:
    # (6 + 6 + 0) / 3 = 4 -> ratio 1.0 -> hold at 3.
    assert run[0].decision.desired_replicas == 3


def test_stale_samples_count_as_missing(tmp_path: Path) -> None:
    # One sample at T0, then only replicas rows: after two polling intervals (30 s) the
    # queue sample is stale and the metric is unavailable -> hold, never scale down.
    rows = [f"{T0},replicas,,3", f"{T0},queue_depth,a,0"] + [f"{T0 + 15 * i},replicas,,3" for i in range(1, 6)]
    run = list(replay(spec(), recording(tmp_path, rows)))
    assert run[1].decision.metrics_available
    assert not run[2].decision.metrics_available
    assert all(t.decision.desired_replicas >= 3 for t in run[2:])
    assert run[2].decision.reason_code == "FailedGetMetrics"


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_non_numbers_and_negatives_are_missing_data(tmp_path: Path, value: str) -> None:
    rows = [f"{T0},replicas,,4"] + [f"{T0},queue_depth,p{j},{value}" for j in range(4)]
    run = list(replay(spec(), recording(tmp_path, rows)))
    assert run[0].decision.action == "hold"
    assert not run[0].decision.metrics_available


def test_prometheus_metric_target_wide(tmp_path: Path) -> None:
    s = spec(metrics=[{"type": "Prometheus", "name": "tokens", "query": "sum(rate(x[1m]))",
                       "target": {"averageValue": 2500}}])
    rows = [f"{T0},replicas,,2", f"{T0},tokens,,12000"]
    run = list(replay(s, recording(tmp_path, rows, s)))
    # ceil(12000 / 2500) = 5
    assert run[0].decision.desired_replicas == 5
