"""PodCache against the API emulator over HTTP: selectors answered locally as a LIST
would answer them, changes seen through the watch, recovery after a dropped stream and
after 410 Gone, and the fallback to a LIST while the cache cannot vouch for itself."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import Invalid, KubeError
from autoscaler.kube.podcache import PodCache
from autoscaler.kube.pods import KubePodLister
from simulations.cluster.apiserver import ApiServer, wait_until

MakeCache = Callable[..., PodCache]
STARTED = "2026-11-29T06:33:49Z"  # every pod's status.startTime
T0 = 1_795_934_029.0  # STARTED in Unix seconds

# name -> labels, all in namespace "ns"; "other" holds a look-alike of "web-a".
PODS = {
    "web-a": {"app": "web", "tier": "gpu"},
    "web-b": {"app": "web", "tier": "cpu"},
    "web-c": {"app": "web"},
    "db-d": {"app": "db", "tier": "gpu"},
    "web-e": {"app": "web", "tier": "gpu", "canary": "true"},
}


@pytest.fixture
def make_cache(kube: KubeClient) -> Iterator[MakeCache]:
    """``make_cache(namespaces=("ns",), start=True, client=kube, **options)``; stopped after the test."""
    caches: list[PodCache] = []

    def make(namespaces: Sequence[str] | None = ("ns",), *, start: bool = True, client: KubeClient | None = None,
             **options: object) -> PodCache:
        cache = PodCache(client or kube, namespaces, **options)  # type: ignore[arg-type]
        caches.append(cache)
        if start:
            cache.start()
        return cache

    yield make
    for c in caches:
        c.stop()


def add(apiserver: ApiServer, namespace: str, name: str, labels: dict[str, str], **status: object) -> None:
    """One pod with exactly this name (ApiServer.add_pods appends a random suffix)."""
    meta = {"name": name, "namespace": namespace, "labels": labels}
    apiserver.create("", "pods", {
        "metadata": meta, "spec": {"containers": [{"name": "server", "image": "model-server:1"}]},
        "status": {"phase": "Running", "startTime": STARTED,
                   "conditions": [{"type": "Ready", "status": "True"}], **status}})


def names(pods: tuple[object, ...]) -> list[str]:
    return [p.name for p in pods]  # type: ignore[attr-defined]


def drop_watches_until(apiserver: ApiServer, done: Callable[[], bool]) -> None:
    """Cut open watches until ``done()``: a watch opened just before a fault was added may
    not be registered for cutting yet when the first cut comes."""
    def cut() -> bool:
        apiserver.drop_watches()
        return done()
    wait_until(cut)


def pod_requests(apiserver: ApiServer, verb: str) -> int:
    return sum(1 for r in apiserver.requests if r.resource == "pods" and r.verb == verb)


@pytest.mark.parametrize("selector,expected", [
    pytest.param("app=web", ["web-a", "web-b", "web-c", "web-e"], id="equals"),
    pytest.param("app==web,tier=gpu", ["web-a", "web-e"], id="two-equals"),
    pytest.param("app=web,tier!=gpu", ["web-b", "web-c"], id="not-equals-includes-unlabelled"),
    pytest.param("tier in (gpu,cpu)", ["db-d", "web-a", "web-b", "web-e"], id="in"),
    pytest.param("app=web,tier notin (gpu)", ["web-b", "web-c"], id="notin"),
    pytest.param("app=web,canary", ["web-e"], id="exists"),
    pytest.param("app=web,!canary", ["web-a", "web-b", "web-c"], id="does-not-exist"),
    pytest.param("app in (web),tier in (gpu),!canary", ["web-a"], id="match-expressions"),
    pytest.param("!canary", ["db-d", "web-a", "web-b", "web-c"], id="no-equality-to-index-by"),
    pytest.param("app=nothing", [], id="none"),
])
def test_selectors_are_answered_as_the_api_server_answers_them(
        apiserver: ApiServer, kube: KubeClient, make_cache: MakeCache, selector: str, expected: list[str]) -> None:
    for name, labels in PODS.items():
        add(apiserver, "ns", name, labels)
    add(apiserver, "other", "web-a", PODS["web-a"])
    cache = make_cache()
    assert cache.wait_synced(5)
    listed = pod_requests(apiserver, "list")
    assert names(cache.list_pods("ns", selector)) == expected
    assert cache.list_pods("ns", selector) == KubePodLister(kube).list_pods("ns", selector)  # same PodStates
    assert pod_requests(apiserver, "list") == listed + 1  # only the LIST just above: the cache asked nothing


@pytest.mark.parametrize("status,ready,phase", [
    pytest.param({}, True, "Running", id="ready"),
    pytest.param({"conditions": [{"type": "Ready", "status": "False"}]}, False, "Running", id="loading"),
    pytest.param({"phase": "Pending", "conditions": []}, False, "Pending", id="pending"),
    pytest.param({"phase": "Failed", "conditions": [{"type": "Ready", "status": "False"}]}, False, "Failed",
                 id="failed"),
])
def test_pod_state_is_what_the_list_shows(apiserver: ApiServer, kube: KubeClient, make_cache: MakeCache,
                                          status: dict[str, object], ready: bool, phase: str) -> None:
    add(apiserver, "ns", "p", {"app": "web"}, **status)
    cache = make_cache()
    assert cache.wait_synced(5)
    [pod] = cache.list_pods("ns", "app=web")
    assert (pod.ready, pod.phase, pod.start_time) == (ready, phase, T0)
    assert cache.list_pods("ns", "app=web") == KubePodLister(kube).list_pods("ns", "app=web")


def test_the_watch_brings_additions_readiness_and_deletions(apiserver: ApiServer, make_cache: MakeCache) -> None:
    add(apiserver, "ns", "web-a", {"app": "web"})
    cache = make_cache()
    assert cache.wait_synced(5)
    [loading] = apiserver.add_pods("ns", {"app": "web"}, prefix="web", ready=False)
    wait_until(lambda: loading in names(cache.list_pods("ns", "app=web")))
    assert not next(p for p in cache.list_pods("ns", "app=web") if p.name == loading).ready

    apiserver.set_pod_ready("ns", loading)
    wait_until(lambda: all(p.ready for p in cache.list_pods("ns", "app=web")))
    apiserver.modify("", "pods", "ns", "web-a", {"metadata": {"deletionTimestamp": "2026-11-29T06:40:00Z"}})
    wait_until(lambda: next(p for p in cache.list_pods("ns", "app=web") if p.name == "web-a").deleting)

    apiserver.modify("", "pods", "ns", loading, {"metadata": {"labels": {"app": "db"}}})  # relabelled away
    wait_until(lambda: names(cache.list_pods("ns", "app=web")) == ["web-a"])
    assert names(cache.list_pods("ns", "app=db")) == [loading]
    apiserver.delete("", "pods", "ns", "web-a")
    wait_until(lambda: cache.list_pods("ns", "app=web") == ())
    assert pod_requests(apiserver, "list") == 1  # everything above came through the one watch


def test_a_dropped_watch_is_recovered_by_a_relist(apiserver: ApiServer, make_cache: MakeCache) -> None:
    add(apiserver, "ns", "web-a", {"app": "web"})
    cache = make_cache()
    assert cache.wait_synced(5)
    watch = apiserver.fail(r"/pods$", verb="watch", status=503, times=1)  # the first re-watch fails too
    drop_watches_until(apiserver, lambda: watch.hits == 1)
    add(apiserver, "ns", "web-b", {"app": "web"})
    apiserver.delete("", "pods", "ns", "web-a")
    wait_until(lambda: names(cache.list_pods("ns", "app=web")) == ["web-b"])
    assert pod_requests(apiserver, "list") >= 2  # the change came from a re-list


def test_410_gone_on_resuming_is_recovered_by_a_relist(apiserver: ApiServer, make_cache: MakeCache) -> None:
    """The server ends the watch (timeoutSeconds=1); while we resume, it forgets the
    history (compact) after changes we never saw: the resumed watch answers an ERROR
    410 event, and only a re-list can show what happened."""
    add(apiserver, "ns", "web-a", {"app": "web"})
    cache = make_cache(watch_timeout_seconds=1)
    assert cache.wait_synced(5)
    resume = apiserver.fail(r"/pods$", verb="watch", delay=1.0, times=1)  # the resume waits in the server
    wait_until(lambda: resume.hits == 1, timeout=5)
    add(apiserver, "ns", "web-b", {"app": "web"})
    apiserver.delete("", "pods", "ns", "web-a")
    apiserver.compact()
    wait_until(lambda: names(cache.list_pods("ns", "app=web")) == ["web-b"], timeout=5)
    assert pod_requests(apiserver, "list") == 2


def test_before_its_first_list_the_cache_falls_back_to_a_list(
        apiserver: ApiServer, make_client: Callable[..., KubeClient], make_cache: MakeCache) -> None:
    add(apiserver, "ns", "web-a", {"app": "web"})
    apiserver.fail(r"/pods$", verb="list", user_agent="^cache$", status=500)  # the cache cannot list
    fallback = KubePodLister(make_client(user_agent="fallback"))
    cache = make_cache(client=make_client(user_agent="cache"), fallback=fallback)
    assert not cache.wait_synced(0.3)
    assert names(cache.list_pods("ns", "app=web")) == ["web-a"]  # never "no pods" from an empty cache
    assert [r.status for r in apiserver.requests if r.user_agent == "fallback"] == [200]

    apiserver.clear_faults()
    assert cache.wait_synced(5)
    assert names(cache.list_pods("ns", "app=web")) == ["web-a"]
    assert [r.status for r in apiserver.requests if r.user_agent == "fallback"] == [200]  # no new LIST


def test_unstarted_cache_answers_by_list(apiserver: ApiServer, make_cache: MakeCache) -> None:
    add(apiserver, "ns", "web-a", {"app": "web"})
    cache = make_cache(start=False)
    assert names(cache.list_pods("ns", "app=web")) == ["web-a"]
    assert pod_requests(apiserver, "list") == 1


def test_a_cache_failing_longer_than_stale_after_falls_back(
        apiserver: ApiServer, make_client: Callable[..., KubeClient], make_cache: MakeCache) -> None:
    now = [1000.0]
    add(apiserver, "ns", "web-a", {"app": "web"})
    cache = make_cache(client=make_client(user_agent="cache"), fallback=KubePodLister(make_client(user_agent="fb")),
                       stale_after=30.0, clock=lambda: now[0])
    assert cache.wait_synced(5)
    apiserver.fail(r"/pods$", user_agent="^cache$", status=500)  # list and watch
    drop_watches_until(apiserver, lambda: cache.informers["ns"].failing_since == 1000.0)
    add(apiserver, "ns", "web-b", {"app": "web"})  # the cache cannot see it

    now[0] += 29.0  # failing for 29 s: still answered from the cache, as it was
    assert names(cache.list_pods("ns", "app=web")) == ["web-a"]
    now[0] += 2.0  # 31 s > stale_after: asked of the API server
    assert names(cache.list_pods("ns", "app=web")) == ["web-a", "web-b"]

    apiserver.clear_faults()  # the re-list succeeds: the cache serves again
    wait_until(lambda: cache.informers["ns"].failing_since is None)
    asked = sum(1 for r in apiserver.requests if r.user_agent == "fb")
    assert names(cache.list_pods("ns", "app=web")) == ["web-a", "web-b"]
    assert sum(1 for r in apiserver.requests if r.user_agent == "fb") == asked


def test_all_namespaces_from_one_cluster_wide_watch(apiserver: ApiServer, make_cache: MakeCache) -> None:
    add(apiserver, "a", "web-1", {"app": "web"})
    add(apiserver, "b", "web-2", {"app": "web"})
    cache = make_cache(namespaces=None)
    assert cache.wait_synced(5)
    add(apiserver, "c", "web-3", {"app": "web"})
    wait_until(lambda: names(cache.list_pods("c", "app=web")) == ["web-3"])
    assert [names(cache.list_pods(ns, "app=web")) for ns in ("a", "b", "empty")] == [["web-1"], ["web-2"], []]
    assert {r.path for r in apiserver.requests if r.resource == "pods"} == {"/api/v1/pods"}


def test_namespaces_are_watched_each_once(apiserver: ApiServer, make_cache: MakeCache) -> None:
    add(apiserver, "a", "web-1", {"app": "web"})
    add(apiserver, "b", "web-2", {"app": "web"})
    cache = make_cache(namespaces=["a", "b", "a"])
    assert cache.wait_synced(5)
    assert [names(cache.list_pods(ns, "app=web")) for ns in ("a", "b")] == [["web-1"], ["web-2"]]
    assert sorted(r.namespace for r in apiserver.requests if r.verb == "list") == ["a", "b"]


@pytest.mark.parametrize("selector,error", [
    pytest.param(" ", "empty selector", id="empty"),
    pytest.param("app in (web", "missing ')'", id="unparsable"),
])
def test_bad_selectors_are_refused_without_a_request(apiserver: ApiServer, make_cache: MakeCache, selector: str,
                                                     error: str) -> None:
    cache = make_cache(start=False)
    with pytest.raises(KubeError, match=error.replace("(", r"\(").replace(")", r"\)")) as raised:
        cache.list_pods("ns", selector)
    assert isinstance(raised.value, Invalid) == (selector != " ")
    assert apiserver.requests == []


def test_the_watch_brings_scheduling_and_load_times(apiserver: ApiServer, make_cache: MakeCache) -> None:
    """A pod no node could take, then placed and Ready: the cache shows each step as a LIST would."""
    cache = make_cache()
    assert cache.wait_synced(5)
    [name] = apiserver.add_unschedulable_pods("ns", {"app": "web"})
    wait_until(lambda: [p.unschedulable for p in cache.list_pods("ns", "app=web")] == [ApiServer.NO_FREE_GPU])
    apiserver.set_pod_condition("ns", name, "PodScheduled", "True")
    wait_until(lambda: cache.list_pods("ns", "app=web")[0].unschedulable is None)
    created = cache.list_pods("ns", "app=web")[0].created
    assert created is not None
    apiserver.set_pod_condition("ns", name, "Ready", "True", at=created + 60)
    wait_until(lambda: cache.list_pods("ns", "app=web")[0].ready_time == created + 60)
