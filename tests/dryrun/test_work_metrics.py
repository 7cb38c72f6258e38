"""The dry-run on recordings of the work and SLO metrics: a token rate per pod (what
``record`` writes for a counter) and a latency as one target-wide number."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autoscaler.dryrun import replay
from autoscaler.recording.reader import RecordingError, load_recording
from autoscaler.spec import GPUScalerSpec, parse_spec

T0 = 1_800_000_000
TOKENS = {"type": "TokenThroughput", "signal": "prompt", "target": {"averageValue": 5000}}
TTFT = {"type": "Latency", "signal": "ttft", "target": {"value": 2}}
KV = {"type": "KVCacheUsage", "target": {"averageUtilization": 50}}


def spec(*metrics: dict[str, Any]) -> GPUScalerSpec:
    return parse_spec({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
        "maxReplicas": 16, "pollingIntervalSeconds": 15, "startupSeconds": 60, "metrics": list(metrics),
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
    })


def write(tmp_path: Path, rows: list[str]) -> Path:
    p = tmp_path / "rec.csv"
    p.write_text("timestamp,metric,pod,value\n" + "\n".join(rows) + "\n")
    return p


def test_closed_loop_spreads_the_token_rate_and_counts_loading_replicas(tmp_path: Path) -> None:
    s = spec(TOKENS, TTFT)
    # 2 pods at 10,000 prompt tokens/s each (their capacity), TTFT 1.5 s: under the SLO.
    rows = [row for i in range(8) for row in (f"{T0 + 15 * i},prompt_tokens_rate,a,10000",
                                              f"{T0 + 15 * i},prompt_tokens_rate,b,10000",
                                              f"{T0 + 15 * i},ttft_seconds,,1.5")]
    run = list(replay(s, load_recording(write(tmp_path, rows), s)))
    # avg 10,000 against 5,000 a replica: ceil(2 x 2) = 4; the guard at 1.5 < 2 asks min (1)
    first = run[0].decision
    assert (first.current_replicas, first.desired_replicas) == (2, 4)
    assert {p.key: p.replicas for p in first.proposals} == {"prompt_tokens_rate": 4, "ttft_seconds": 1}
    # 20,000 tokens/s over the 2 ready replicas, 2 loading counted at 0:
    # (10,000 + 10,000 + 0 + 0) / 4 = 5,000 = target: hold, no second scale-up
    assert run[1].decision.desired_replicas == 4
    # once all 4 are ready: 20,000 / 4 = 5,000 each, on target
    later = run[5]
    assert all(p.ready for p in later.observation.pods)
    assert set(later.observation.metrics["prompt_tokens_rate"].per_pod.values()) == {5000.0}
    assert later.decision.desired_replicas == 4


@pytest.mark.parametrize("ttft, desired", [
    # 2 pods at 2,000 tokens/s: ceil(0.4 x 2) = 1; guard OK asks min 1: 2 -> 1
    pytest.param(1.0, 1, id="slo-holds-the-guard-does-not-hold-replicas-up"),
    # guard 3 s against 2: ceil(2 ready x 1.5) = 3
    pytest.param(3.0, 3, id="slo-broken-the-guard-leads"),
    # guard 9 s against 2: ratio 4.5 capped at 2: ceil(2 x 2) = 4
    pytest.param(9.0, 4, id="ratio-capped-at-2-a-poll"),
])
def test_open_loop_guard(tmp_path: Path, ttft: float, desired: int) -> None:
    s = spec(TOKENS, TTFT)
    rows = [f"{T0},replicas,,2", f"{T0},prompt_tokens_rate,a,2000", f"{T0},prompt_tokens_rate,b,2000",
            f"{T0},ttft_seconds,,{ttft}"]
    (tick,) = replay(s, load_recording(write(tmp_path, rows), s))
    assert tick.decision.desired_replicas == desired, tick.decision.reason


def test_a_latency_missing_from_the_recording_holds(tmp_path: Path) -> None:
    s = spec(TOKENS, TTFT)
    rows = [f"{T0},replicas,,4"] + [f"{T0},prompt_tokens_rate,{p},1000" for p in "abcd"]
    (tick,) = replay(s, load_recording(write(tmp_path, rows), s))
    # tokens ask ceil(0.2 x 4) = 1, but the latency is missing: no scale-down on partial data
    assert (tick.decision.desired_replicas, tick.decision.reason_code) == (4, "FailedGetMetrics")


def test_kv_cache_is_a_percent_per_pod(tmp_path: Path) -> None:
    s = spec(KV)
    rows = [f"{T0},replicas,,2", f"{T0},kv_cache_usage,a,90", f"{T0},kv_cache_usage,b,60"]
    (tick,) = replay(s, load_recording(write(tmp_path, rows), s))
    assert tick.decision.desired_replicas == 3  # (90 + 60) / 2 = 75 % against 50: ceil(1.5 x 2) = 3


@pytest.mark.parametrize("row, message", [
    pytest.param(f"{T0},ttft_seconds,a,1", "ttft_seconds is target-wide", id="latency-per-pod"),
    pytest.param(f"{T0},prompt_tokens_rate,,1", "prompt_tokens_rate is per pod", id="tokens-without-pod"),
])
def test_a_recording_keeps_each_keys_shape(tmp_path: Path, row: str, message: str) -> None:
    s = spec(TOKENS, TTFT)
    with pytest.raises(RecordingError, match=message):
        load_recording(write(tmp_path, [row]), s)
