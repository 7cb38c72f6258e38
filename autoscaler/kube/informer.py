"""One list+watch of one kind of object, kept in memory: client-go's reflector and store, written once.

Pods (:mod:`autoscaler.kube.podcache`), GPUScalers (:mod:`autoscaler.kube.scalers`) and
the Deployments and StatefulSets that scalers target (:mod:`autoscaler.kube.scale`) are
all instances of :class:`Informer`; each says only *what* to list (a :class:`Resource`)
and what to keep of an object (``decode``).

The loop, as client-go's reflector: list (``resourceVersion="0"``, from the API
server's watch cache), watch from the list's resourceVersion, resume a watch the server
ended (``timeoutSeconds``) from the last resourceVersion seen; on 410 Gone re-list at
once; on a dropped stream or any other error re-list after the client's backoff
(0.2 s, 0.4 s, ... capped at 5 s). A re-list reports the differences against what we
held (objects that vanished meanwhile as DELETED), so every handler converges after
any outage. ``resync_seconds`` re-lists on a period even when the watch is healthy
(off by default: the watch is the truth; it is a belt for a server that loses events).

Staleness: while a watch is broken and the re-lists keep failing, the store keeps what
it had; :meth:`Informer.current` turns False ``stale_after`` seconds into the failure
(and before the first list), so a reader can ask the API server instead of answering
from a picture it cannot vouch for.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from autoscaler.kube.client import KubeClient, translate
from autoscaler.kube.errors import Gone
from autoscaler.kube.raw import WatchStream, call_json

log = logging.getLogger(__name__)
T = TypeVar("T")

#: ``(namespace, name)`` of an object.
Key = tuple[str, str]
#: ``on_change(type, key, old, new)``: type is ADDED, MODIFIED or DELETED; ``old`` is None
#: for ADDED and ``new`` for DELETED.
Handler = Callable[[str, Key, Any, Any], None]


@dataclass(frozen=True)
class Resource:
    """What to list and watch: the generated client's cluster-wide list method and its
    namespaced one, each called as ``fn(*args, [namespace,] *plural_args)``: a custom
    resource's group and version go in ``args`` and its plural in ``plural_args``
    (``list_namespaced_custom_object(group, version, namespace, plural)``)."""

    name: str
    list_all: Callable[..., Any]
    list_namespaced: Callable[..., Any]
    args: tuple[Any, ...] = ()
    plural_args: tuple[Any, ...] = ()

    def lister(self, namespace: str | None) -> Callable[..., Any]:
        if namespace is None:
            return functools.partial(self.list_all, *self.args, *self.plural_args)
        return functools.partial(self.list_namespaced, *self.args, namespace, *self.plural_args)


class Informer(Generic[T]):
    """One list+watch of ``resource`` in ``namespace`` (all namespaces when None), holding
    ``decode(raw)`` of each object (objects it returns None for are not kept).
    :meth:`run` blocks until its ``stop`` is set; ``on_change`` is called from that thread."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        namespace: str | None,
        decode: Callable[[Mapping[str, Any]], T | None],
        *,
        on_change: Handler | None = None,
        watch_timeout_seconds: int = 300,
        stale_after: float = 30.0,
        resync_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self.resource = resource
        self.namespace = namespace
        self._decode = decode
        self._on_change = on_change
        self._watch_timeout = watch_timeout_seconds
        self._stale_after = stale_after
        self._resync = resync_seconds
        self._clock = clock
        self._objects: dict[Key, tuple[str, T]] = {}  # key -> (resourceVersion, decoded)
        self._lock = threading.Lock()
        self._watch: WatchStream | None = None
        #: ``clock()`` when the current streak of failed lists and watches began; None while working.
        self.failing_since: float | None = None
        #: Set once the first list succeeded.
        self.synced = threading.Event()
        #: The newest resourceVersion applied (a list's, or a watch event's).
        self.resource_version = ""

    @property
    def where(self) -> str:
        return f"{self.resource.name} watch" + (f" in {self.namespace}" if self.namespace else "")

    # ------------------------------------------------------------------ read
    def current(self) -> bool:
        """Listed at least once, and not failing for longer than ``stale_after``."""
        if not self.synced.is_set():
            return False
        failing_since = self.failing_since
        return failing_since is None or self._clock() - failing_since <= self._stale_after

    def get(self, namespace: str, name: str) -> T | None:
        with self._lock:
            held = self._objects.get((namespace, name))
        return held[1] if held is not None else None

    def items(self) -> list[T]:
        with self._lock:
            return [obj for _, obj in self._objects.values()]

    # ------------------------------------------------------------------ list + watch
    def run(self, stop: threading.Event) -> None:
        rv: str | None = None
        failures = 0
        listed_at = 0.0
        while not stop.is_set():
            try:
                if rv is None:
                    rv, listed_at = self._relist(), time.monotonic()
                    if self.failing_since is not None:
                        log.info("%s works again", self.where)
                    self.failing_since, failures = None, 0
                started, events = time.monotonic(), 0
                for type_, obj in self._stream(rv, stop):
                    rv = self._apply(type_, obj) or rv
                    events += 1
                # A clean end is the server's timeout: resume from rv. One that ends at once
                # with nothing in it is a server in trouble: back off rather than spin.
                failures = failures + 1 if not events and time.monotonic() - started < 1.0 else 0
                if self._resync is not None and time.monotonic() - listed_at >= self._resync:
                    rv = None
            except Exception as exc:  # any failure: re-list after a backoff
                if stop.is_set():
                    return
                error = translate(exc) or exc
                if isinstance(error, Gone):
                    log.info("%s expired; re-listing", self.where)
                    rv = None
                    continue
                if self.failing_since is None:
                    self.failing_since = self._clock()
                    log.warning("%s failed (%s); re-listing", self.where, error)
                rv, failures = None, failures + 1
            if failures:
                stop.wait(self._client.backoff(failures))

    def interrupt(self) -> None:
        """End the current watch stream (from another thread): a blocked read returns."""
        watch = self._watch
        if watch is not None:
            watch.stop()

    def _relist(self) -> str:
        """List the scope, report the differences and replace what we hold; returns the
        list's resourceVersion."""
        body = call_json(self._client, self.resource.lister(self.namespace), resource_version="0")
        items = body.get("items")
        fresh: dict[Key, tuple[str, T]] = {}
        for raw in items if isinstance(items, list) else ():
            kept = self._keep(raw)
            if kept is not None:
                fresh[kept[0]] = kept[1]
        rv = str((body.get("metadata") or {}).get("resourceVersion") or "")
        with self._lock:
            before, self._objects = self._objects, fresh
            self.resource_version = rv
        if self._on_change is not None:
            for key, (_, gone) in before.items():
                if key not in fresh:
                    self._on_change("DELETED", key, gone, None)
            for key, (version, obj) in fresh.items():
                old = before.get(key)
                if old is None:
                    self._on_change("ADDED", key, None, obj)
                elif old[0] != version:
                    self._on_change("MODIFIED", key, old[1], obj)
        self.synced.set()
        return rv

    def _keep(self, raw: Any) -> tuple[Key, tuple[str, T]] | None:
        meta = raw.get("metadata") if isinstance(raw, Mapping) else None
        if not isinstance(meta, Mapping) or not meta.get("name"):
            return None
        obj = self._decode(raw)
        if obj is None:
            return None
        key = (str(meta.get("namespace") or self.namespace or ""), str(meta["name"]))
        return key, (str(meta.get("resourceVersion") or ""), obj)

    def _stream(self, rv: str, stop: threading.Event) -> Iterator[tuple[str, Mapping[str, Any]]]:
        watch = WatchStream()
        self._watch = watch
        if stop.is_set():
            return
        timeout = (self._client.settings.connect_timeout, self._watch_timeout + self._client.settings.read_timeout)
        try:
            for event in watch.stream(
                self.resource.lister(self.namespace),
                resource_version=rv,
                timeout_seconds=self._watch_timeout,
                allow_watch_bookmarks=True,
                _request_timeout=timeout,
            ):
                if stop.is_set():
                    return
                yield event
        finally:
            self._watch = None

    def _apply(self, type_: str, raw: Mapping[str, Any]) -> str:
        """Apply one watch event; returns its resourceVersion ("" when it has none)."""
        meta = raw.get("metadata")
        if not isinstance(meta, Mapping):
            return ""
        rv = str(meta.get("resourceVersion") or "")
        if type_ not in ("ADDED", "MODIFIED", "DELETED"):
            return rv  # BOOKMARK: only its resourceVersion matters
        kept = self._keep(raw)
        if kept is None:
            return rv
        key, held = kept
        with self._lock:
            old = self._objects.pop(key, None) if type_ == "DELETED" else self._objects.get(key)
            if type_ != "DELETED":
                self._objects[key] = held
            if rv:
                self.resource_version = rv
        if self._on_change is not None:
            if type_ == "DELETED":
                self._on_change(type_, key, old[1] if old else held[1], None)
            else:
                self._on_change(type_, key, old[1] if old else None, held[1])
        return rv


