"""A formula end to end: a real controller process over the API emulator (HTTP, the
official client), the exporter scraping live vLLM-shaped servers, and a real Prometheus
(see harness.py). What a cluster user sees: the Deployment's replicas, the GPUScaler's
status (``currentMetrics``, ``leadingMetric``, conditions), Events and the controller's
``gpu_autoscaler_metric_value``.

The scaler asks ``max(queue_depth / 4, floor)`` replicas' worth (against 1 a replica):
the queue summed over the ready pods at 4 a replica, never less than ``floor``, a
Prometheus query (``vector(3)``). Idle, the floor leads; under load, the queue. Then the
expression is edited to divide by zero: the poll holds (no scale-down with the load
gone) and says why, and recovers alone when the expression is fixed.
"""
from __future__ import annotations

import time

from tests.controller.conftest import Stack
from tests.controller.harness import condition, events, replicas, scaler_doc, wait_until

NS = "e2e-formula"
EXPRESSION = "max(queue_depth / 4, floor)"
FORMULA = {"expression": EXPRESSION, "target": {"averageValue": 1}}


def _active(stack: Stack) -> dict[str, str]:
    return dict(condition(stack.api, NS, "llm", "ScalingActive") or {})


def _patch_expression(stack: Stack, expression: str) -> None:
    """``kubectl patch gsc llm --type merge`` on the expression: a new generation."""
    stack.api.modify("gpuautoscaler.io", "gpuscalers", NS, "llm", {"spec": {"formula": {"expression": expression}}})


def test_a_formula_scales_names_its_leading_term_and_holds_on_a_division_by_zero(stack: Stack) -> None:
    stack.workloads.add(NS, "llm", 1)
    stack.api.add_gpuscaler(scaler_doc(
        NS, "llm",
        metrics=[{"type": "QueueDepth", "target": {"averageValue": 4}},
                 {"type": "Prometheus", "name": "floor", "query": "vector(3)", "target": {"value": 1}}],
        formula=FORMULA,
        # Any change at once, so that a hold can only come from the formula: no scale-down
        # window, and scale-up not rate-limited between the steps below.
        behavior={"scaleDown": {"stabilizationWindowSeconds": 0},
                  "scaleUp": {"policies": [{"type": "Pods", "value": 10, "periodSeconds": 1}]}}))
    c = stack.controller(NS, "formula-a")
    try:
        c.wait_ready()
        # Idle: max(0 / 4, 3) = 3 replicas' worth -> ceil(3 / 1) = 3; the floor led.
        wait_until(lambda: replicas(stack.api, NS, "llm") == 3, 15, "floor: 3", c)
        wait_until(lambda: _active(stack).get("message") == "the desired count was computed from formula (floor led)",
                   5, "ScalingActive names the floor", c)
        [up] = wait_until(lambda: events(stack.api, NS, "SuccessfulRescale"), 5, "first SuccessfulRescale", c)
        assert up["message"] == "New size: 3; reason: formula (floor led) 3 (target 1) asks 3; 1 -> 3"

        # Load 24 over the 3 pods (8 each): max(24 / 4, 3) = 6; the queue led.
        stack.workloads.set_load(NS, "llm", 24)
        wait_until(lambda: replicas(stack.api, NS, "llm") == 6, 15, "queue: 6", c)
        wait_until(lambda: stack.queue_visible(NS, stack.workloads.pods(NS, "llm"), 4), 15, "24 over 6 pods visible")
        status = wait_until(lambda: (st := stack.api.gpuscaler(NS, "llm")["status"])["leadingMetric"]
                            == "formula (queue_depth led)" and st, 5, "leadingMetric", c)
        # The formula stands in status for the metrics it names: its value (24 / 4 = 6) and target.
        wait_until(lambda: stack.api.gpuscaler(NS, "llm")["status"]["currentMetrics"]
                   == [{"name": "formula", "value": 6, "target": 1}], 5, "currentMetrics", c)
        assert _active(stack)["message"] == "the desired count was computed from formula (queue_depth led)"
        assert status["desiredReplicas"] == 6
        assert c.metric("gpu_autoscaler_metric_value", {"namespace": NS, "scaler": "llm", "metric": "formula"}) == 6
        assert any(e["message"].startswith("New size: 6; reason: formula (queue_depth led)")
                   for e in events(stack.api, NS, "SuccessfulRescale"))

        # A division by zero (floor - 3 is 0): the formula's proposal is unavailable.
        _patch_expression(stack, "queue_depth / (floor - 3)")
        cond = wait_until(lambda: (a := _active(stack)).get("reason") == "FailedGetMetrics" and a, 5,
                          "ScalingActive=False", c)
        assert cond["status"] == "False"
        assert cond["message"] == "formula: division by zero in queue_depth / (floor - 3) (floor - 3 is 0)"
        metrics = condition(stack.api, NS, "llm", "MetricsAvailable")
        assert metrics is not None and metrics["status"] == "False"
        # The load goes; with no window and a readable queue, only the fault holds the count.
        stack.workloads.set_load(NS, "llm", 0)
        wait_until(lambda: stack.queue_visible(NS, stack.workloads.pods(NS, "llm"), 0), 15, "idle visible")
        for _ in range(30):  # 3 s of polls
            assert replicas(stack.api, NS, "llm") == 6, "a scale-down on an undefined formula"
            time.sleep(0.1)
        assert any("division by zero" in e["message"] for e in events(stack.api, NS, "FailedGetMetrics"))

        # Fixed: it recovers alone. max(0 / 4, 3) = 3, the floor leads again.
        _patch_expression(stack, EXPRESSION)
        wait_until(lambda: replicas(stack.api, NS, "llm") == 3, 10, "recovery: 3", c)
        wait_until(lambda: _active(stack).get("message") == "the desired count was computed from formula (floor led)",
                   5, "ScalingActive=True again", c)
    finally:
        assert c.terminate() == 0
