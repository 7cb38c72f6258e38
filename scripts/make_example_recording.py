"""Generate deploy/examples/llm-ramp.csv: an LLM Deployment through a traffic ramp and drop.

Deterministic (seeded). A fluid model of a vLLM-style Deployment, sampled every 15 s
for 100 minutes, in Contract 3 form:

* arrivals: 3 req/s for 15 min, a ramp to 18 req/s over 20 min, ~18 req/s for 25 min,
  a drop to 4 req/s, then 4 req/s to the end;
* each ready replica serves 2.5 req/s (32 batch slots, ~12.8 s per request);
* the Deployment was scaled by a slow hand-tuned policy (one replica every 3 minutes
  while more than 8 requests wait per replica; one fewer every 5 minutes while SM
  activity is under 40 %); a new replica takes 120 s to load its model (ready = 0);
* per-pod queue depth = waiting requests / ready replicas; SM activity grows with the
  served share of capacity (85 % when saturated), with noise.

Run: python scripts/make_example_recording.py > deploy/examples/llm-ramp.csv
"""

from __future__ import annotations

import random
import sys

START = 1_795_000_000  # 2026-11-18T09:46:40Z
STEP = 15
MINUTES = 100
MU = 2.5
LOAD_S = 120


def rate(minute: float) -> float:
    if minute < 15:
        return 3.0
    if minute < 35:
        return 3.0 + 15.0 * (minute - 15) / 20
    if minute < 60:
        return 18.0
    if minute < 62:
        return 18.0 - 14.0 * (minute - 60) / 2
    return 4.0


def main() -> None:
    rnd = random.Random(20261129)
    out = sys.stdout
    out.write("timestamp,metric,pod,value\n")
    pods: list[tuple[str, float]] = [("llm-5f7c9-a1b2c", START - 600), ("llm-5f7c9-d3e4f", START - 600)]
    serial = 0
    queue = 0.0
    last_up = last_down = START - 600
    for i in range(MINUTES * 60 // STEP + 1):
        t = START + i * STEP
        lam = rate(i * STEP / 60) * (1 + rnd.gauss(0, 0.05))
        ready = [p for p, created in pods if t - created >= LOAD_S]
        capacity = len(ready) * MU
        queue = max(0.0, queue + (lam - capacity) * STEP)
        served = min(capacity, lam + queue / STEP) if ready else 0.0
        activity = 85.0 * (served / capacity if capacity else 0.0)
        out.write(f"{t},replicas,,{len(pods)}\n")
        for name, created in pods:
            is_ready = t - created >= LOAD_S
            out.write(f"{t},ready,{name},{1 if is_ready else 0}\n")
            if is_ready:
                q = max(0.0, queue / len(ready) * (1 + rnd.gauss(0, 0.08)))
                sm = min(100.0, max(0.0, activity + rnd.gauss(0, 2.5)))
                out.write(f"{t},queue_depth,{name},{q:.1f}\n")
                out.write(f"{t},gpu_utilization,{name},{sm:.1f}\n")
        per_pod = queue / len(ready) if ready else queue
        if per_pod > 8 and t - last_up >= 180 and len(pods) < 8:
            serial += 1
            pods.append((f"llm-5f7c9-n{serial:04d}", t))
            last_up = t
        elif activity < 40 and queue < 1 and t - last_down >= 300 and t - last_up >= 300 and len(pods) > 1:
            pods.pop()
            last_down = t


if __name__ == "__main__":
    main()
