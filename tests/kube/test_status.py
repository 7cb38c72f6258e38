"""status.py: the Memory round trip through status.memory and Contract 1's status (pure, no HTTP)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.core import MetricObservation, Observation, PodState, decide
from autoscaler.core.stabilization import record_recommendation, stabilize
from autoscaler.core.types import Condition, Memory, Recommendation, ScaleEvent, Startup
from autoscaler.kube.status import build_status, format_time, memory_from_status, memory_to_status, parse_time
from autoscaler.kube.types import ScalerObject
from autoscaler.spec import parse_spec

CRD = Path(__file__).resolve().parents[2] / "deploy" / "crd" / "gpuscalers.gpuautoscaler.io.yaml"
T0 = 1_795_933_600.25  # exact in binary and at microseconds
SPEC = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 8,
        "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}},
                    {"type": "Prometheus", "name": "tps", "query": "sum(x)", "target": {"value": 100}}]}
SCALER = ScalerObject("ns", "llm", "uid-1", 3, "17", SPEC)
FULL = Memory(
    recommendations=(Recommendation(T0, 2), Recommendation(T0 + 15, 6)),
    scale_events=(ScaleEvent(T0 + 15, "up", 4), ScaleEvent(T0 + 400.5, "down", 1)),
    consecutive_failures=2, last_scale_up_time=T0 + 15, last_scale_down_time=T0 + 400.5,
    startups=(Startup("llm-a", T0 - 40, 95.0), Startup("llm-b", T0 - 40, 112.5)), startups_since=T0 - 3600)


@pytest.mark.parametrize("memory", [
    pytest.param(Memory(), id="empty"),
    pytest.param(FULL, id="full"),
    pytest.param(Memory(recommendations=(Recommendation(T0 + 0.123456, 1),)), id="microseconds"),
])
def test_memory_round_trip(memory: Memory) -> None:
    assert memory_from_status({"memory": memory_to_status(memory)}) == memory


def test_memory_layout() -> None:
    assert memory_to_status(FULL) == {
        "recommendations": [{"timestamp": "2026-11-29T06:26:40.250000Z", "replicas": 2},
                            {"timestamp": "2026-11-29T06:26:55.250000Z", "replicas": 6}],
        "scaleEvents": [{"timestamp": "2026-11-29T06:26:55.250000Z", "direction": "up", "replicas": 4},
                        {"timestamp": "2026-11-29T06:33:20.750000Z", "direction": "down", "replicas": 1}],
        "consecutiveFailures": 2,
        "lastScaleUpTime": "2026-11-29T06:26:55.250000Z",
        "lastScaleDownTime": "2026-11-29T06:33:20.750000Z",
        "startups": [{"pod": "llm-a", "readyTime": "2026-11-29T06:26:00.250000Z", "seconds": 95.0},
                     {"pod": "llm-b", "readyTime": "2026-11-29T06:26:00.250000Z", "seconds": 112.5}],
        "startupsSince": "2026-11-29T05:26:40.250000Z",
    }


@pytest.mark.parametrize("text,expected", [
    pytest.param("2026-11-29T06:26:40.250000Z", T0, id="ours"),
    pytest.param("2026-11-29T06:26:40.25+00:00", T0, id="offset"),
    pytest.param("2026-11-29T07:26:40.25+01:00", T0, id="other zone"),
    pytest.param("2026-11-29T06:26:40Z", T0 - 0.25, id="whole seconds"),
])
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text) == expected
    assert parse_time(format_time(expected)) == expected


@pytest.mark.parametrize("status,expected", [
    pytest.param({}, Memory(), id="no memory"),
    pytest.param({"memory": "junk"}, Memory(), id="not a mapping"),
    pytest.param({"memory": {"recommendations": [{"timestamp": "yesterday", "replicas": 3},
                                                 {"timestamp": "2026-11-29T06:26:40.25Z", "replicas": -1},
                                                 {"timestamp": "2026-11-29T06:26:40.25Z", "replicas": 2}],
                             "scaleEvents": [{"timestamp": "2026-11-29T06:26:40.25Z", "direction": "sideways",
                                              "replicas": 1}],
                             "consecutiveFailures": "many", "lastScaleUpTime": 12}},
                 Memory(recommendations=(Recommendation(T0, 2),)), id="bad entries dropped"),
])
def test_malformed_memory_is_dropped_not_raised(status: dict[str, Any], expected: Memory) -> None:
    assert memory_from_status(status) == expected


def scale_up_decision() -> Any:
    spec = parse_spec(SPEC)
    obs = Observation(current_replicas=2, pods=(PodState("a"), PodState("b")),
                      metrics={"queue_depth": MetricObservation(per_pod={"a": 12, "b": 12}),
                               "tps": MetricObservation(value=math.nan)})
    return decide(spec, obs, Memory(), T0)


def test_build_status_contract_1() -> None:
    status = build_status(scale_up_decision(), SCALER, T0)
    assert {k: v for k, v in status.items() if k not in ("conditions", "memory")} == {
        "observedGeneration": 3, "currentReplicas": 2, "desiredReplicas": 6,  # ceil(2 * 12/4) = 6
        "lastScaleTime": format_time(T0),
        "currentMetrics": [{"name": "queue_depth", "value": 12.0, "target": 4.0},
                           {"name": "tps", "target": 100.0}],  # NaN left out: JSON has none
        "leadingMetric": "queue_depth"}
    assert [(c["type"], c["status"], c["reason"], c["lastTransitionTime"]) for c in status["conditions"]] == [
        ("AbleToScale", "True", "ReadyForNewScale", format_time(T0)),
        ("ScalingActive", "True", "ValidMetricFound", format_time(T0)),
        ("ScalingLimited", "False", "DesiredWithinRange", format_time(T0)),
        ("MetricsAvailable", "False", "FailedGetMetrics", format_time(T0)),
        ("CapacityAvailable", "True", "Scheduled", format_time(T0))]
    assert memory_from_status(status) == scale_up_decision().memory


def test_not_applied_keeps_memory_without_the_scale_event() -> None:
    decision = scale_up_decision()
    status = build_status(decision, SCALER, T0, applied=False,
                          overrides=[Condition("AbleToScale", "False", "FailedUpdateScale", "403 Forbidden")])
    assert memory_from_status(status) == decision.memory_if_not_applied
    assert "lastScaleTime" not in status
    assert status["conditions"][0]["reason"] == "FailedUpdateScale"


@pytest.mark.parametrize("previous_status,kept", [
    pytest.param("True", True, id="same status keeps lastTransitionTime"),
    pytest.param("False", False, id="changed status moves it to now"),
])
def test_last_transition_time(previous_status: str, kept: bool) -> None:
    earlier = format_time(T0 - 600)
    previous = [{"type": "ScalingActive", "status": previous_status, "reason": "Old", "message": "",
                 "lastTransitionTime": earlier},
                {"type": "Custom", "status": "True", "reason": "Kept", "lastTransitionTime": earlier}]
    conditions = build_status(scale_up_decision(), SCALER, T0, previous)["conditions"]
    active = next(c for c in conditions if c["type"] == "ScalingActive")
    assert active["lastTransitionTime"] == (earlier if kept else format_time(T0))
    assert active["reason"] == "ValidMetricFound"
    assert conditions[-1]["reason"] == "Kept"  # a type the decision does not speak to stays


def test_bound_without_scaling_limited_condition_is_derived() -> None:
    spec = parse_spec(SPEC)
    decision = decide(spec, Observation(current_replicas=12), Memory(), T0)
    limited = next(c for c in build_status(decision, SCALER, T0)["conditions"] if c["type"] == "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "TooManyReplicas")


def test_status_validates_against_the_crd_schema() -> None:
    """The status we write must pass deploy/crd's schema, or the API server rejects (or prunes) it."""
    jsonschema = pytest.importorskip("jsonschema")
    if not CRD.exists():
        pytest.skip("deploy/crd not present")
    crd = yaml.safe_load(CRD.read_text())
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    status = build_status(scale_up_decision(), SCALER, T0)
    for compact in (False, True):
        status["memory"] = memory_to_status(FULL, compact=compact)
        jsonschema.validate(status, schema, format_checker=jsonschema.FormatChecker())
        _no_pruned_fields(status, schema, "status")


