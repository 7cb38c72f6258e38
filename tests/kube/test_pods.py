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


# --------------------------------------------------------------- load time and capacity


def test_created_and_ready_times_measure_the_load(apiserver: ApiServer, kube: KubeClient) -> None:
    """creationTimestamp and the Ready condition's lastTransitionTime, as the API shows them
    (whole seconds): a pod Ready 95 s after it was created loaded for 95 s."""
    [name] = apiserver.add_pods("ns", WEB, ready=False)
    [loading] = KubePodLister(kube).list_pods("ns", "app=web")
    assert loading.created is not None and loading.ready_time is None and loading.unschedulable is None
    apiserver.set_pod_condition("ns", name, "Ready", "True", at=loading.created + 95)
    [pod] = KubePodLister(kube).list_pods("ns", "app=web")
    assert pod.ready and pod.ready_time is not None and pod.ready_time - loading.created == 95
    apiserver.set_pod_condition("ns", name, "Ready", "False")  # a Ready time only while Ready
    assert KubePodLister(kube).list_pods("ns", "app=web")[0].ready_time is None


def test_an_unschedulable_pod_carries_the_schedulers_message(apiserver: ApiServer, kube: KubeClient) -> None:
    [name] = apiserver.add_unschedulable_pods("ns", WEB)
    [pod] = KubePodLister(kube).list_pods("ns", "app=web")
    assert (pod.ready, pod.phase, pod.start_time, pod.unschedulable) == (False, "Pending", None,
                                                                        ApiServer.NO_FREE_GPU)
    apiserver.set_pod_condition("ns", name, "PodScheduled", "True")  # a GPU was freed: placed
    [placed] = KubePodLister(kube).list_pods("ns", "app=web")
    assert placed.unschedulable is None and placed.start_time is not None and not placed.ready


@pytest.mark.parametrize("condition,expected", [
    pytest.param({"status": "False", "reason": "Unschedulable"}, "", id="no message"),
    pytest.param({"status": "False", "reason": "SchedulerError", "message": "x"}, None, id="another reason"),
    pytest.param({"status": "True"}, None, id="scheduled"),
    pytest.param({"status": "False", "reason": "Unschedulable", "message": "m" * 2000}, "m" * 512,
                 id="a long message is cut"),
])
def test_pod_scheduled_condition(apiserver: ApiServer, kube: KubeClient, condition: dict[str, str],
                                 expected: str | None) -> None:
    [name] = apiserver.add_unschedulable_pods("ns", WEB)
    apiserver.set_pod_condition("ns", name, "PodScheduled", condition["status"], reason=condition.get("reason"),
                                message=condition.get("message"))
    assert KubePodLister(kube).list_pods("ns", "app=web")[0].unschedulable == expected
