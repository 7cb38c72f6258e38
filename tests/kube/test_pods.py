"""KubePodLister: the target's pods as PodState (readiness, start time, phase, deletion)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from autoscaler.core.types import PodState
from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import KubeError
from autoscaler.kube.pods import KubePodLister
from simulations.cluster.apiserver import ApiServer

T0 = 1_795_900_000.0  # whole seconds: the emulator writes startTime as metav1.Time
WEB = {"app": "web"}


@pytest.mark.parametrize("pod,expected", [
    pytest.param({}, PodState("p", ready=True, start_time=T0, phase="Running"), id="ready"),
    pytest.param({"ready": False}, PodState("p", ready=False, start_time=T0, phase="Running"), id="loading"),
    pytest.param({"ready": False, "phase": "Pending"}, PodState("p", ready=False, start_time=T0, phase="Pending"),
                 id="pending"),
    pytest.param({"deleting": True}, PodState("p", ready=True, start_time=T0, phase="Running", deleting=True),
                 id="terminating"),
    pytest.param({"phase": "Failed", "ready": False}, PodState("p", ready=False, start_time=T0, phase="Failed"),
                 id="failed"),
])
def test_pod_state(apiserver: ApiServer, kube: KubeClient, pod: dict[str, object], expected: PodState) -> None:
    [name] = apiserver.add_pods("ns", WEB, prefix="p", start_time=T0, **pod)  # type: ignore[arg-type]
    [got] = KubePodLister(kube).list_pods("ns", "app=web")
    assert replace(got, created=None, ready_time=None) == \
        PodState(name, expected.ready, expected.start_time, expected.phase, expected.deleting)


def test_only_the_selected_pods_of_the_namespace(apiserver: ApiServer, kube: KubeClient) -> None:
    mine = apiserver.add_pods("ns", {"app": "web", "tier": "gpu"}, 3, prefix="web")
    apiserver.add_pods("ns", {"app": "db"}, prefix="db")
    apiserver.add_pods("other", {"app": "web", "tier": "gpu"}, prefix="web")
    pods = KubePodLister(kube).list_pods("ns", "app=web,tier=gpu")
    assert [p.name for p in pods] == sorted(mine)


def test_readiness_changes_are_seen(apiserver: ApiServer, kube: KubeClient) -> None:
    [name] = apiserver.add_pods("ns", WEB, ready=False)
    apiserver.set_pod_ready("ns", name)
    assert KubePodLister(kube).list_pods("ns", "app=web")[0].ready


def test_empty_selector_is_refused(apiserver: ApiServer, kube: KubeClient) -> None:
    with pytest.raises(KubeError, match="empty selector"):
        KubePodLister(kube).list_pods("ns", " ")
    assert apiserver.requests == []
