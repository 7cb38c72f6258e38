"""Benchmark: what a metric ``window`` costs a poll (autoscaler/core/window.py).

Run ``python -m benchmarks.window``. The week of :mod:`benchmarks.dryrun` (40,320 ticks
at 15 s, 8 pods, 2 metrics) is replayed once to get its observations; then, in the same
process, the decision core alone on them (the baseline), and :func:`smooth` alone on them
with both metrics windowed at 60 s, 10 min and 1 h. Printed: CPU per tick and the ratio
to the core, and the points the window holds at the end (memory: bounded by the window
and the pods, not by the week). A spec without a window costs one ``any()`` a poll.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace

from autoscaler.core import Memory, decide
from autoscaler.core.window import EMPTY, smooth
from autoscaler.dryrun import replay
from autoscaler.recording.reader import load_recording
from autoscaler.spec import parse_scaler
from benchmarks.dryrun import SCALER, write_week

WINDOWS = (60.0, 600.0, 3600.0)


def main() -> None:
    scaler = parse_scaler(SCALER, "bench")
    spec = scaler.spec
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "week.csv")
        write_week(path)
        observations = [(t.observation, t.timestamp) for t in replay(spec, load_recording(path, spec))]
    ticks = len(observations)
    memory = Memory()
    c0 = time.process_time()
    for obs, now in observations:
        memory = decide(spec, obs, memory, now).memory_if_not_applied
    core_s = time.process_time() - c0
    print(f"week: {ticks:,} ticks at 15 s, 8 pods, 2 metrics")
    print(f"  core alone          {core_s:6.2f} s CPU  {1e6 * core_s / ticks:6.1f} us/tick   (baseline)")
    for seconds in WINDOWS:
        windowed = replace(spec, metrics=tuple(replace(m, window_seconds=seconds) for m in spec.metrics))
        state = EMPTY
        c0 = time.process_time()
        for obs, now in observations:
            state = smooth(windowed, obs, state, now).state
        smooth_s = time.process_time() - c0
        print(
            f"  smooth, {seconds:5.0f} s   {smooth_s:6.2f} s CPU  {1e6 * smooth_s / ticks:6.1f} us/tick   "
            f"{smooth_s / core_s:5.2f} x core   {state.points:,} points held"
        )


if __name__ == "__main__":
    main()
