"""KubeScalerStore: list, write status (409 → re-read, no lost update), and the watch."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from autoscaler.core.types import Memory, Recommendation, ScaleEvent
from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import NotFound
from autoscaler.kube.scalers import KubeScalerStore
from autoscaler.kube.status import memory_from_status, memory_to_status
from autoscaler.kube.types import ScalerEvent
from simulations.cluster.apiserver import ApiServer, wait_until

GPUSCALERS = ("gpuautoscaler.io", "gpuscalers")
MEMORY = Memory(recommendations=(Recommendation(1_795_933_600.25, 3),),
                scale_events=(ScaleEvent(1_795_933_600.25, "up", 1),), last_scale_up_time=1_795_933_600.25)


def scaler(name: str, namespace: str = "serving", max_replicas: int = 4) -> dict[str, Any]:
    return {"apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "maxReplicas": max_replicas, "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}}]}}


@pytest.fixture
def store(kube: KubeClient) -> KubeScalerStore:
    return KubeScalerStore(kube, watch_timeout_seconds=2)


@pytest.mark.parametrize("namespaces,expected", [
    pytest.param(None, ["a/x", "b/y", "c/z"], id="all namespaces"),
    pytest.param(["a", "c", "a"], ["a/x", "c/z"], id="chosen namespaces, each once"),
    pytest.param([], [], id="none"),
])
def test_list_scalers(apiserver: ApiServer, store: KubeScalerStore, namespaces: list[str] | None,
                      expected: list[str]) -> None:
    for ns, name in (("a", "x"), ("b", "y"), ("c", "z")):
        apiserver.add_gpuscaler(scaler(name, ns))
    listed = store.list_scalers(namespaces)
    assert [f"{s.namespace}/{s.name}" for s in listed] == expected
    if listed:
        first = listed[0]
        assert (first.generation, first.spec["maxReplicas"], first.status, bool(first.uid)) == (1, 4, {}, True)


def test_status_round_trip(apiserver: ApiServer, store: KubeScalerStore) -> None:
    apiserver.add_gpuscaler(scaler("llm"))
    [obj] = store.list_scalers(None)
    store.write_status(obj, {"observedGeneration": 1, "memory": memory_to_status(MEMORY)})
    [again] = store.list_scalers(["serving"])
    assert memory_from_status(again.status) == MEMORY
    assert again.spec == obj.spec and again.generation == 1  # a status write touches nothing else


@pytest.mark.parametrize("skip_unchanged,puts", [
    pytest.param(True, ["first", "changed"], id="only changes are written (as HPA)"),
    pytest.param(False, ["first", "same, re-read", "same, stale object", "changed"], id="every write (baseline)"),
])
def test_status_is_written_only_when_it_changed(apiserver: ApiServer, kube: KubeClient, skip_unchanged: bool,
                                                puts: list[str]) -> None:
    store = KubeScalerStore(kube, skip_unchanged=skip_unchanged)
    apiserver.add_gpuscaler(scaler("llm"))
    [obj] = store.list_scalers(None)
    status = {"observedGeneration": 1, "memory": memory_to_status(MEMORY)}
    written = []
    for label, handed, body in [("first", obj, status), ("same, re-read", None, status),
                                ("same, stale object", obj, status),  # the watch has not brought our write back
                                ("changed", None, {**status, "desiredReplicas": 2})]:
        before = sum(1 for r in apiserver.requests if r.method == "PUT")
        store.write_status(handed or store.list_scalers(None)[0], body)
        if sum(1 for r in apiserver.requests if r.method == "PUT") > before:
            written.append(label)
    assert written == puts
    assert store.unchanged == (2 if skip_unchanged else 0)
    assert apiserver.gpuscaler("serving", "llm")["status"]["desiredReplicas"] == 2


def test_compact_memory_makes_a_steady_scaler_write_nothing(apiserver: ApiServer, kube: KubeClient) -> None:
    """Poll after poll the loop hands a memory with one more recommendation of 3; with
    ``compact_memory`` only the first poll writes (and the stored run begins at the first)."""
    store = KubeScalerStore(kube, compact_memory=True)
    apiserver.add_gpuscaler(scaler("llm"))
    t0 = 1_795_933_600.25
    for k in range(1, 6):
        memory = Memory(recommendations=tuple(Recommendation(t0 + 15 * i, 3) for i in range(k)))
        store.write_status(store.list_scalers(None)[0], {"observedGeneration": 1, "memory": memory_to_status(memory)})
    assert sum(1 for r in apiserver.requests if r.method == "PUT") == 1
    stored = apiserver.gpuscaler("serving", "llm")["status"]["memory"]
    assert (stored["compacted"], memory_from_status({"memory": stored})) == (
        True, Memory(recommendations=(Recommendation(t0, 3),)))


def test_conflict_is_reread_and_retried_without_losing_either_update(apiserver: ApiServer,
                                                                      store: KubeScalerStore) -> None:
    apiserver.add_gpuscaler(scaler("llm"))
    [obj] = store.list_scalers(None)
    apiserver.modify(*GPUSCALERS, "serving", "llm", {"spec": {"maxReplicas": 9}})  # a user edits meanwhile
    store.write_status(obj, {"desiredReplicas": 3})  # obj carries the old resourceVersion → 409 → re-read
    stored = apiserver.gpuscaler("serving", "llm")
    assert (stored["spec"]["maxReplicas"], stored["metadata"]["generation"], stored["status"]) == (
        9, 2, {"desiredReplicas": 3})
    assert [(r.verb, r.subresource, r.status) for r in apiserver.requests[1:]] == [
        ("update", "status", 409), ("get", "status", 200), ("update", "status", 200)]


def test_injected_409_is_retried(apiserver: ApiServer, store: KubeScalerStore) -> None:
    apiserver.add_gpuscaler(scaler("llm"))
    [obj] = store.list_scalers(None)
    apiserver.fail(r"/status$", method="PUT", status=409, times=2)
    store.write_status(obj, {"desiredReplicas": 2})
    assert apiserver.gpuscaler("serving", "llm")["status"] == {"desiredReplicas": 2}


def test_writing_again_with_the_same_object_does_not_conflict(apiserver: ApiServer, store: KubeScalerStore) -> None:
    """The loop may hold one ScalerObject for many polls; our own last write must not cost a 409 each time."""
    apiserver.add_gpuscaler(scaler("llm"))
    [obj] = store.list_scalers(None)
    for desired in (2, 3, 4):
        store.write_status(obj, {"desiredReplicas": desired})
    assert [r.status for r in apiserver.requests if r.subresource == "status"] == [200, 200, 200]
    assert apiserver.gpuscaler("serving", "llm")["status"] == {"desiredReplicas": 4}


@pytest.mark.parametrize("recreate", [pytest.param(False, id="deleted"), pytest.param(True, id="re-created")])
def test_status_of_a_gone_scaler_is_not_written(apiserver: ApiServer, store: KubeScalerStore, recreate: bool) -> None:
    apiserver.add_gpuscaler(scaler("llm"))
    [obj] = store.list_scalers(None)
    apiserver.delete(*GPUSCALERS, "serving", "llm")
    if recreate:
        apiserver.add_gpuscaler(scaler("llm"))
    with pytest.raises(NotFound):
        store.write_status(obj, {"desiredReplicas": 2})
    assert (apiserver.get(*GPUSCALERS, "serving", "llm") or {}).get("status") is None


class Recorder:
    """Collects watch events from a background watch_scalers; stops it on exit."""

    def __init__(self, store: KubeScalerStore, namespaces: list[str] | None):
        self.events: list[ScalerEvent] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=store.watch_scalers, args=(namespaces, self.events.append, self.stop))

    def seen(self) -> list[tuple[str, str, Any]]:
        return [(e.type, e.scaler.name, e.scaler.spec.get("maxReplicas")) for e in list(self.events)]

    def wait_for(self, *expected: tuple[str, str, Any]) -> None:
        wait_until(lambda: all(e in self.seen() for e in expected), timeout=10)


@pytest.fixture
def recorder(store: KubeScalerStore, request: pytest.FixtureRequest) -> Iterator[Recorder]:
    rec = Recorder(store, getattr(request, "param", None))
    rec.thread.start()
    yield rec
    rec.stop.set()
    rec.thread.join(5)
    assert not rec.thread.is_alive(), "watch_scalers did not return after stop"


def test_watch_reports_added_modified_deleted(apiserver: ApiServer, recorder: Recorder) -> None:
    apiserver.add_gpuscaler(scaler("a"))
    recorder.wait_for(("ADDED", "a", 4))
    apiserver.modify(*GPUSCALERS, "serving", "a", {"spec": {"maxReplicas": 6}})
    apiserver.delete(*GPUSCALERS, "serving", "a")
    recorder.wait_for(("MODIFIED", "a", 6), ("DELETED", "a", 6))


@pytest.mark.parametrize("recorder", [["serving", "other"]], indirect=True)
def test_watch_of_chosen_namespaces(apiserver: ApiServer, recorder: Recorder) -> None:
    apiserver.add_gpuscaler(scaler("a", "serving"))
    apiserver.add_gpuscaler(scaler("b", "elsewhere"))
    apiserver.add_gpuscaler(scaler("c", "other"))
    recorder.wait_for(("ADDED", "a", 4), ("ADDED", "c", 4))
    assert "b" not in {name for _, name, _ in recorder.seen()}


def test_watch_recovers_from_a_dropped_stream(apiserver: ApiServer, recorder: Recorder) -> None:
    apiserver.add_gpuscaler(scaler("a"))
    recorder.wait_for(("ADDED", "a", 4))
    apiserver.drop_watches()
    apiserver.modify(*GPUSCALERS, "serving", "a", {"spec": {"maxReplicas": 7}})
    recorder.wait_for(("MODIFIED", "a", 7))


def test_watch_relists_after_an_outage_and_410(apiserver: ApiServer, recorder: Recorder) -> None:
    """Changes made while the stream was down and the history was compacted still arrive,
    deletions included, from the re-list."""
    apiserver.add_gpuscaler(scaler("a"))
    apiserver.add_gpuscaler(scaler("b"))
    recorder.wait_for(("ADDED", "a", 4), ("ADDED", "b", 4))
    apiserver.stop()
    apiserver.modify(*GPUSCALERS, "serving", "a", {"spec": {"maxReplicas": 8}})
    apiserver.delete(*GPUSCALERS, "serving", "b")
    apiserver.compact()
    apiserver.start()
    recorder.wait_for(("MODIFIED", "a", 8), ("DELETED", "b", 4))
    apiserver.add_gpuscaler(scaler("c"))
    recorder.wait_for(("ADDED", "c", 4))  # and the watch goes on


def test_watch_survives_a_failing_handler(apiserver: ApiServer, store: KubeScalerStore) -> None:
    seen: list[str] = []

    def handler(event: ScalerEvent) -> None:
        seen.append(event.scaler.name)
        if event.scaler.name == "bad":
            raise RuntimeError("handler bug")

    stop = threading.Event()
    thread = threading.Thread(target=store.watch_scalers, args=(None, handler, stop))
    thread.start()
    try:
        apiserver.add_gpuscaler(scaler("bad"))
        apiserver.add_gpuscaler(scaler("good"))
        wait_until(lambda: "good" in seen)
    finally:
        stop.set()
        thread.join(5)
