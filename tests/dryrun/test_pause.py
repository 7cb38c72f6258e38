"""The dry-run reads the pause fields from the spec file (the annotations are the
controller's): a closed-loop replay with a direction paused never moves that way."""
from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.dryrun import replay
from autoscaler.recording.reader import load_recording
from autoscaler.spec import parse_spec

T0 = 1_800_000_000


@pytest.mark.parametrize(("field", "per_pod", "code"), [
    pytest.param("pausedScaleOut", 8, "ScaleOutPaused", id="out: 2 at 8 ask ceil(2 x 8/4) = 4, held at 2"),
    pytest.param("pausedScaleIn", 0, "ScaleInPaused", id="in: 2 at 0 ask minReplicas 1, held at 2"),
])
def test_a_paused_direction_holds_through_the_replay(tmp_path: Path, field: str, per_pod: float, code: str) -> None:
    spec = parse_spec({"scaleTargetRef": {"kind": "Deployment", "name": "llm"}, "maxReplicas": 10,
                       "startupSeconds": 60, field: True,
                       "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
                       "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}}]})
    rec = tmp_path / "rec.csv"
    rec.write_text("timestamp,metric,pod,value\n"
                   + "".join(f"{T0 + 15 * i},queue_depth,{p},{per_pod}\n" for i in range(6) for p in ("a", "b")))
    run = list(replay(spec, load_recording(rec, spec)))
    assert [(t.decision.current_replicas, t.decision.desired_replicas, t.decision.reason_code) for t in run] == \
        [(2, 2, code)] * 6