def _no_pruned_fields(value: Any, schema: dict[str, Any], path: str) -> None:
    """Structural schemas prune unknown fields silently: every key we write must be declared."""
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            assert key in schema["properties"], f"{path}.{key} is not in the CRD schema (would be pruned)"
            _no_pruned_fields(item, schema["properties"][key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _no_pruned_fields(item, schema["items"], f"{path}[{i}]")


# --------------------------------------------------------------------------- compact memory
def _recs(*pairs: tuple[float, int]) -> tuple[Recommendation, ...]:
    return tuple(Recommendation(T0 + t, n) for t, n in pairs)


@pytest.mark.parametrize("history,previous,written", [
    pytest.param(_recs((0, 5), (15, 5), (30, 5), (45, 3), (60, 3)), (), _recs((0, 5), (30, 5), (45, 3)),
                 id="finished run: first and last; newest run: first"),
    pytest.param(_recs((0, 5), (15, 3), (30, 5)), (), _recs((0, 5), (15, 3), (30, 5)), id="no runs: as is"),
    pytest.param(_recs((300, 4), (315, 4)), _recs((0, 4)), _recs((0, 4)),
                 id="a run older than the core remembers keeps its first entry from status"),
    pytest.param(_recs((300, 4), (315, 4)), _recs((0, 2)), _recs((300, 4)), id="status showed another run"),
    pytest.param(_recs((200, 6), (300, 4)), _recs((100, 4)), _recs((200, 6), (300, 4)),
                 id="status's run of 4 ended before the 6: not the same run"),
])
def test_compact_recommendations(history: tuple[Recommendation, ...], previous: tuple[Recommendation, ...],
                                 written: tuple[Recommendation, ...]) -> None:
    status = {"memory": memory_to_status(Memory(recommendations=previous), compact=True)} if previous else None
    assert memory_from_status({"memory": memory_to_status(Memory(recommendations=history), status, compact=True)}) \
        == Memory(recommendations=written)


def test_a_steady_scaler_writes_the_same_status_poll_after_poll() -> None:
    """The status of poll k+1 equals that of poll k when the numbers hold: nothing to write."""
    spec = parse_spec(SPEC)
    obs = Observation(current_replicas=2, pods=(PodState("a"), PodState("b")),
                      metrics={"queue_depth": MetricObservation(per_pod={"a": 4, "b": 4}),
                               "tps": MetricObservation(value=100.0)})
    scaler, memory, statuses = SCALER, Memory(), []
    for k in range(40):  # 10 minutes at 15 s: longer than the 300 s window the core remembers
        now = T0 + 15 * k
        decision = decide(spec, obs, memory, now)
        memory = decision.memory
        status = build_status(decision, scaler, now, scaler.status.get("conditions"))
        # as KubeScalerStore(compact_memory=True) writes it:
        status["memory"] = memory_to_status(memory_from_status(status), scaler.status, compact=True)
        statuses.append(status)
        scaler = ScalerObject("ns", "llm", "uid-1", 3, str(k), SPEC, status)
    assert all(s == statuses[0] for s in statuses[1:])


def test_new_leader_holds_the_newest_run_until_it_took_over() -> None:
    """A steady 5 since T0, last polled at T0 + 600 (status still says 5@T0); B takes over
    at T0 + 610: 5 held until T0 + 610 - 1 ms, inside B's 300 s window."""
    status = {"memory": memory_to_status(Memory(recommendations=_recs((0, 5), (600, 5))), compact=True)}
    memory = memory_from_status(status, T0 + 610)
    assert memory.recommendations == (Recommendation(T0, 5), Recommendation(T0 + 610 - 0.001, 5))
    assert memory_from_status(status).recommendations == (Recommendation(T0, 5),)  # the writer's own read-back
    whole = {"memory": memory_to_status(Memory(recommendations=_recs((0, 5), (600, 5))))}
    assert memory_from_status(whole, T0 + 610).recommendations == _recs((0, 5), (600, 5))  # the former format


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.integers(1, 6), min_size=1, max_size=40),
       down_window=st.sampled_from([0.0, 10.0, 15.0, 60.0, 300.0]), up_window=st.sampled_from([0.0, 30.0]),
       gap=st.floats(0.5, 400.0), later=st.lists(st.integers(1, 6), max_size=25))
