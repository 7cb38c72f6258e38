"""The generic list+watch informer (kube/informer.py) over Deployments, against the API
emulator: what it holds and reports, objects ``decode`` refuses, and the periodic resync.
(Pods, GPUScalers and scale targets are its instances: their own tests cover outages,
410 Gone and staleness.)"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from kubernetes import client as k8s

from autoscaler.kube.client import KubeClient
from autoscaler.kube.informer import Informer, Key, Resource
from simulations.cluster.apiserver import ApiServer, wait_until


def replicas_of(raw: Mapping[str, Any]) -> int | None:
    """Keep spec.replicas; refuse (None) a Deployment named ``skip-*``."""
    if str((raw.get("metadata") or {}).get("name")).startswith("skip-"):
        return None
    return int(raw["spec"].get("replicas", 1))


class Run:
    def __init__(self, informer: Informer[int]):
        self.informer, self.stop = informer, threading.Event()
        self.thread = threading.Thread(target=informer.run, args=(self.stop,), daemon=True)


@pytest.fixture
def start(kube: KubeClient) -> Iterator[Any]:
    runs: list[Run] = []
    apps = k8s.AppsV1Api(kube.api_client)
    resource = Resource("deployments", apps.list_deployment_for_all_namespaces, apps.list_namespaced_deployment)

    def make(namespace: str | None, **options: Any) -> Informer[int]:
        run = Run(Informer(kube, resource, namespace, replicas_of, **options))
        runs.append(run)
        run.thread.start()
        assert run.informer.synced.wait(5)
        return run.informer

    yield make
    for run in runs:
        run.stop.set()
        run.informer.interrupt()
        run.thread.join(5)
        assert not run.thread.is_alive()


def test_holds_and_reports_what_decode_keeps(apiserver: ApiServer, start: Any) -> None:
    seen: list[tuple[str, Key, int | None, int | None]] = []
    apiserver.add_deployment("ns", "a", 2)
    apiserver.add_deployment("other", "b", 1)
    informer = start("ns", on_change=lambda *event: seen.append(event))
    apiserver.add_deployment("ns", "skip-c", 3)  # decode refuses it
    apiserver.modify("apps", "deployments", "ns", "a", {"spec": {"replicas": 4}})
    apiserver.delete("apps", "deployments", "ns", "a")
    wait_until(lambda: ("DELETED", ("ns", "a"), 4, None) in seen)
    assert seen == [("ADDED", ("ns", "a"), None, 2), ("MODIFIED", ("ns", "a"), 2, 4), ("DELETED", ("ns", "a"), 4, None)]
    assert (informer.get("ns", "a"), informer.get("ns", "skip-c"), informer.get("other", "b"), informer.items()) == (
        None, None, None, [])


def test_resync_relists_on_its_period(apiserver: ApiServer, start: Any) -> None:
    """``resync_seconds=0``: every watch the server ends (after 1 s here) is followed by a re-list."""
    apiserver.add_deployment("ns", "a", 2)
    informer = start("ns", watch_timeout_seconds=1, resync_seconds=0.0)
    wait_until(lambda: sum(1 for r in apiserver.requests if r.verb == "list") >= 3, timeout=10)
    assert informer.current() and informer.get("ns", "a") == 2
