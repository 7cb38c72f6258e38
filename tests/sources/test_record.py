"""``gpu-autoscaler record``: Contract 3 CSV from a real Prometheus that the dry-run's
reader accepts and replays; plus the pure pieces (times, durations, chunks) as tables."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoscaler.cli import main
from autoscaler.recording.reader import load_recording
from autoscaler.recording.writer import MAX_POINTS, chunks
from autoscaler.spec import load_scaler
from autoscaler.times import parse_duration
from autoscaler.times import parse_time_from as parse_time
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
    # the one rule (autoscaler/times.py): a time without a zone is UTC, everywhere
    pytest.param("2026-11-29T06:00:00", 1795932000, id="no-zone-is-utc"),
])
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "now-soon", "1795932000000", "10000-01-01T00:00:00Z", "9" * 5000,
                                  "now-200y", "inf", "nan", "-1"])
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


def test_record_writes_what_dry_run_replays(world: World, tmp_path: Path) -> None:
    ns = "rec-ksm"
    _seed(world, ns, ksm=True)
    scaler, out, rows = world.record(tmp_path, SCALER.format(ns=ns))
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
    _, _, rows = world.record(tmp_path, SCALER.format(ns=ns))
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


def test_record_says_what_it_will_do_and_shows_progress(world: World, tmp_path: Path) -> None:
    # 3 h at 1 s: 10,801 points a series, 2 chunks of at most 10,000; per chunk 5 queries
    # (queue depth, GPU, tokens, replicas, ready) -> 10 range queries
    ns = "rec-progress"
    _seed(world, ns, ksm=True)
    scaler = tmp_path / "scaler.yaml"
    scaler.write_text(SCALER.format(ns=ns))
    out = tmp_path / "rec.csv"
    result = CliRunner().invoke(main, ["record", "--prometheus", world.prometheus.url, "--scaler", str(scaler),
                                       "--start", "now-3h", "--end", "now", "--step", "1s", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "10,801 points per series every 1 s, 2 chunk(s), 10 range queries" in result.stderr
    assert "chunk 1/2 (50%)" in result.stderr and "chunk 2/2 (100%)" in result.stderr
    assert load_recording(out, load_scaler(scaler).spec).open_loop


class _CountingSource:
    """A RangeSource (the layer below the writer) that answers one flat series per
    query and counts the queries it was sent."""

    def __init__(self) -> None:
        self.queries = 0

    def query_range(self, query: str, start: float, end: float, step: float) -> list:
        from autoscaler.sources.prometheus import RangeSeries

        self.queries += 1
        points = tuple((start + i * step, 1.0) for i in range(int((end - start) // step) + 1))
        return [RangeSeries({"pod": "llm-5c4bd6f7d-x2x9z"}, points)]


def test_rows_stream_one_chunk_at_a_time(tmp_path: Path) -> None:
    """The first rows come after one chunk's queries, not all of them: memory holds a
    chunk (10,000 timestamps), however long the range."""
    from autoscaler.recording.writer import plan, record_chunks
    from autoscaler.sources.signals import series_for

    scaler_file = tmp_path / "scaler.yaml"
    scaler_file.write_text(SCALER.format(ns="x"))
    scaler = load_scaler(scaler_file)
    source = _CountingSource()
    start, end = 0, 3 * MAX_POINTS - 1  # 30,000 points at 1 s: 3 chunks
    cost = plan(scaler, start, end, 1)
    assert (cost.points, cost.chunks) == (30_000, 3)
    stream = record_chunks(source, scaler, dict(series_for("ours")), start, end, 1)
    first = next(stream)
    assert source.queries == cost.queries // cost.chunks  # one chunk's worth
    assert max(r.timestamp for r in first) == MAX_POINTS - 1
    rest = list(stream)
    assert source.queries == cost.queries and len(rest) == 2
