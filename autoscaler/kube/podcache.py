"""Pods served from a watch, as HPA serves them from its pod informer.

Listing each target's pods every poll costs one LIST per scaler per poll: for 1,000
GPUScalers, 1,000 requests and ~1 s of our CPU a loop, and as much again on the API
server. :class:`PodCache` instead keeps, per scope (each watched namespace, or the
whole cluster when the controller watches all namespaces), one list+watch of pods,
holding of each pod only its :class:`~autoscaler.core.types.PodState` and labels, and
answers :meth:`PodCache.list_pods` by matching the label selector locally
(:mod:`autoscaler.kube.selector`), through an index of ``(label, value)`` → pods.

The list+watch itself is the generic :class:`~autoscaler.kube.informer.Informer`
(re-list on 410 Gone, backoff, staleness); this module adds only the label index.

Staleness (the same as HPA's): a watch-fed cache lags the API server by the watch's
delivery delay, normally milliseconds, so a poll may miss a pod created or turned
Ready an instant before it; the next poll sees it. While a watch is broken and the
re-list keeps failing, the cache keeps answering from what it had, for at most
``stale_after`` seconds; after that, and before a scope's first list succeeded, it
asks the API server directly (``fallback``, a LIST) rather than answering from a
picture it cannot vouch for. It never answers "no pods" for a scope it has not
listed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s

from autoscaler.core.types import PodState
from autoscaler.kube.client import KubeClient
from autoscaler.kube.informer import Informer, Informers, Key, Resource, WatchedCache
from autoscaler.kube.pods import KubePodLister, pod_labels, pod_state, refuse_empty
from autoscaler.kube.selector import IN, Selector, parse_selector
from autoscaler.kube.types import PodLister


@dataclass(frozen=True, slots=True)
class CachedPod:
    """What the cache keeps of one pod (a cluster-wide cache holds one per pod in the cluster)."""

    state: PodState
    labels: Mapping[str, str]


@dataclass
class _Namespace:
    """One namespace's pods, and an index of ``(label key, value)`` → pod names."""

    pods: dict[str, CachedPod] = field(default_factory=dict)
    index: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def put(self, pod: CachedPod) -> None:
        name = pod.state.name
        self.remove(name)
        self.pods[name] = pod
        for label in pod.labels.items():
            self.index.setdefault(label, set()).add(name)

    def remove(self, name: str) -> None:
        old = self.pods.pop(name, None)
        if old is None:
            return
        for label in old.labels.items():
            names = self.index.get(label)
            if names is not None:
                names.discard(name)
                if not names:
                    del self.index[label]

    def select(self, selector: Selector) -> list[PodState]:
        """Pods matching ``selector``: candidates from the index through the narrowest
        ``key=value`` / ``key in (...)`` requirement (all pods when there is none), then
        every requirement checked on each."""
        candidates: Any = self.pods.keys()
        for req in selector.requirements:
            if req.operator == IN:
                names: set[str] = set()
                for value in req.values:
                    names.update(self.index.get((req.key, value), ()))
                if len(names) < len(candidates):
                    candidates = names
        return [pod.state for name in candidates if selector.matches((pod := self.pods[name]).labels)]


def cached_pod(raw: Mapping[str, Any]) -> CachedPod:
    return CachedPod(pod_state(raw), pod_labels(raw))


def pods_resource(client: KubeClient) -> Resource:
    core = k8s.CoreV1Api(client.api_client)
    return Resource("pods", core.list_pod_for_all_namespaces, core.list_namespaced_pod)


class PodCache(WatchedCache):
    """:class:`~autoscaler.kube.types.PodLister` served from list+watch.

    ``namespaces``: one informer per namespace, or one cluster-wide when None (the
    controller's ``--namespace`` setting). ``fallback`` answers what the cache cannot
    yet (default: a :class:`KubePodLister`, one LIST). ``watch_timeout_seconds``: how
    long the server keeps one watch open before we resume it. ``stale_after``: seconds
    of failing re-lists after which the cache stops answering (two 15 s polls).
    ``clock`` is monotonic seconds, injectable for tests. ``informers`` maps each
    scope (a namespace, or None for all) to its :class:`~autoscaler.kube.informer.Informer`.
    """

    def __init__(
        self,
        client: KubeClient,
        namespaces: Sequence[str] | None,
        *,
        fallback: PodLister | None = None,
        watch_timeout_seconds: int = 300,
        stale_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._fallback = fallback or KubePodLister(client)
        self._namespaces: dict[str, _Namespace] = {}
        self._lock = threading.Lock()
        self._watched = Informers(
            client,
            pods_resource(client),
            namespaces,
            cached_pod,
            on_change=self._index,
            watch_timeout_seconds=watch_timeout_seconds,
            stale_after=stale_after,
            clock=clock,
        )
        self.informers: Mapping[str | None, Informer[CachedPod]] = self._watched.informers

    def _index(self, type_: str, key: Key, old: CachedPod | None, new: CachedPod | None) -> None:
        namespace, name = key
        with self._lock:
            space = self._namespaces.setdefault(namespace, _Namespace())
            if new is None:
                space.remove(name)
                if not space.pods:
                    del self._namespaces[namespace]
            else:
                space.put(new)

    def list_pods(self, namespace: str, selector: str) -> tuple[PodState, ...]:
        """Pods of ``namespace`` matching ``selector``, sorted by name; from the cache when
        it can vouch for that namespace, else from ``fallback``. Raises
        :class:`~autoscaler.kube.errors.KubeError` for an empty selector (it would match
        every pod) and :class:`~autoscaler.kube.errors.Invalid` for one that does not parse."""
        refuse_empty(namespace, selector)
        parsed = parse_selector(selector)
        informer = self._watched.scope(namespace)
        if informer is None or not informer.current():
            return self._fallback.list_pods(namespace, selector)
        with self._lock:
            space = self._namespaces.get(namespace)
            pods = space.select(parsed) if space is not None else []
        return tuple(sorted(pods, key=lambda p: p.name))
