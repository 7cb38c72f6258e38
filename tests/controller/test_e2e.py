"""End to end: real controller processes over the whole chain (see harness.py).

Every assertion reads what a cluster user would see: the Deployment's replicas, the
GPUScaler's status and conditions, Events, the Lease, and the emulator's request log.
Polling interval 1 s, scrape 1 s, exporter 0.5 s, lease 3 s / renew 2 s / retry 1 s;
windows of a few seconds. Scenarios run in file order; the Prometheus outage goes
late (its restart costs the ~5 s first-sample wait again) and the RBAC check last
(it reads the request log of everything before it).
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.controller.conftest import Stack
from tests.controller.harness import condition, events, replicas, scaler_doc, wait_until

# "Within two polling intervals" is measured from when Prometheus shows the new value
# (polled every 50 ms) to the PATCH landing in the emulator; 0.5 s covers that polling
# and a loaded CI machine's scheduling.
POLL = 1.0
SLACK = 0.5


def _scale_up_to(stack: Stack, ns: str, name: str, load: float, per_pod: float, want: int,
                 process: object) -> float:
    """Drive ``load``, wait until Prometheus shows it, then for ``want`` replicas; returns when visible."""
    stack.workloads.set_load(ns, name, load)
    pods = stack.workloads.pods(ns, name)
    wait_until(lambda: stack.queue_visible(ns, pods, per_pod), 15, f"queue {per_pod} visible for {ns}/{name}")
    visible = time.monotonic()
    wait_until(lambda: replicas(stack.api, ns, name) == want, 10, f"{ns}/{name} at {want}", process)  # type: ignore[arg-type]
    return visible


def test_queue_builds_scale_up_within_two_polling_intervals(stack: Stack) -> None:
    ns = "e2e-up"
    stack.workloads.add(ns, "llm", 1)
    stack.api.add_gpuscaler(scaler_doc(ns, "llm"))
    c = stack.controller(ns, "up-a")
    try:
        c.wait_ready()
        wait_until(lambda: stack.queue_visible(ns, stack.workloads.pods(ns, "llm"), 0), 15, "idle queue visible")
        wait_until(lambda: (condition(stack.api, ns, "llm", "ScalingActive") or {}).get("status") == "True", 10,
                   "first poll", c)
        stack.workloads.set_load(ns, "llm", 20)
        pods = stack.workloads.pods(ns, "llm")
        wait_until(lambda: stack.queue_visible(ns, pods, 20), 15, "queue 20 visible")
        visible = time.monotonic()
        # 20 waiting on 1 pod vs 4 a pod: ceil(5 x 1) = 5; scale-up limit max(2 x 1, 1 + 4) = 5.
        wait_until(lambda: replicas(stack.api, ns, "llm") == 5, 2 * POLL + SLACK, "scale-up to 5", c)
        took = time.monotonic() - visible
        assert took <= 2 * POLL + SLACK
        [event] = wait_until(lambda: events(stack.api, ns, "SuccessfulRescale"), 2, "SuccessfulRescale", c)
        assert event["type"] == "Normal" and event["message"].startswith("New size: 5; reason: queue_depth 20")
        status = wait_until(lambda: (st := (stack.api.gpuscaler(ns, "llm") or {})["status"])["desiredReplicas"] == 5
                            and st, 2, "status written", c)
        assert status["lastScaleTime"] and status["memory"]["scaleEvents"][0]["direction"] == "up"
        assert c.metric("gpu_autoscaler_scale_events_total", {"namespace": ns, "scaler": "llm",
                                                              "direction": "up"}) == 1
        assert c.metric("gpu_autoscaler_leader") == 1
    finally:
        assert c.terminate() == 0  # SIGTERM: clean exit, lease released
    lease = stack.api.lease(ns, "gpu-autoscaler")
    assert lease is not None and not lease["spec"].get("holderIdentity")


def test_load_drops_scale_down_only_after_the_stabilization_window(stack: Stack) -> None:
    ns, window = "e2e-down", 5
    stack.workloads.add(ns, "llm", 4, load=16)  # 4 a pod: on target
    stack.api.add_gpuscaler(scaler_doc(ns, "llm", behavior={"scaleDown": {"stabilizationWindowSeconds": window}}))
    c = stack.controller(ns, "down-a")
    try:
        c.wait_ready()
        pods = stack.workloads.pods(ns, "llm")
        wait_until(lambda: stack.queue_visible(ns, pods, 4), 15, "on-target queue visible")
        wait_until(lambda: (condition(stack.api, ns, "llm", "ScalingActive") or {}).get("status") == "True", 10,
                   "polling", c)
        time.sleep(1.5)  # a few on-target recommendations (4) in the window
        stack.workloads.set_load(ns, "llm", 0)
        wait_until(lambda: stack.queue_visible(ns, pods, 0), 15, "idle queue visible")
        visible = time.monotonic()
        # Recommendations of 4 from before the drop hold the count for the window.
        while time.monotonic() - visible < window - 1.5:
            assert replicas(stack.api, ns, "llm") == 4, "scaled down inside the stabilization window"
            time.sleep(0.1)
        cond = condition(stack.api, ns, "llm", "AbleToScale")
        assert cond is not None and cond["reason"] == "ScaleDownStabilized"
        # Then down to minReplicas 1 (Percent 100 allows 4 -> 0, min 1).
        wait_until(lambda: replicas(stack.api, ns, "llm") == 1, 2 * POLL + 2 * SLACK + 1.5, "scale-down to 1", c)
        assert time.monotonic() - visible >= window - 1.5
    finally:
        assert c.terminate() == 0


def test_invalid_spec_is_reported_and_the_others_are_unaffected(stack: Stack) -> None:
    ns = "e2e-invalid"
    stack.workloads.add(ns, "good", 1)
    stack.workloads.add(ns, "bad", 1)
    stack.api.add_gpuscaler(scaler_doc(ns, "good"))
    stack.api.add_gpuscaler(scaler_doc(ns, "bad", metrics=[{"type": "QueueDepth", "target": {"averageValue": -1}}]))
    c = stack.controller(ns, "invalid-a")
    try:
        c.wait_ready()
        cond = wait_until(lambda: condition(stack.api, ns, "bad", "ScalingActive"), 10, "InvalidSpec condition", c)
        assert (cond["status"], cond["reason"]) == ("False", "InvalidSpec")
        assert "spec.metrics[0].target.averageValue" in cond["message"]
        [event] = wait_until(lambda: events(stack.api, ns, "InvalidSpec"), 5, "InvalidSpec Event", c)
        assert event["type"] == "Warning" and "spec.metrics[0].target.averageValue" in event["message"]
        _scale_up_to(stack, ns, "good", 20, 20, 5, c)
        assert replicas(stack.api, ns, "bad") == 1
        time.sleep(2 * POLL)
        assert len(events(stack.api, ns, "InvalidSpec")) == 1  # once per state change, not per poll
        assert events(stack.api, ns, "InvalidSpec")[0].get("count", 1) == 1
    finally:
        assert c.terminate() == 0


def test_conflicts_and_server_errors_are_retried_without_a_lost_update(stack: Stack) -> None:
    ns = "e2e-faults"
    stack.workloads.add(ns, "llm", 1)
    stack.api.add_gpuscaler(scaler_doc(ns, "llm"))
    c = stack.controller(ns, "faults-a")
    try:
        c.wait_ready()
        wait_until(lambda: (condition(stack.api, ns, "llm", "ScalingActive") or {}).get("status") == "True", 10,
                   "polling", c)
        scale_path = f"/namespaces/{ns}/deployments/llm/scale"
        status_path = f"/namespaces/{ns}/gpuscalers/llm/status"
        conflict = stack.api.fail(scale_path, method="PATCH", status=409, times=1)
        errors = stack.api.fail(scale_path, method="PATCH", status=500, times=2)
        status_conflict = stack.api.fail(status_path, method="PUT", status=409, times=2)
        status_unavailable = stack.api.fail(status_path, method="PUT", status=503, times=1)
        _scale_up_to(stack, ns, "llm", 20, 20, 5, c)
        assert (conflict.hits, errors.hits) == (1, 2)
        assert (status_conflict.hits, status_unavailable.hits) == (2, 1)
        # The 409 failed one poll (FailedRescale); the next poll's PATCH met two 500s,
        # retried them inside the call, and landed: one scale event, not zero or two.
        wait_until(lambda: events(stack.api, ns, "SuccessfulRescale"), 2, "SuccessfulRescale", c)
        assert [e["reason"] for e in events(stack.api, ns) if e["reason"] != "FailedGetMetrics"] == [
            "FailedRescale", "SuccessfulRescale"]
        def scaled_status() -> dict | None:
            st = (stack.api.gpuscaler(ns, "llm") or {}).get("status") or {}
            return st if st.get("memory", {}).get("scaleEvents") else None

        status = wait_until(scaled_status, 5, "status after the faults", c)
        assert [(e["direction"], e["replicas"]) for e in status["memory"]["scaleEvents"]] == [("up", 4)]
        cond = condition(stack.api, ns, "llm", "AbleToScale")
        assert cond is not None and cond["status"] == "True"
        time.sleep(2 * POLL)  # later polls keep the one event: nothing lost, nothing doubled
        assert len(scaled_status()["memory"]["scaleEvents"]) == 1  # type: ignore[index]
    finally:
        stack.api.clear_faults()
        assert c.terminate() == 0


def test_two_controllers_only_the_leader_patches_and_a_killed_leader_is_replaced(stack: Stack) -> None:
    """Two replicas; A leads and scales up. The load drops and A is SIGKILLed (no lease
    release). B must take over within the lease duration and, reading the memory from
    status, scale down at (last high recommendation + window) -- not at (takeover +
    window), which is what a leader without memory would do, nor before the window."""
    ns, window = "e2e-ha", 7
    stack.workloads.add(ns, "llm", 1)
    stack.api.add_gpuscaler(scaler_doc(ns, "llm", behavior={"scaleDown": {"stabilizationWindowSeconds": window}}))
    a = stack.controller(ns, "ha-a")
    b = None
    try:
        a.wait_ready()
        wait_until(lambda: ((stack.api.lease(ns, "gpu-autoscaler") or {}).get("spec") or {}).get("holderIdentity")
                   == "ha-a", 10, "A leads", a)
        b = stack.controller(ns, "ha-b")
        b.wait_ready()
        assert b.metric("gpu_autoscaler_leader") == 0
        _scale_up_to(stack, ns, "llm", 24, 24, 5, a)  # 24 on 1 pod: ceil(6) = 6, limit 5
        wait_until(lambda: stack.queue_visible(ns, stack.workloads.pods(ns, "llm"), 24 / 5), 15, "spread load")

        writes = {r.user_agent for r in stack.api.requests
                  if r.verb in ("patch", "update", "create") and r.resource != "leases" and r.namespace == ns}
        assert writes == {"gpu-autoscaler/ha-a"}  # B made no write but to the Lease

        stack.workloads.set_load(ns, "llm", 0)
        pods = stack.workloads.pods(ns, "llm")
        wait_until(lambda: stack.queue_visible(ns, pods, 0), 15, "idle visible")
        # Let A record a low proposal behind the high ones: with the compact memory a new run
        # of recommendations is written to status at once, so B then knows when the high run
        # ended. (Killed before that, B would assume the high run held until it took over:
        # a scale-down up to a lease and a poll later, never earlier; kube/status.py.)
        wait_until(lambda: [r.get("replicas", 5) < 5 for r in ((stack.api.gpuscaler(ns, "llm").get("status") or {})
                                                                 .get("memory") or {}).get("recommendations") or []][-1:]
                   == [True], 10, "A recorded a low proposal", a)
        a.kill()
        killed = time.monotonic()
        wait_until(lambda: ((stack.api.lease(ns, "gpu-autoscaler") or {}).get("spec") or {}).get("holderIdentity")
                   == "ha-b", 3 + 1 + 2 * SLACK, "B takes over within the lease duration", b)
        took_over = time.monotonic()
        assert took_over - killed <= 3 + 1 + 2 * SLACK
        # The last recommendation of 5 was recorded at most ~0.3 s + one poll before the
        # kill; B must hold until that ages out of the window, then scale down.
        while time.monotonic() - killed < window - 2.5:
            assert replicas(stack.api, ns, "llm") == 5, "premature scale-down after failover"
            time.sleep(0.1)
        wait_until(lambda: replicas(stack.api, ns, "llm") == 1, 5, "scale-down after the window", b)
        done = time.monotonic()
        assert done - took_over < window, "B did not use the old leader's memory (it waited a whole new window)"
        down = [r for r in stack.api.requests if r.verb == "patch" and r.subresource == "scale" and r.namespace == ns]
        assert {r.user_agent for r in down} == {"gpu-autoscaler/ha-a", "gpu-autoscaler/ha-b"}
        assert b.metric("gpu_autoscaler_leader") == 1
    finally:
        if a.running:
            a.kill()
        if b is not None:
            assert b.terminate() == 0


def test_prometheus_killed_no_scale_down_metrics_unavailable_then_recovery(stack: Stack) -> None:
    ns = "e2e-outage"
    stack.workloads.add(ns, "llm", 3, load=12)  # 4 a pod: on target
    # No scale-down window: were missing data read as 0, it would shrink at once.
    stack.api.add_gpuscaler(scaler_doc(ns, "llm", behavior={"scaleDown": {"stabilizationWindowSeconds": 0}}))
    c = stack.controller(ns, "outage-a")
    try:
        c.wait_ready()
        wait_until(lambda: stack.queue_visible(ns, stack.workloads.pods(ns, "llm"), 4), 15, "queue visible")
        wait_until(lambda: (condition(stack.api, ns, "llm", "MetricsAvailable") or {}).get("status") == "True", 10,
                   "metrics available", c)
        # Start-up may have had one (polls before the exporter saw the pods); count from here.
        before = {e["metadata"]["name"] for e in events(stack.api, ns, "FailedGetMetrics")}
        stack.prometheus.stop()
        cond = wait_until(lambda: (c2 := condition(stack.api, ns, "llm", "MetricsAvailable")) is not None
                          and c2["status"] == "False" and c2, 5, "MetricsAvailable=False", c)
        assert "cannot connect to Prometheus" in cond["message"]
        active = condition(stack.api, ns, "llm", "ScalingActive")
        assert active is not None and (active["status"], active["reason"]) == ("False", "FailedGetMetrics")
        for _ in range(30):  # 3 s of polls while down
            assert replicas(stack.api, ns, "llm") == 3
            time.sleep(0.1)
        outage = [e for e in events(stack.api, ns, "FailedGetMetrics") if e["metadata"]["name"] not in before]
        assert len(outage) == 1 and "cannot connect to Prometheus" in outage[0]["message"]  # once, not per poll
        assert c.metric("gpu_autoscaler_metrics_available", {"namespace": ns, "scaler": "llm"}) == 0
        assert c.metric("gpu_autoscaler_metric_value", {"namespace": ns, "scaler": "llm"}) is None

        stack.workloads.set_load(ns, "llm", 30)  # 10 a pod: ceil(2.5 x 3) = 8, limit max(2 x 3, 3 + 4) = 7
        stack.prometheus.start()
        wait_until(lambda: (condition(stack.api, ns, "llm", "MetricsAvailable") or {}).get("status") == "True",
                   20, "recovery after restart", c)
        wait_until(lambda: replicas(stack.api, ns, "llm") == 7, 10, "scale-up after recovery", c)
    finally:
        if not stack.prometheus.running:
            stack.prometheus.start()
        assert c.terminate() == 0


def test_requests_made_are_what_deploy_rbac_grants(stack: Stack) -> None:
    """Every (group, resource[/subresource], verb) the controllers used is granted by
    deploy/rbac/controller.yaml (the ClusterRole, and the Role for Leases)."""
    used = {(r.api_group, f"{r.resource}/{r.subresource}" if r.subresource else r.resource, r.verb)
            for r in stack.api.requests if r.user_agent.startswith("gpu-autoscaler/") and r.resource}
    assert ("apps", "deployments/scale", "patch") in used and ("coordination.k8s.io", "leases", "update") in used
    path = Path(__file__).resolve().parents[2] / "deploy" / "rbac" / "controller.yaml"
    if not path.exists():
        pytest.skip("deploy/rbac/controller.yaml is not there yet")
    granted = set()
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") in ("ClusterRole", "Role"):
            for rule in doc.get("rules", []):
                for group in rule.get("apiGroups", []):
                    for resource in rule.get("resources", []):
                        for verb in rule.get("verbs", []):
                            granted.add((group, resource, verb))
    assert used - granted == set(), f"used but not granted: {sorted(used - granted)}"
