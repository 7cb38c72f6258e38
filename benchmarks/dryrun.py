"""Benchmark: the dry-run on one week at 15 s steps (40,320 ticks, 8 pods, 2 metrics).

Run ``make bench`` (or ``python -m benchmarks.dryrun``). Prints the time to read the
CSV, the time to replay it, and, as a baseline measured in the same process, the time
of the decision core alone on the same observations — so the replay's overhead reads
as a ratio that does not depend on how busy the machine is. Target: replay <= 1 s on
one core.
"""
from __future__ import annotations

import math
import os
import random
import tempfile
import time

from autoscaler.core import Memory, decide
from autoscaler.dryrun import replay
from autoscaler.recording.reader import load_recording
from autoscaler.spec import parse_scaler

WEEK_TICKS = 7 * 24 * 3600 // 15  # 40,320
PODS = 8

SCALER = {
    "apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
    "metadata": {"name": "bench", "namespace": "bench"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "bench"},
        "minReplicas": 1, "maxReplicas": 16, "pollingIntervalSeconds": 15,
        "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}},
                    {"type": "GPUUtilization", "signal": "smActive", "target": {"averageUtilization": 70}}],
    },
}


def write_week(path: str, ticks: int = WEEK_TICKS) -> int:
    """A week of samples: a daily wave of load over 8 pods, open loop (replicas rows)."""
    rnd = random.Random(7)
    t0 = 1_795_000_000
    rows = 0
    with open(path, "w") as f:
        f.write("timestamp,metric,pod,value\n")
        for i in range(ticks):
            t = t0 + 15 * i
            load = 0.5 + 0.45 * math.sin(2 * math.pi * i / 5760)
            f.write(f"{t},replicas,,{PODS}\n")
            for p in range(PODS):
                f.write(f"{t},queue_depth,pod-{p},{max(0.0, 8 * load + rnd.gauss(0, 0.5)):.2f}\n")
                f.write(f"{t},gpu_utilization,pod-{p},{min(100.0, 100 * load + rnd.gauss(0, 3)):.1f}\n")
            rows += 1 + 2 * PODS
    return rows


def main() -> None:
    scaler = parse_scaler(SCALER, "bench")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "week.csv")
        rows = write_week(path)
        c0 = time.process_time()
        rec = load_recording(path, scaler.spec)
        c1 = time.process_time()
        # Streamed, as the CLI consumes it: keeping 40,320 ticks alive would make the
        # garbage collector's full passes, not the replay, the cost measured.
        ticks = 0
        for _tick in replay(scaler.spec, rec):
            ticks += 1
        c2 = time.process_time()
        observations = [(tick.observation, tick.timestamp) for tick in replay(scaler.spec, rec)]
    # Baseline: the core alone on the very same observations.
    memory = Memory()
    c3 = time.process_time()
    for obs, now in observations:
        memory = decide(scaler.spec, obs, memory, now).memory_if_not_applied
    c4 = time.process_time()
    load_s, replay_s, core_s = c1 - c0, c2 - c1, c4 - c3
    print(f"dry-run benchmark: {ticks:,} ticks (one week at 15 s), {PODS} pods, 2 metrics, {rows:,} CSV rows")
    print(f"  read CSV          {load_s:6.2f} s CPU")
    print(f"  replay (decide)   {replay_s:6.2f} s CPU   {1e6 * replay_s / ticks:6.1f} us/tick   target <= 1 s")
    print(f"  core alone        {core_s:6.2f} s CPU   {1e6 * core_s / ticks:6.1f} us/tick   (baseline)")
    print(f"  replay / core     {replay_s / core_s:6.2f} x")


if __name__ == "__main__":
    main()
