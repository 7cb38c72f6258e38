"""The dry-run with a metric ``window``: the replay decides on the smoothed values, as
the controller would (autoscaler/core/window.py between observe and decide)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from autoscaler.cli import main
from autoscaler.dryrun import replay
from autoscaler.recording.reader import load_recording
from autoscaler.spec import GPUScalerSpec, parse_spec

T0 = 1_800_000_000
QUEUE = {"type": "QueueDepth", "target": {"averageValue": 4}}


def scaler(window: str | None) -> dict[str, Any]:
    metric = QUEUE if window is None else QUEUE | {"window": window}
    return {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
            "maxReplicas": 16, "pollingIntervalSeconds": 15, "metrics": [metric],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}


def spec(window: str | None) -> GPUScalerSpec:
    return parse_spec(scaler(window))


#: Two pods at 4 waiting each (on target) for 45 s, one poll at 16 each, then 4 again; 2 replicas ran.
QUEUES = [4, 4, 4, 16, 4, 4, 4, 4]


def recording(tmp_path: Path, *, open_loop: bool) -> Path:
    rows = []
    for i, depth in enumerate(QUEUES):
        t = T0 + 15 * i
        rows += [f"{t},queue_depth,a,{depth}", f"{t},queue_depth,b,{depth}"]
        if open_loop:
            rows.append(f"{t},replicas,,2")
    p = tmp_path / "rec.csv"
    p.write_text("timestamp,metric,pod,value\n" + "\n".join(rows) + "\n")
    return p


def test_open_loop_decides_on_the_window_mean(tmp_path: Path) -> None:
    path = recording(tmp_path, open_loop=True)
    raw = [t.decision for t in replay(spec(None), load_recording(path, spec(None)))]
    smoothed = [t for t in replay(spec("60s"), load_recording(path, spec("60s")))]
    # The burst alone: ceil(16 / 4 x 2) = 8, which the scale-up policy (Pods 4) cuts
    # to 6. Over 60 s: (4 + 4 + 4 + 16) / 4 = 7 a pod,
    # ceil(7 / 4 x 2) = 4, and 4 while the burst is in the window (three more polls);
    # at t=105 it has left: 4 a pod, on target, 2.
    assert raw[3].proposals[0].replicas == 8
    assert [d.desired_replicas for d in raw] == [2, 2, 2, 6, 2, 2, 2, 2]
    assert [t.decision.desired_replicas for t in smoothed] == [2, 2, 2, 4, 4, 4, 4, 2]
    assert smoothed[3].observation.metrics["queue_depth"].per_pod == {"a": 7.0, "b": 7.0}
    assert {p.key: p.usage for p in smoothed[3].decision.proposals} == {"queue_depth": 7.0}


def test_closed_loop_smooths_the_recorded_load(tmp_path: Path) -> None:
    path = recording(tmp_path, open_loop=False)
    raw = [t.decision.desired_replicas for t in replay(spec(None), load_recording(path, spec(None)))]
    smoothed = [t.decision.desired_replicas for t in replay(spec("60s"), load_recording(path, spec("60s")))]
    # The recorded 32 waiting spread over 2 ready replicas: 16 each, ceil(4 x 2) = 8,
    # 6 by the scale-up policy; smoothed, 7 a recorded pod, 14 over 2: 7 each, ceil(1.75 x 2) = 4.
    assert raw[:4] == [2, 2, 2, 6]
    assert smoothed[:4] == [2, 2, 2, 4]


def test_cli_json_reports_the_smoothed_value(tmp_path: Path) -> None:
    path = recording(tmp_path, open_loop=True)
    doc = {"apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
           "metadata": {"name": "llm", "namespace": "serving"}, "spec": scaler("1m")}
    scaler_file = tmp_path / "scaler.yaml"
    scaler_file.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(main, ["dry-run", str(scaler_file), str(path), "--output", "json"])
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["metrics"]["queue_depth"]["value"] for line in lines] == [4, 4, 4, 7, 7, 7, 7, 4]
    assert [line["desired_replicas"] for line in lines] == [2, 2, 2, 4, 4, 4, 4, 2]


def test_open_loop_decides_on_the_look_ahead(tmp_path: Path) -> None:
    """Two pods whose queues climb 4, 6, 8 each (8, 12, 16 in all): reactive, ceil(16 / 4) = 4
    at the third poll; 30 s ahead, 16 + 30 x 4/15 = 24, ceil(24 / 4) = 6, and the JSON
    line shows the lifted samples the decision used."""
    rows = []
    for i, depth in enumerate([4, 6, 8]):
        t = T0 + 15 * i
        rows += [f"{t},queue_depth,a,{depth}", f"{t},queue_depth,b,{depth}", f"{t},replicas,,2"]
    path = tmp_path / "rec.csv"
    path.write_text("timestamp,metric,pod,value\n" + "\n".join(rows) + "\n")
    metric = QUEUE | {"lookAhead": {"ahead": "30s"}}
    body = scaler(None) | {"metrics": [metric], "maxReplicas": 16,
                           "behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 16, "periodSeconds": 15}]}}}
    doc = {"apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
           "metadata": {"name": "llm", "namespace": "serving"}, "spec": body}
    scaler_file = tmp_path / "scaler.yaml"
    scaler_file.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(main, ["dry-run", str(scaler_file), str(path), "--output", "json"])
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["desired_replicas"] for line in lines] == [2, 3, 6]
    assert lines[2]["metrics"]["queue_depth"]["value"] == 12  # 8 + 4 a pod
    no_trend = {**doc, "spec": body | {"metrics": [QUEUE]}}
    scaler_file.write_text(yaml.safe_dump(no_trend))
    result = CliRunner().invoke(main, ["dry-run", str(scaler_file), str(path), "--output", "json"])
    assert [json.loads(line)["desired_replicas"] for line in result.stdout.splitlines()] == [2, 3, 4]
