"""Recordings that cannot be replayed sensibly are refused before anything large is
allocated: the dry-run's grid grows with the span (first to last sample), not the rows."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.recording.reader import MAX_TICKS, RecordingError, load_recording
from autoscaler.spec import parse_spec

T0 = 1_800_000_000
SPEC = parse_spec({"scaleTargetRef": {"kind": "Deployment", "name": "llm"}, "maxReplicas": 10,
                   "pollingIntervalSeconds": 15, "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}}]})


def _write(tmp_path: Path, rows: list[str]) -> Path:
    p = tmp_path / "rec.csv"
    p.write_text("timestamp,metric,pod,value\n" + "\n".join(rows) + "\n")
    return p


@pytest.mark.parametrize("rows, line, complaint", [
    pytest.param([f"{T0},queue_depth,a,1", "9999-12-31T23:59:59Z,queue_depth,a,1"], 3, "ticks at pollingIntervalSeconds 15",
                 id="one-row-in-9999"),
    pytest.param([f"{T0},queue_depth,a,1", f"{T0 + 3 * 365 * 86400},queue_depth,a,1"], 3, "largest gap",
                 id="three-year-gap"),
    pytest.param([f"{T0},queue_depth,a,1", f"{T0 * 1000 + 15000},queue_depth,a,1"], 3, "milliseconds",
                 id="milliseconds"),
    pytest.param([f"{T0},queue_depth,a,1", "1" + "0" * 5000 + ",queue_depth,a,1"], 3, "5001 characters",
                 id="5000-digit-time"),
    pytest.param([f"{T0},queue_depth,a,1", "10000-01-01T00:00:00Z,queue_depth,a,1"], 3, "timestamp: expected",
                 id="year-10000"),
])
def test_unreplayable_recording_is_refused_naming_the_line(tmp_path: Path, rows: list[str], line: int,
                                                            complaint: str) -> None:
    p = _write(tmp_path, rows)
    with pytest.raises(RecordingError) as e:
        load_recording(p, SPEC)
    assert str(e.value).startswith(f"{p}:{line}: timestamp: "), e.value
    assert complaint in str(e.value)


def test_the_cap_is_on_ticks_not_rows(tmp_path: Path) -> None:
    # MAX_TICKS ticks exactly: (MAX_TICKS - 1) * 15 s from first to last sample is accepted
    last = T0 + (MAX_TICKS - 1) * 15
    assert load_recording(_write(tmp_path, [f"{T0},queue_depth,a,1", f"{last},queue_depth,a,1"]), SPEC).end == last
    with pytest.raises(RecordingError):
        load_recording(_write(tmp_path, [f"{T0},queue_depth,a,1", f"{last + 15},queue_depth,a,1"]), SPEC)


def test_dry_run_of_a_row_in_9999_exits_2_within_a_small_memory_limit(tmp_path: Path) -> None:
    """Under a 1 GiB address-space limit (the old grid needed ~17 billion ticks), the
    dry-run exits 2 with the file and line, not MemoryError."""
    scaler = tmp_path / "s.yaml"
    scaler.write_text("apiVersion: gpuautoscaler.io/v1alpha1\nkind: GPUScaler\nmetadata: {name: llm}\nspec:\n"
                      "  scaleTargetRef: {kind: Deployment, name: llm}\n  maxReplicas: 4\n"
                      "  metrics: [{type: QueueDepth, target: {averageValue: 4}}]\n")
    csv = _write(tmp_path, ["1800000000,queue_depth,a,1", "253402300799,queue_depth,a,1"])
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30)); "
            "from autoscaler.cli import main; sys.argv = ['gpu-autoscaler', 'dry-run', sys.argv[1], sys.argv[2]]; main()")
    assert resource.RLIMIT_AS  # Linux
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code, str(scaler), str(csv)], capture_output=True, text=True,
                          timeout=120, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: {csv}:3: timestamp: the recording spans"), proc.stderr
    assert "Traceback" not in proc.stderr
