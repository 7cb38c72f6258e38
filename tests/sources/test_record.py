"""``gpu-autoscaler record``: Contract 3 CSV from a real Prometheus that the dry-run's
reader accepts and replays; plus the pure pieces (times, durations, chunks) as tables."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoscaler.cli import main
from autoscaler.recording.reader import load_recording
from autoscaler.recording.writer import MAX_POINTS, chunks, parse_duration, parse_time
from autoscaler.spec import load_scaler
from simulations.cluster.prometheus import free_port
from tests.sources.conftest import World

NOW = 1_800_000_000.0
POD_A, POD_B = "llm-5c4bd6f7d-x2x9z", "llm-5c4bd6f7d-q8w4t"
OTHER = "llm-big-5c4bd6f7d-x2x9z"  # another Deployment whose name starts with "llm-"

SCALER = """\
apiVersion: gpuautoscaler.io/v1alpha1
kind: GPUScaler
metadata: {{name: llm, namespace: {ns}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: llm}}
  maxReplicas: 8
  pollingIntervalSeconds: 1
  metrics:
    - type: QueueDepth
      target: {{averageValue: 4}}
    - type: GPUUtilization
      signal: smActive
      target: {{averageUtilization: 70}}
    - type: Prometheus
      name: tokens_per_second
      query: sum(tokens_probe{{namespace="{ns}"}})
      target: {{value: 1000}}
