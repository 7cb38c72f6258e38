"""The gpu-autoscaler CLI's exit codes and messages: 0 success, 2 bad input naming the
file, the line or field and what was expected — never a traceback."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoscaler.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SCALER = REPO / "deploy/examples/llm-scaler.yaml"
EXAMPLE_CSV = REPO / "deploy/examples/llm-ramp.csv"

SCALER = """\
apiVersion: gpuautoscaler.io/v1alpha1
kind: GPUScaler
metadata: {name: llm, namespace: serving}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: llm}
  maxReplicas: 10
  pollingIntervalSeconds: 15
  metrics:
    - type: QueueDepth
      target: {averageValue: 4}
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def scaler(tmp_path: Path) -> Path:
    p = tmp_path / "scaler.yaml"
    p.write_text(SCALER)
    return p


def write_csv(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "metrics.csv"
    p.write_text(body)
    return p


def test_validate_ok(scaler: Path) -> None:
    code, out, _ = run("validate", str(scaler))
    assert code == 0
    assert out.startswith(f"OK: {scaler}")


def test_validate_bad_field_names_path_and_expectation(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(SCALER.replace("maxReplicas: 10", "maxReplicas: ten").replace(
        "averageValue: 4", "averageValue: -1"))
    code, out, err = run("validate", str(p))
    assert code == 2
    assert out == ""
    assert f"{p}: spec.maxReplicas: expected an integer, got a string ('ten')" in err
    assert f"{p}: spec.metrics[0].target.averageValue: expected a number >= 0.001, got -1" in err
    assert "Traceback" not in err


def test_validate_missing_file(tmp_path: Path) -> None:
    code, _, err = run("validate", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml: file: cannot read" in err


def test_validate_yaml_syntax_error(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("spec: [unclosed\n")
    code, _, err = run("validate", str(p))
    assert code == 2
    assert "broken.yaml: line" in err and "not valid YAML" in err


def test_example_validates() -> None:
    assert run("validate", str(EXAMPLE_SCALER))[0] == 0


@pytest.mark.parametrize(
    "body, message",
    [
        pytest.param("", ":1: empty file; expected the header timestamp,metric,pod,value", id="empty"),
        pytest.param("time,metric,pod,value\n1,queue_depth,a,1\n", ":1: expected the header", id="missing-header"),
        pytest.param("timestamp,metric,pod,value\n0,queue_depth,a,1\n15,tokens,a,1\n",
                     ":3: metric: unknown metric key 'tokens'", id="unknown-metric"),
        pytest.param("timestamp,metric,pod,value\n0,queue_depth,a,many\n",
                     ":2: value: expected a number, got 'many'", id="non-numeric"),
        pytest.param("timestamp,metric,pod,value\n15,queue_depth,a,1\n0,queue_depth,a,1\n",
                     ":3: timestamp: rows must be sorted by time", id="unsorted"),
        pytest.param("timestamp,metric,pod,value\n0,queue_depth,a,1\n0,queue_depth,a,2\n",
                     ":3: duplicate sample for metric 'queue_depth' pod 'a'", id="duplicate"),
        pytest.param("timestamp,metric,pod,value\nyesterday,queue_depth,a,1\n",
                     ":2: timestamp: expected Unix seconds or an RFC 3339 time", id="bad-time"),
        pytest.param("timestamp,metric,pod,value\n0,queue_depth,,1\n", ":2: pod: queue_depth is per pod", id="no-pod"),
        pytest.param("timestamp,metric,pod,value\n0,replicas,a,1\n", ":2: pod: replicas is target-wide",
                     id="pod-on-wide"),
        pytest.param("timestamp,metric,pod,value\n0,replicas,,2.5\n", ":2: value: replicas must be a whole number",
                     id="fractional-replicas"),
        pytest.param("timestamp,metric,pod,value\n0,ready,a,2\n", ":2: value: ready must be 1 or 0", id="ready-2"),
        pytest.param("timestamp,metric,pod,value\n0,queue_depth,a\n", ":2: expected 4 fields", id="short-row"),
    ],
)
def test_dry_run_bad_recording_exits_2_with_file_and_line(tmp_path: Path, scaler: Path, body: str,
                                                           message: str) -> None:
    csv = write_csv(tmp_path, body)
    code, out, err = run("dry-run", str(scaler), str(csv))
    assert code == 2
    assert f"error: {csv}{message}" in err
    assert "Traceback" not in err
    assert out == ""


def test_dry_run_invalid_spec_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCALER.replace("type: QueueDepth", "type: Queue"))
    csv = write_csv(tmp_path, "timestamp,metric,pod,value\n0,queue_depth,a,1\n")
    code, _, err = run("dry-run", str(bad), str(csv))
    assert code == 2
    assert "spec.metrics[0].type: expected one of QueueDepth, GPUUtilization, Prometheus, TokenThroughput, KVCacheUsage, Latency, Concurrency, got 'Queue'" in err


def test_dry_run_plot_into_missing_folder_exits_2_and_prints_nothing_partial(tmp_path: Path, scaler: Path) -> None:
    csv = write_csv(tmp_path, "timestamp,metric,pod,value\n0,queue_depth,a,1\n")
    code, _, err = run("dry-run", str(scaler), str(csv), "--plot", str(tmp_path / "no/such/dir/x.png"))
    assert code == 2
    assert "cannot write the plot" in err


def test_dry_run_existing_plot_survives_a_bad_recording(tmp_path: Path, scaler: Path) -> None:
    png = tmp_path / "keep.png"
    png.write_bytes(b"earlier plot")
    csv = write_csv(tmp_path, "timestamp,metric,pod,value\n0,queue_depth,a,x\n")
    assert run("dry-run", str(scaler), str(csv), "--plot", str(png))[0] == 2
    assert png.read_bytes() == b"earlier plot"


def test_dry_run_json_lines_contract(tmp_path: Path, scaler: Path) -> None:
    rows = ["timestamp,metric,pod,value"]
    for i in range(8):
        t = 1_800_000_000 + 15 * i
        q = 12 if i >= 2 else 4
        rows += [f"{t},replicas,,2", f"{t},queue_depth,a,{q}", f"{t},queue_depth,b,{q}"]
    csv = write_csv(tmp_path, "\n".join(rows) + "\n")
    code, out, _ = run("dry-run", str(scaler), str(csv), "--output", "json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 8
    for rec in lines:
        assert {"timestamp", "current_replicas", "desired_replicas", "action", "reason", "metrics"} <= rec.keys()
        assert rec["metrics"]["queue_depth"]["target"] == 4
    assert lines[0]["action"] == "hold" and lines[0]["desired_replicas"] == 2
    # queue 12 per pod on 2 pods: ceil(12/4 * 2) = 6 (within the 100 %/4-pod policies: max(4, 2+4) = 6)
    assert lines[2]["action"] == "scale_up" and lines[2]["desired_replicas"] == 6
    assert lines[2]["timestamp"] == "2027-01-15T08:00:30Z"


def test_dry_run_csv_output(scaler: Path, tmp_path: Path) -> None:
    csv = write_csv(tmp_path, "timestamp,metric,pod,value\n2027-01-15T08:00:00Z,queue_depth,a,4\n")
    code, out, _ = run("dry-run", str(scaler), str(csv), "--output", "csv")
    assert code == 0
    assert out.splitlines()[0] == "timestamp,current_replicas,desired_replicas,action,reason_code,reason"
    assert out.splitlines()[1].startswith("2027-01-15T08:00:00Z,1,1,hold,")


def test_demo_example_table_and_plot(tmp_path: Path) -> None:
    """The bundled example: the README's `make demo` runs exactly this."""
    png = tmp_path / "demo.png"
    code, out, _ = run("dry-run", str(EXAMPLE_SCALER), str(EXAMPLE_CSV), "--plot", str(png))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["time", "current", "desired", "action", "reason"]
    assert "open loop" in lines[-2]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    actions = {line.split()[3] for line in lines[1:-2]}
    assert actions == {"hold", "scale_up", "scale_down"}


def test_console_script_runs_as_a_real_process(scaler: Path, tmp_path: Path) -> None:
    csv = write_csv(tmp_path, "timestamp,metric,pod,value\n0,queue_depth,a,nope\n")
    exe = Path(sys.executable).with_name("gpu-autoscaler")
    proc = subprocess.run([str(exe), "dry-run", str(scaler), str(csv)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {csv}:2: value: expected a number, got 'nope'"
