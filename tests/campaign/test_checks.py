"""The campaign's invariant checks can fail: each is fed a planted breach (and a near miss).

The checks read only what a run records (fault windows, the emulator's write log,
status writes, Events), so a breach is planted by writing those records directly; a
real emulator (not started) stands in for the world. Milliseconds, no processes.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from simulations.cluster.apiserver import ApiServer
from tests.campaign.campaign import Schedule, Window
from tests.campaign.world import Recorder, ScalePatch, StatusWrite, Write

T = 1_800_000_000.0


def _schedule(tmp: Path) -> tuple[Schedule, Recorder]:
    api = ApiServer()
    schedule = Schedule(SimpleNamespace(api=api), 7, tmp)  # type: ignore[arg-type]
    schedule.recorder = Recorder(api, schedule.ns, {"w0": 4, "w1": 4, "w2": 4})
    schedule.stopped_at = T + 60
    return schedule, schedule.recorder


def _kinds(schedule: Schedule, prefix: str = "") -> list[str]:
    schedule._check()
    return [v.kind for v in schedule.report.violations if v.kind.startswith(prefix)]


def test_a_scale_down_inside_a_nan_window_is_a_violation_and_one_before_it_is_not(tmp_path: Path) -> None:
    s, rec = _schedule(tmp_path)
    s.windows.append(Window("metric_nan", T, T + 10, scaler="s0", invalid=True))
    rec.patches.append(ScalePatch(T + 0.5, "c1", "w0", 4, 2))  # decided on data from before the fault
    assert _kinds(s, "scale_down") == []
    s, rec = _schedule(tmp_path)
    s.windows.append(Window("metric_nan", T, T + 10, scaler="s0", invalid=True))
    rec.patches.append(ScalePatch(T + 5, "c1", "w0", 4, 2))
    assert _kinds(s, "scale_down") == ["scale_down_while_metrics_invalid"]


def test_a_write_by_a_controller_not_holding_the_lease_is_a_violation(tmp_path: Path) -> None:
    s, rec = _schedule(tmp_path)
    rec.writes.append(Write(T, "c1", "update", "gpuscalers", "status", "s0", 200, "c1"))
    rec.writes.append(Write(T + 1, "c2", "patch", "deployments", "scale", "w0", 200, "c1"))
    rec.renewals["c2"] = [T - 0.5]  # renewed just before: not the known renew-deadline overrun
    s._check()
    [v] = s.report.violations
    assert v.kind == "two_writers_in_a_term" and not v.known


def test_a_scale_down_below_a_recommendation_inside_the_window_is_a_violation(tmp_path: Path) -> None:
    s, rec = _schedule(tmp_path)  # s1: window 4 s
    rec.statuses.append(StatusWrite(T, "c1", "s1", (), ((T - 2, 5), (T - 1, 5))))
    rec.patches.append(ScalePatch(T + 1, "c2", "w1", 5, 2))  # 5 was recommended 2 s before
    assert _kinds(s) == ["scale_down_inside_window"]
    s, rec = _schedule(tmp_path)
    rec.statuses.append(StatusWrite(T, "c1", "s1", (), ((T - 2, 5), (T - 1, 2))))
    rec.patches.append(ScalePatch(T + 3, "c2", "w1", 5, 2))  # the 5 aged out (window 4 s)
    assert _kinds(s) == []


def test_a_failing_scaler_without_a_condition_or_an_event_is_a_violation(tmp_path: Path) -> None:
    s, rec = _schedule(tmp_path)
    s.windows.append(Window("metric_missing", T, T + 8, scaler="s2", invalid=True))
    rec.statuses.append(StatusWrite(T + 1.2, "c1", "s2", (("ScalingActive", "True", "ValidMetricFound"),), ()))
    assert _kinds(s) == ["no_condition_within_a_poll"]
    s, rec = _schedule(tmp_path)
    s.windows.append(Window("metric_missing", T, T + 8, scaler="s2", invalid=True))
    rec.statuses.append(StatusWrite(T + 1.2, "c1", "s2", (("ScalingActive", "False", "FailedGetMetrics"),), ()))
    assert _kinds(s) == ["no_event_within_a_poll"]  # the condition, but no Warning Event
