"""End to end with a metric ``window``: a real controller process over the emulator, the
exporter and a real Prometheus (see conftest.py and harness.py). Polling 1 s.

The queue of 4 replicas drops from on target to empty. Without a window the very next
poll asks ceil(4 x 0/4) -> minReplicas 1 (scale-down stabilization is off here); with
``window: 20s`` the mean decays as the zeros replace the fours (about 10 fours in the
window: 10/14 = 0.71 of target after 4 s, asking 3; 10/20 = 0.5 after 10 s, asking 2, then
1), so the count steps down over seconds instead of falling at once."""
from __future__ import annotations

import time

from tests.controller.conftest import Stack
from tests.controller.harness import condition, events, replicas, scaler_doc, wait_until

WINDOW = 20
METRICS = [{"type": "QueueDepth", "target": {"averageValue": 4}, "window": f"{WINDOW}s"}]
BEHAVIOR = {"scaleDown": {"stabilizationWindowSeconds": 0}}


def test_a_drop_in_load_steps_down_over_the_window(stack: Stack) -> None:
    ns = "e2e-window"
    stack.workloads.add(ns, "llm", 4, load=16)  # 4 a pod: on target
    stack.api.add_gpuscaler(scaler_doc(ns, "llm", metrics=METRICS, behavior=BEHAVIOR))
    c = stack.controller(ns, "window-a")
    try:
        c.wait_ready()
        pods = stack.workloads.pods(ns, "llm")
        wait_until(lambda: stack.queue_visible(ns, pods, 4), 15, "on-target queue visible")
        wait_until(lambda: (condition(stack.api, ns, "llm", "ScalingActive") or {}).get("status") == "True", 10,
                   "polling", c)
        time.sleep(10)  # about 10 on-target points in the 20 s window
        assert replicas(stack.api, ns, "llm") == 4
        stack.workloads.set_load(ns, "llm", 0)
        wait_until(lambda: stack.queue_visible(ns, pods, 0), 15, "idle queue visible")
        visible = time.monotonic()
        # The mean needs about as many zeros as there were fours to fall to half the
        # target: still above 1 replica 5 s after the drop (without a window: 1 at once).
        while time.monotonic() - visible < 5:
            assert replicas(stack.api, ns, "llm") > 1, "fell to minReplicas at once: the window did not smooth"
            time.sleep(0.1)
        wait_until(lambda: replicas(stack.api, ns, "llm") == 1, WINDOW + 10, "scale-down to 1", c)

        def sizes() -> set[int]:
            return {int(e["message"].split(";")[0].removeprefix("New size: "))
                    for e in events(stack.api, ns, "SuccessfulRescale")}

        # The Event follows the PATCH: wait for the last one. (Events' times have whole
        # seconds, so two steps in one second cannot be ordered by them: compare sets.)
        wait_until(lambda: 1 in sizes(), 10, "the Event of the scale-down to 1", c)
        assert sizes() & {2, 3} and sizes() <= {1, 2, 3}, sizes()  # stepped down through 3 or 2, not 4 -> 1
    finally:
        assert c.terminate() == 0
