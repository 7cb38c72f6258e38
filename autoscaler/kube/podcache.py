"""Pods served from a watch, as HPA serves them from its pod informer.

Listing each target's pods every poll costs one LIST per scaler per poll: for 1,000
GPUScalers, 1,000 requests and ~1 s of our CPU a loop, and as much again on the API
server. :class:`PodCache` instead keeps, per scope (each watched namespace, or the
whole cluster when the controller watches all namespaces), one list+watch of pods,
holding of each pod only its :class:`~autoscaler.core.types.PodState` and labels, and
answers :meth:`PodCache.list_pods` by matching the label selector locally
(:mod:`autoscaler.kube.selector`), through an index of ``(label, value)`` → pods.

The informer, as client-go's reflector: list (``resourceVersion="0"``, from the API
server's watch cache), watch from the list's resourceVersion, resume a watch the
server ended (``timeoutSeconds``) from the last resourceVersion seen; on 410 Gone
re-list at once; on a dropped stream or any other error re-list after a backoff. A
re-list replaces the scope's pods wholesale, so pods deleted while we were not
watching disappear.

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

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s

from autoscaler.core.types import PodState
from autoscaler.kube.client import KubeClient, translate
from autoscaler.kube.errors import Gone
from autoscaler.kube.pods import KubePodLister, pod_items, pod_labels, pod_state, refuse_empty
from autoscaler.kube.raw import WatchStream, call_json
from autoscaler.kube.selector import IN, Selector, parse_selector
from autoscaler.kube.types import PodLister

log = logging.getLogger(__name__)


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
        return [pod.state for name in candidates
                if selector.matches((pod := self.pods[name]).labels)]


class PodCache:
    """:class:`~autoscaler.kube.types.PodLister` served from list+watch.

    ``namespaces``: one informer per namespace, or one cluster-wide when None (the
    controller's ``--namespace`` setting). ``fallback`` answers what the cache cannot
    yet (default: a :class:`KubePodLister`, one LIST). ``watch_timeout_seconds``: how
    long the server keeps one watch open before we resume it. ``stale_after``: seconds
    of failing re-lists after which the cache stops answering (two 15 s polls).
    ``clock`` is monotonic seconds, injectable for tests. ``informers`` maps each
    scope (a namespace, or None for all) to its :class:`PodInformer`.
    """

    def __init__(self, client: KubeClient, namespaces: Sequence[str] | None, *,
                 fallback: PodLister | None = None, watch_timeout_seconds: int = 300,
                 stale_after: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self._fallback = fallback or KubePodLister(client)
        scopes: list[str | None] = [None] if namespaces is None else list(dict.fromkeys(namespaces))
        self.informers: Mapping[str | None, PodInformer] = {
            scope: PodInformer(client, scope, watch_timeout_seconds=watch_timeout_seconds, stale_after=stale_after,
                               clock=clock) for scope in scopes}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def start(self) -> None:
        for scope, informer in self.informers.items():
            thread = threading.Thread(target=informer.run, args=(self._stop,), daemon=True,
                                      name=f"watch-pods-{scope or 'all'}")
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        while any(t.is_alive() for t in self._threads) and time.monotonic() < deadline:
            for informer in self.informers.values():
                informer.interrupt()  # repeated: an informer between two streams has none to stop yet
            for t in self._threads:
                t.join(timeout=0.05)

    def synced(self) -> bool:
        """Every scope has been listed at least once."""
        return all(i.synced.is_set() for i in self.informers.values())

    def wait_synced(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for informer in self.informers.values():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not informer.synced.wait(left):
                return False
        return True

    def list_pods(self, namespace: str, selector: str) -> tuple[PodState, ...]:
        """Pods of ``namespace`` matching ``selector``, sorted by name; from the cache when
        it can vouch for that namespace, else from ``fallback``. Raises
        :class:`~autoscaler.kube.errors.KubeError` for an empty selector (it would match
        every pod) and :class:`~autoscaler.kube.errors.Invalid` for one that does not parse."""
        refuse_empty(namespace, selector)
        parsed = parse_selector(selector)
        informer = self.informers.get(namespace) or self.informers.get(None)
        pods = informer.select(namespace, parsed) if informer is not None else None
        if pods is None:
            return self._fallback.list_pods(namespace, selector)
        return tuple(sorted(pods, key=lambda p: p.name))


class PodInformer:
    """One list+watch of pods (a namespace's, or all when ``namespace`` is None) kept in
    memory. :meth:`run` blocks until its ``stop`` is set."""

    def __init__(self, client: KubeClient, namespace: str | None, *, watch_timeout_seconds: int = 300,
                 stale_after: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self._client = client
        self._core = k8s.CoreV1Api(client.api_client)
        self.namespace = namespace
        self._watch_timeout = watch_timeout_seconds
        self._stale_after = stale_after
        self._clock = clock
        self._namespaces: dict[str, _Namespace] = {}
        self._lock = threading.Lock()
        self._watch: WatchStream | None = None
        #: ``clock()`` when the current streak of failed lists and watches began; None while working.
        self.failing_since: float | None = None
        #: Set once the first list succeeded.
        self.synced = threading.Event()
        #: The newest resourceVersion applied (a list's, or a watch event's).
        self.resource_version = ""

    # ------------------------------------------------------------------ read
    def select(self, namespace: str, selector: Selector) -> list[PodState] | None:
        """The matching pods, or None when this informer cannot vouch for them (never
        listed, or failing for longer than ``stale_after``)."""
        if not self.synced.is_set():
            return None
        failing_since = self.failing_since
        if failing_since is not None and self._clock() - failing_since > self._stale_after:
            return None
        with self._lock:
            space = self._namespaces.get(namespace)
            return space.select(selector) if space is not None else []

    # ------------------------------------------------------------------ list + watch
    def run(self, stop: threading.Event) -> None:
        where = f" in {self.namespace}" if self.namespace else ""
        rv: str | None = None
        failures = 0
        while not stop.is_set():
            try:
                if rv is None:
                    rv = self._relist()
                    if self.failing_since is not None:
                        log.info("pod watch%s works again", where)
                    self.failing_since, failures = None, 0
                started, events = time.monotonic(), 0
                for type_, obj in self._stream(rv, stop):
                    rv = self._apply(type_, obj) or rv
                    events += 1
                # A clean end is the server's timeout: resume from rv. One that ends at once
                # with nothing in it is a server in trouble: back off rather than spin.
                failures = failures + 1 if not events and time.monotonic() - started < 1.0 else 0
            except Exception as exc:  # any failure: re-list after a backoff
                if stop.is_set():
                    return
                error = translate(exc) or exc
                if isinstance(error, Gone):
                    log.info("pod watch%s expired; re-listing", where)
                    rv = None
                    continue
                if self.failing_since is None:
                    self.failing_since = self._clock()
                    log.warning("pod watch%s failed (%s); re-listing", where, error)
                rv, failures = None, failures + 1
            if failures:
                stop.wait(self._client.backoff(failures))

    def interrupt(self) -> None:
        watch = self._watch
        if watch is not None:
            watch.stop()

    def _relist(self) -> str:
        """List the scope and replace what we hold; returns the list's resourceVersion."""
        if self.namespace is None:
            body = call_json(self._client, self._core.list_pod_for_all_namespaces, resource_version="0")
        else:
            body = call_json(self._client, self._core.list_namespaced_pod, self.namespace, resource_version="0")
        fresh: dict[str, _Namespace] = {}
        for raw in pod_items(body):
            ns = str((raw.get("metadata") or {}).get("namespace") or self.namespace or "")
            fresh.setdefault(ns, _Namespace()).put(CachedPod(pod_state(raw), pod_labels(raw)))
        rv = str((body.get("metadata") or {}).get("resourceVersion") or "")
        with self._lock:
            self._namespaces = fresh
            self.resource_version = rv
        self.synced.set()
        return rv

    def _stream(self, rv: str, stop: threading.Event) -> Any:
        watch = WatchStream()
        self._watch = watch
        if stop.is_set():
            return
        timeout = (self._client.settings.connect_timeout, self._watch_timeout + self._client.settings.read_timeout)
        kwargs: dict[str, Any] = {"resource_version": rv, "timeout_seconds": self._watch_timeout,
                                  "allow_watch_bookmarks": True, "_request_timeout": timeout}
        try:
            if self.namespace is None:
                yield from watch.stream(self._core.list_pod_for_all_namespaces, **kwargs)
            else:
                yield from watch.stream(self._core.list_namespaced_pod, self.namespace, **kwargs)
        finally:
            self._watch = None

    def _apply(self, type_: str, obj: Mapping[str, Any]) -> str:
        """Apply one watch event; returns its resourceVersion ("" when it has none)."""
        meta = obj.get("metadata")
        if not isinstance(meta, Mapping):
            return ""
        rv = str(meta.get("resourceVersion") or "")
        if type_ in ("ADDED", "MODIFIED", "DELETED") and meta.get("name"):
            ns = str(meta.get("namespace") or self.namespace or "")
            pod = CachedPod(pod_state(obj), pod_labels(obj)) if type_ != "DELETED" else None
            with self._lock:
                space = self._namespaces.setdefault(ns, _Namespace())
                if pod is None:
                    space.remove(str(meta["name"]))
                    if not space.pods:
                        del self._namespaces[ns]
                else:
                    space.put(pod)
                if rv:
                    self.resource_version = rv
        return rv  # BOOKMARK: only its resourceVersion matters