def test_a_new_leader_never_scales_down_earlier_with_the_compact_memory(
        values: list[int], down_window: float, up_window: float, gap: float, later: list[int]) -> None:
    """Leader A polls every 15 s recommending ``values``; B takes over ``gap`` s after A's last
    poll and goes on with proposals ``later``. At every poll of B, the scale-down ceiling
    from the compact status memory is at least the one from A's full memory (so B never
    scales down earlier, and the stabilized count is never lower)."""
    full = tuple(Recommendation(T0 + 15 * i, v) for i, v in enumerate(values))
    now = full[-1].timestamp + gap
    status = {"memory": memory_to_status(Memory(recommendations=full), compact=True)}
    compact = memory_from_status(status, now).recommendations
    for k, proposal in enumerate(later or [1]):
        t = now + 15 * k
        a = stabilize(3, proposal, full, up_window, down_window, t)
        b = stabilize(3, proposal, compact, up_window, down_window, t)
        assert b.down_ceiling >= a.down_ceiling
        if b.replicas < 3:  # B scales down from 3: A would have gone at least as low
            assert a.replicas <= b.replicas
        full = record_recommendation(full, proposal, up_window, down_window, t)
        compact = record_recommendation(compact, proposal, up_window, down_window, t)


@pytest.mark.parametrize("startups,kept", [
    pytest.param([{"pod": "a", "readyTime": "2026-11-29T06:00:00Z", "seconds": 95}], ["a"], id="kept"),
    pytest.param([{"pod": "a", "readyTime": "yesterday", "seconds": 95}, {"pod": "b", "seconds": 95},
                  {"pod": "c", "readyTime": "2026-11-29T06:00:00Z", "seconds": -1},
                  {"pod": "d", "readyTime": "2026-11-29T06:00:00Z", "seconds": True}, "e"], [],
                 id="malformed entries are dropped"),
])
def test_startups_read_leniently(startups: list[Any], kept: list[str]) -> None:
    memory = memory_from_status({"memory": {"startups": startups}})
    assert [s.pod for s in memory.startups] == kept
