"""The campaign's findings, each reduced to one plain failing test.

Each defect not fixed yet is marked ``xfail(strict=True)`` (none today) while its fix is on another
branch: the mark turns into a failure (XPASS) the day the fix lands, and is then removed.
``pytest --runxfail tests/campaign/test_defects.py`` shows them failing today.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulations.cluster.apiserver import ApiServer
from simulations.cluster.prometheus import free_port, prometheus_available
from tests.campaign.world import Recorder, World, holder
from tests.controller.harness import ControllerProcess, events, scaler_doc, wait_until, write_kubeconfig

LEASE_DURATION = 3.0  # the harness's --leader-elect-lease-duration (renew deadline 2 s, retry 1 s)


def test_a_leader_that_cannot_renew_stops_writing_within_its_renew_deadline(tmp_path: Path) -> None:
    ns = "defect-renew"
    api = ApiServer().start()
    processes: list[ControllerProcess] = []
    try:
        api.add_deployment(ns, "llm", 2)
        api.add_gpuscaler(scaler_doc(ns, "llm"))
        recorder = Recorder(api, ns, {"llm": 2})
        api.add_listener(recorder)
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url)
        dead_prometheus = f"http://127.0.0.1:{free_port()}"  # every poll fails its metrics and writes status
        for identity in ("renew-a", "renew-b"):
            processes.append(ControllerProcess(tmp_path, kubeconfig, dead_prometheus, ns, identity=identity).start())
        old = wait_until(lambda: holder(api, ns), 30, "a leader", processes[0])
        wait_until(lambda: any(s.identity == old for s in recorder.statuses), 10, "the leader writes status")
        # Its renewals now fail (503), each try after a slow read (0.9 s): the library's loop tries at
        # +1 s and +2.9 s after the last success, sleeps 1 s after each, and gives up only at ~+4.8 s.
        api.fail(f"/namespaces/{ns}/leases/", verb="get", delay=0.9, user_agent=f"gpu-autoscaler/{old}$")
        api.fail(f"/namespaces/{ns}/leases/", verb="update", status=503, user_agent=f"gpu-autoscaler/{old}$")
        new = wait_until(lambda: (h := holder(api, ns)) != old and h, 15, "a new leader", processes[1])
        time.sleep(3)
        last_renewal = max(recorder.renewals[old])
        # client-go's leader stops by the renew deadline (2 s); by the lease duration (3 s) a
        # successor may lead, so a write of the old leader's after that is two leaders at once.
        late = [w for w in recorder.writes if w.identity == old and w.at > last_renewal + LEASE_DURATION]
        overlap = [w for w in recorder.writes if w.identity == old and w.holder == new]
        assert not late and not overlap, (
            f"{old} wrote {len(late)} times more than {LEASE_DURATION} s after its last renewal "
            f"(the last {max(w.at for w in late) - last_renewal:.1f} s after), {len(overlap)} of them while "
            f"{new} held the Lease" if late else f"{len(overlap)} writes by {old} while {new} held the Lease")
    finally:
        for p in processes:
            if p.running:
                p.kill()
        api.stop()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    if not prometheus_available():
        pytest.skip("prometheus is not installed (make test installs it)")
    w = World()
    yield w
    w.close()


def _status(api: ApiServer, ns: str, name: str) -> dict[str, Any]:
    return dict((api.gpuscaler(ns, name) or {}).get("status") or {})


def _reported(api: ApiServer, ns: str, name: str) -> bool:
    """The scaler said something: working (ScalingActive True), or failing with a Warning Event."""
    conds = {c.get("type"): c for c in _status(api, ns, name).get("conditions") or ()}
    active = conds.get("ScalingActive") or {}
    if active.get("status") == "True":
        return True
    failing = [c for c in conds.values() if c.get("status") == "False"]
    warned = [e for e in events(api, ns) if e.get("type") == "Warning"
              and (e.get("involvedObject") or {}).get("name") == name]
    return bool(failing) and bool(warned)


def _controller(world: World, tmp: Path, ns: str) -> ControllerProcess:
    kubeconfig = write_kubeconfig(tmp / "kubeconfig", world.api.url)
    return ControllerProcess(tmp, kubeconfig, world.proxy.url, ns, identity=f"{ns}-a").start()


def test_a_target_that_passes_validation_never_silences_its_scaler(world: World, tmp_path: Path) -> None:
    ns = "defect-tiny"
    world.pods.add(ns, "llm", 1, per_pod=3.0)
    world.api.add_gpuscaler(scaler_doc(ns, "llm", metrics=[{"type": "QueueDepth",
                                                             "target": {"averageValue": 0.0004}}]))
    c = _controller(world, tmp_path, ns)
    try:
        c.wait_ready(30)
        wait_until(lambda: _reported(world.api, ns, "llm"), 10, "a status that says the scaler works or why not", c)
    finally:
        c.kill()
        world.pods.forget_namespace(ns)


def test_a_huge_metric_value_never_silences_its_scaler(world: World, tmp_path: Path) -> None:
    ns = "defect-huge"
    wl = world.pods.add(ns, "llm", 3, per_pod=4.0)
    world.api.add_gpuscaler(scaler_doc(ns, "llm"))
    recorder = Recorder(world.api, ns, {"llm": 3})
    world.api.add_listener(recorder)
    c = _controller(world, tmp_path, ns)
    try:
        c.wait_ready(30)
        wait_until(lambda: (c2 := {x["type"]: x for x in _status(world.api, ns, "llm").get("conditions") or ()}
                            .get("ScalingActive")) and c2["status"] == "True", 15, "polling with data", c)
        with world.pods.lock:
            wl.mode = "huge"
        visible = time.time() + 1.0  # scrape 0.5 s, then the next 1 s poll
        time.sleep(4)
        after = [s for s in recorder.statuses if s.at > visible]
        assert after, "no status written in the 3 s after every pod showed 1e306"
        conds = {t: (st, reason) for t, st, reason in after[-1].conditions}
        # Not silent: either it scales up towards max as fast as its policies allow (the value
        # counts as 1e15, a huge overload), or it says why it cannot.
        scaling_up = int(world.api.deployment(ns, "llm")["spec"]["replicas"]) > 3 and conds.get(
            "ScalingActive", ("", ""))[0] == "True" and conds.get("ScalingLimited", ("", ""))[1] in (
            "ScaleUpLimit", "TooManyReplicas")
        failing = conds.get("ScalingActive", ("", ""))[0] == "False"
        assert scaling_up or (failing and _reported(world.api, ns, "llm")), conds
    finally:
        recorder.active = False
        c.kill()
        world.pods.forget_namespace(ns)
