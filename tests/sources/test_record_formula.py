"""``gpu-autoscaler record`` for a scaler with a formula: it records the metrics the formula
names (from a real Prometheus), and the dry-run replays them through the formula with the
readiness rule the controller applies."""
from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from autoscaler.cli import main
from tests.sources.conftest import World

NS = "rec-formula"
READY, NOT_READY = "llm-5c4bd6f7d-w8w4t", "llm-5c4bd6f7d-h7h2k"  # Kubernetes pod names

SCALER = f"""\
apiVersion: gpuautoscaler.io/v1alpha1
kind: GPUScaler
metadata: {{name: llm, namespace: {NS}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: llm}}
  maxReplicas: 8
  pollingIntervalSeconds: 1
  metrics:
    - type: QueueDepth
      target: {{averageValue: 4}}
    - type: Prometheus
      name: tokens_per_second
      query: sum(formula_tokens_probe{{namespace="{NS}"}})
      target: {{value: 1000}}
  formula:
    expression: queue_depth + tokens_per_second / 400
    target: {{averageValue: 3}}
"""


def test_record_then_replay_a_formula(world: World, tmp_path: Path) -> None:
    e = world.exposition
    e.set("inference_queue_depth", {"namespace": NS, "pod": READY}, 6)
    e.set("inference_queue_depth", {"namespace": NS, "pod": NOT_READY}, 30)
    e.set("formula_tokens_probe", {"namespace": NS}, 1200)
    e.set("kube_deployment_spec_replicas", {"namespace": NS, "deployment": "llm"}, 2)
    e.set("kube_pod_status_ready", {"namespace": NS, "pod": READY, "condition": "true"}, 1)
    e.set("kube_pod_status_ready", {"namespace": NS, "pod": NOT_READY, "condition": "true"}, 0)
    world.prometheus.wait_for(f'inference_queue_depth{{namespace="{NS}"}}', timeout=15,
                              predicate=lambda r: len(r) == 2)
    time.sleep(2.2)  # a few scrapes' worth of history
    scaler, out, rows = world.record(tmp_path, SCALER)
    rows = rows[1:]
    # the named metrics are recorded under their own keys; nothing is recorded for "formula"
    assert {r[1] for r in rows} == {"queue_depth", "tokens_per_second", "replicas", "ready"}

    replay = CliRunner().invoke(main, ["dry-run", str(scaler), str(out), "--output", "json"])
    assert replay.exit_code == 0, replay.output
    last = [json.loads(line) for line in replay.output.splitlines() if line.startswith("{")][-1]
    # The not-Ready pod (loading) has its 30 set aside: 6 + 1200 / 400 = 9 (not 36 + 3 = 39);
    # against 3 a replica on 2: 9 / 6 = 1.5 -> ceil(9 / 3) = 3, the queue led (6 > 3). The
    # loading pod is in that count: blind to it, 3 + 1 = 4.
    assert last["metrics"] == {"formula": {"value": 9, "target": 3, "proposal": 3}}
    assert last["reason"] == ("formula (queue_depth led) 9 (target 3) asks 3; Loading 4->3: replicas still loading "
                              "count as capacity on its way (without them: 4); 2 -> 3")