class Informers(Generic[T]):
    """One :class:`Informer` per scope, each in its own thread: one per namespace in
    ``namespaces`` (duplicates once), or one cluster-wide when it is None (the
    controller's ``--namespace`` setting). ``on_change`` is never called concurrently,
    and an exception from it is logged and does not end the watch."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        namespaces: Sequence[str] | None,
        decode: Callable[[Mapping[str, Any]], T | None],
        *,
        on_change: Handler | None = None,
        **options: Any,
    ):
        self._handler = on_change
        self._name = resource.name
        self._emit_lock = threading.Lock()
        self._stop = threading.Event()
        scopes: list[str | None] = [None] if namespaces is None else list(dict.fromkeys(namespaces))
        handler = self._emit if on_change is not None else None
        self.informers: Mapping[str | None, Informer[T]] = {
            scope: Informer(client, resource, scope, decode, on_change=handler, **options) for scope in scopes
        }
        self._threads: list[threading.Thread] = []

    def _emit(self, type_: str, key: Key, old: Any, new: Any) -> None:
        assert self._handler is not None
        with self._emit_lock:
            if self._stop.is_set():
                return
            try:
                self._handler(type_, key, old, new)
            except Exception:
                log.exception("%s event handler failed for %s %s/%s", self._name, type_, *key)

    def start(self) -> None:
        for scope, informer in self.informers.items():
            thread = threading.Thread(
                target=informer.run,
                args=(self._stop,),
                daemon=True,
                name=f"watch-{informer.resource.name}-{scope or 'all'}",
            )
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
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        for informer in self.informers.values():
            left = None if timeout is None else max(0.0, deadline - time.monotonic())
            if not informer.synced.wait(left):
                return False
        return True

    def scope(self, namespace: str) -> Informer[T] | None:
        """The informer that holds ``namespace``'s objects (None: not watched)."""
        return self.informers.get(namespace) or self.informers.get(None)

    def items(self) -> list[T]:
        return [obj for informer in self.informers.values() for obj in informer.items()]


class WatchedCache:
    """What a cache served from :class:`Informers` (``self._watched``) says of its
    watches: start, stop, and whether every scope has been listed once (the
    controller's ``/readyz``). The GPUScaler and pod caches share it."""

    _watched: Informers[Any]

    def start(self) -> None:
        self._watched.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._watched.stop(timeout)

    def synced(self) -> bool:
        """Every watched scope has been listed at least once."""
        return self._watched.synced()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._watched.wait_synced(timeout)