"""


@pytest.mark.parametrize("text, seconds", [
    pytest.param("15s", 15, id="seconds"), pytest.param("1m", 60, id="minutes"),
    pytest.param("1.5h", 5400, id="fractional-hours"), pytest.param("30", 30, id="bare-number"),
    pytest.param("1d", 86400, id="days"), pytest.param("250ms", 0.25, id="milliseconds"),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text, expected", [
    pytest.param("now", NOW, id="now"),
    pytest.param("now-1h", NOW - 3600, id="relative"),
    pytest.param("1795934400", 1795934400, id="unix-seconds"),
    pytest.param("2026-11-29T06:00:00Z", 1795932000, id="rfc3339-utc"),
    pytest.param("2026-11-29T07:00:00+01:00", 1795932000, id="rfc3339-offset"),
])
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-11-29T06:00:00", "now-soon"])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text, NOW)


@pytest.mark.parametrize("start, end, step, pieces", [
    pytest.param(0, 100, 1, [(0, 100)], id="one-piece"),
    # 1 day at 1 s is 86,401 points: 9 pieces of <= 10,000, no timestamp twice.
    pytest.param(0, 86400, 1, [(i * MAX_POINTS, min(86400, i * MAX_POINTS + MAX_POINTS - 1)) for i in range(9)],
                 id="a-day-at-1s"),
    pytest.param(0, 15 * MAX_POINTS, 15, [(0, 15 * (MAX_POINTS - 1)), (15 * MAX_POINTS, 15 * MAX_POINTS)],
                 id="one-over"),
])
def test_chunks(start: float, end: float, step: float, pieces: list[tuple[float, float]]) -> None:
    assert chunks(start, end, step) == pieces
    assert all((e - s) / step + 1 <= MAX_POINTS for s, e in pieces)


def _seed(world: World, ns: str, *, ksm: bool) -> None:
    e = world.exposition
    e.set("inference_queue_depth", {"namespace": ns, "pod": POD_A}, 6)
    e.set("inference_queue_depth", {"namespace": ns, "pod": POD_B}, 2)
    e.set("inference_queue_depth", {"namespace": ns, "pod": OTHER}, 99)
    e.set("gpu_sm_active_ratio", {"namespace": ns, "pod": POD_A, "gpu": "0"}, 0.5)
    e.set("gpu_sm_active_ratio", {"namespace": ns, "pod": POD_B, "gpu": "1"}, 0.25)
    e.set("tokens_probe", {"namespace": ns}, 1200)
    if ksm:
        e.set("kube_deployment_spec_replicas", {"namespace": ns, "deployment": "llm"}, 2)
        e.set("kube_pod_status_ready", {"namespace": ns, "pod": POD_A, "condition": "true"}, 1)
        e.set("kube_pod_status_ready", {"namespace": ns, "pod": POD_B, "condition": "true"}, 0)
    world.prometheus.wait_for(f'inference_queue_depth{{namespace="{ns}"}}', timeout=15,
                              predicate=lambda r: len(r) == 3)
    time.sleep(2.2)  # a few scrapes' worth of history


def _record(world: World, tmp_path: Path, ns: str) -> tuple[Path, Path, list[list[str]]]:
    scaler = tmp_path / "scaler.yaml"
    scaler.write_text(SCALER.format(ns=ns))
    out = tmp_path / "rec.csv"
    result = CliRunner().invoke(main, ["record", "--prometheus", world.prometheus.url, "--scaler", str(scaler),
                                       "--start", "now-3s", "--end", "now", "--step", "1s", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    return scaler, out, rows


def test_record_writes_what_dry_run_replays(world: World, tmp_path: Path) -> None:
    ns = "rec-ksm"
    _seed(world, ns, ksm=True)
    scaler, out, rows = _record(world, tmp_path, ns)
    assert rows[0] == ["timestamp", "metric", "pod", "value"]
    body = rows[1:]
    assert {r[2] for r in body if r[1] == "queue_depth"} == {POD_A, POD_B}  # not llm-big's pod
    assert {(r[2], float(r[3])) for r in body if r[1] == "gpu_utilization"} == {(POD_A, 50.0), (POD_B, 25.0)}
    assert {float(r[3]) for r in body if r[1] == "tokens_per_second"} == {1200.0}
    assert {r[3] for r in body if r[1] == "replicas"} == {"2"}  # kube-state-metrics
    assert {(r[2], r[3]) for r in body if r[1] == "ready"} == {(POD_A, "1"), (POD_B, "0")}
    assert all(r[0].isdigit() for r in body)  # whole Unix seconds
    assert [float(r[0]) for r in body] == sorted(float(r[0]) for r in body)

    recording = load_recording(out, load_scaler(scaler).spec)
    assert recording.open_loop
    replay = CliRunner().invoke(main, ["dry-run", str(scaler), str(out), "--output", "json"])
    assert replay.exit_code == 0, replay.output
    ticks = [json.loads(line) for line in replay.output.splitlines() if line.startswith("{")]
    assert ticks and ticks[-1]["current_replicas"] == 2
    # The replay reads the recording as the controller read Prometheus: POD_B is not
    # Ready, so its sample is set aside and the queue is POD_A's 6, not (6 + 2) / 2.
    assert ticks[-1]["metrics"]["queue_depth"]["value"] == 6
    assert ticks[-1]["metrics"]["gpu_utilization"]["value"] == 50


def test_without_kube_state_metrics_replicas_are_the_pods_with_samples(world: World, tmp_path: Path) -> None:
    ns = "rec-plain"
    _seed(world, ns, ksm=False)
    _, _, rows = _record(world, tmp_path, ns)
    assert {r[3] for r in rows[1:] if r[1] == "replicas"} == {"2"}
    assert not [r for r in rows[1:] if r[1] == "ready"]


@pytest.mark.parametrize("args, message", [
    pytest.param(["--step", "abc"], "--step", id="bad-step"),
    pytest.param(["--step", "0.5s"], "whole seconds", id="fractional-step"),
    pytest.param(["--start", "now", "--end", "now-1h"], "after --start", id="end-before-start"),
    pytest.param(["--start", "yesterday"], "--start/--end", id="bad-time"),
])
def test_record_bad_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    scaler = tmp_path / "scaler.yaml"
    scaler.write_text(SCALER.format(ns="x"))
    base = {"--prometheus": "http://127.0.0.1:9", "--scaler": str(scaler), "--start": "now-1h", "-o":
            str(tmp_path / "o.csv")}
    for k, v in zip(args[::2], args[1::2], strict=True):
        base[k] = v
    result = CliRunner().invoke(main, ["record", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 2 and message in result.output


def test_record_invalid_scaler_exit_2(tmp_path: Path) -> None:
    scaler = tmp_path / "scaler.yaml"
    scaler.write_text(SCALER.format(ns="x").replace("maxReplicas: 8", "maxReplicas: 0"))
    result = CliRunner().invoke(main, ["record", "--prometheus", "http://127.0.0.1:9", "--scaler", str(scaler),
                                       "--start", "now-1h", "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and "spec.maxReplicas" in result.output


def test_record_prometheus_down_exit_1(tmp_path: Path) -> None:
    scaler = tmp_path / "scaler.yaml"
    scaler.write_text(SCALER.format(ns="x"))
    result = CliRunner().invoke(main, ["record", "--prometheus", f"http://127.0.0.1:{free_port()}",
                                       "--scaler", str(scaler), "--start", "now-1h", "-o", str(tmp_path / "o.csv"),
                                       "--timeout", "1"])
    assert result.exit_code == 1 and "cannot connect to Prometheus" in result.output
    assert not (tmp_path / "o.csv").exists()
