"""LeaderElector: one leader, release on stop, takeover when the leader's API is refused.

Timings use the smallest the library accepts (lease 3 s, renew 2 s, retry 1 s; it
needs lease > renew > 1.2 × retry and retry ≥ 1 s), so each failover test takes a few seconds.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from autoscaler.kube.client import KubeClient
from autoscaler.kube.leader import LeaderElectionSettings, LeaderElector
from simulations.cluster.apiserver import ApiServer, wait_until

LEASE = 3


class Candidate:
    """An elector with its own client (its own User-Agent, so faults can single it out) and a diary."""

    def __init__(self, name: str, make_client: Callable[..., KubeClient], diary: list[tuple[float, str, str]]):
        self.name = name
        self.elector = LeaderElector(
            make_client(user_agent=f"gpu-autoscaler/{name}"),
            LeaderElectionSettings(namespace="gpu-autoscaler", lease_name="gpu-autoscaler", identity=name,
                                   lease_duration=LEASE, renew_deadline=2, retry_period=1),
            on_started=lambda: diary.append((time.monotonic(), name, "started")),
            on_stopped=lambda: diary.append((time.monotonic(), name, "stopped")))


@pytest.fixture
def diary() -> list[tuple[float, str, str]]:
    return []


@pytest.fixture
def candidates(make_client: Callable[..., KubeClient], diary: list[tuple[float, str, str]]) -> Iterator[
        dict[str, Candidate]]:
    made = {name: Candidate(name, make_client, diary) for name in ("A", "B")}
    yield made
    stoppers = [threading.Thread(target=c.elector.stop) for c in made.values()]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join(10)


def leader_of(candidates: dict[str, Candidate]) -> list[str]:
    return [n for n, c in candidates.items() if c.elector.is_leader]


def start_a_then_b(candidates: dict[str, Candidate], apiserver: ApiServer) -> None:
    candidates["A"].elector.start()
    assert candidates["A"].elector.wait_for_leadership(5)
    candidates["B"].elector.start()
    wait_until(lambda: any(r.user_agent.endswith("/B") for r in apiserver.requests))


def test_two_candidates_one_leader(apiserver: ApiServer, candidates: dict[str, Candidate]) -> None:
    for c in candidates.values():
        c.elector.start()
    wait_until(lambda: leader_of(candidates), timeout=5)
    time.sleep(1.5)  # a renewal and a follower retry later, still exactly one
    [leader] = leader_of(candidates)
    assert apiserver.lease("gpu-autoscaler", "gpu-autoscaler")["spec"]["holderIdentity"] == leader
    assert {(r.verb, r.resource) for r in apiserver.requests} <= {
        ("get", "leases"), ("create", "leases"), ("update", "leases")}  # what deploy/rbac grants


def test_stopped_leader_releases_and_the_other_leads_at_once(apiserver: ApiServer, candidates: dict[str, Candidate],
                                                             diary: list[tuple[float, str, str]]) -> None:
    start_a_then_b(candidates, apiserver)
    stopped_at = time.monotonic()
    candidates["A"].elector.stop()  # SIGTERM
    assert not candidates["A"].elector.is_leader
    assert candidates["B"].elector.wait_for_leadership(LEASE)
    took = time.monotonic() - stopped_at
    assert took < LEASE - 0.5, f"B took {took:.1f} s: the lease was not released"  # ≈ one retry period
    assert [(n, what) for _, n, what in diary] == [("A", "started"), ("A", "stopped"), ("B", "started")]


def test_leader_cut_off_from_the_api_is_replaced_within_the_lease_duration(
        apiserver: ApiServer, candidates: dict[str, Candidate], diary: list[tuple[float, str, str]]) -> None:
    start_a_then_b(candidates, apiserver)
    refused_at = time.monotonic()
    apiserver.fail(r"/leases", status=503, user_agent=r"/A$")  # A can no longer renew
    assert candidates["B"].elector.wait_for_leadership(LEASE + 1.5)
    assert time.monotonic() - refused_at <= LEASE + 1.5  # lease 3 s after B's last sight of a renewal, + a retry
    events = {(n, what): t for t, n, what in diary}
    assert events[("A", "stopped")] <= events[("B", "started")]  # A stood down (renew deadline 2 s) first
    assert apiserver.lease("gpu-autoscaler", "gpu-autoscaler")["spec"]["holderIdentity"] == "B"


def test_a_leader_that_lost_campaigns_again(apiserver: ApiServer, candidates: dict[str, Candidate]) -> None:
    start_a_then_b(candidates, apiserver)
    fault = apiserver.fail(r"/leases", status=503, user_agent=r"/A$")
    assert candidates["B"].elector.wait_for_leadership(LEASE + 1.5)
    apiserver.clear_faults()
    assert fault.hits > 0
    candidates["B"].elector.stop()
    assert candidates["A"].elector.wait_for_leadership(LEASE)


def test_follower_stop_does_not_touch_the_lease(apiserver: ApiServer, candidates: dict[str, Candidate]) -> None:
    start_a_then_b(candidates, apiserver)
    candidates["B"].elector.stop()
    assert candidates["A"].elector.is_leader
    assert apiserver.lease("gpu-autoscaler", "gpu-autoscaler")["spec"]["holderIdentity"] == "A"


@pytest.mark.parametrize("timing", [
    {"lease_duration": 3, "renew_deadline": 3, "retry_period": 1},
    {"lease_duration": 4, "renew_deadline": 2, "retry_period": 2},
    {"lease_duration": 4, "renew_deadline": 3, "retry_period": 0},
    {"lease_duration": 4.5, "renew_deadline": 3, "retry_period": 1},
], ids=["lease <= renew", "renew <= 1.2 retry", "retry < 1", "fractions"])
def test_bad_timings_raise_instead_of_exiting(kube: KubeClient, timing: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LeaderElector(kube, LeaderElectionSettings(**timing))  # type: ignore[arg-type]
