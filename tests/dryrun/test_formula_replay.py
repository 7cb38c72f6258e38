"""A formula (``spec.formula``) through the dry-run: the replay decides with it, the reason
names the term that led, loading replicas buy no second scale-up, a stale named metric
holds, and ``--output json`` reports the formula in place of the metrics it names."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from autoscaler.cli import main
from autoscaler.dryrun import replay
from autoscaler.recording.reader import Recording, load_recording
from autoscaler.spec import GPUScalerSpec, parse_spec

T0 = 1_800_000_000
REPO = Path(__file__).resolve().parents[2]


def spec(expression: str, **target: float) -> GPUScalerSpec:
    return parse_spec({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
        "maxReplicas": 10, "pollingIntervalSeconds": 15, "startupSeconds": 60,
        "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}},
                    {"type": "GPUUtilization", "target": {"averageUtilization": 70}}],
        "formula": {"expression": expression, "target": target or {"averageValue": 1}},
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
    })


def recording(tmp_path: Path, rows: list[str], s: GPUScalerSpec) -> Recording:
    p = tmp_path / "rec.csv"
    rows = sorted(rows, key=lambda r: int(r.split(",")[0]))  # a recording is in time order
    p.write_text("timestamp,metric,pod,value\n" + "\n".join(rows) + "\n")
    return load_recording(p, s)


def test_closed_loop_scales_once_for_one_load(tmp_path: Path) -> None:
    s = spec("queue_depth", averageValue=4)
    rows = [f"{T0 + 15 * i},queue_depth,{p},8" for i in range(10) for p in ("a", "b")]
    rows += [f"{T0 + 15 * i},gpu_utilization,{p},50" for i in range(10) for p in ("a", "b")]
    run = list(replay(s, recording(tmp_path, rows, s)))
    first, second = run[0].decision, run[1].decision
    # 8 + 8 = 16 waiting / 4 a replica: ceil(16 / 4) = 4
    assert (first.current_replicas, first.desired_replicas) == (2, 4)
    assert first.reason == "formula (queue_depth led) 16 (target 4) asks 4; 2 -> 4"
    # the 16 waiting still sit on the 2 ready pods; the 2 loading ones are part of the count
    # asked: 16 / 4 = 4, a hold (blind to them: 4 + 2 = 6)
    assert (second.current_replicas, second.desired_replicas, second.reason_code) == (4, 4, "Loading")
    assert "Loading 6->4" in second.reason


def test_open_loop_names_the_term_that_led_and_a_stale_named_metric_holds(tmp_path: Path) -> None:
    s = spec("max(queue_depth / 4, gpu_utilization / 70)")
    rows = [f"{T0 + 15 * i},replicas,,2" for i in range(6)]
    # ticks 0-1: queue 1 + 1 = 2 -> 0.5; SM 80 + 80 = 160 % -> 2.29: the GPU leads, ceil(2.29) = 3
    # ticks 2-3: queue 10 + 10 = 20 -> 5: the queue leads, 5
    # ticks 4-5: no queue rows; the last ones (t = 45) are 30 s old at t = 75: missing -> hold at 2
    for i in range(4):
        rows += [f"{T0 + 15 * i},queue_depth,{p},{1 if i < 2 else 10}" for p in ("a", "b")]
    rows += [f"{T0 + 15 * i},gpu_utilization,{p},80" for i in range(6) for p in ("a", "b")]
    run = [t.decision for t in replay(s, recording(tmp_path, rows, s))]
    assert [(d.desired_replicas, d.leading_metric) for d in run[:4]] == [
        (3, "formula (gpu_utilization led)")] * 2 + [(5, "formula (queue_depth led)")] * 2
    assert run[0].reason == "formula (gpu_utilization led) 2.28571 (target 1) asks 3; 2 -> 3"
    assert (run[5].desired_replicas, run[5].reason_code, run[5].metrics_available) == (2, "FailedGetMetrics", False)
    assert run[5].reason.startswith("metrics unavailable (formula: queue_depth: ")


def test_cli_json_reports_the_formula_in_place_of_the_metrics_it_names() -> None:
    result = CliRunner().invoke(main, ["dry-run", str(REPO / "deploy/examples/llm-formula-scaler.yaml"),
                                       str(REPO / "deploy/examples/llm-ramp.csv"), "--output", "json"])
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all(set(r["metrics"]) == {"formula"} for r in lines)
    first = lines[0]
    assert first["metrics"]["formula"]["target"] == 1
    led = {r["reason"].split(")")[0] + ")" for r in lines}
    # the recording's ramp: SM activity leads while the queue is short, the queue in the burst
    assert led == {"formula (gpu_utilization led)", "formula (queue_depth led)"}
