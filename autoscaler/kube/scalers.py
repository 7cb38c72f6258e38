"""GPUScaler objects: list them, watch them, and write their ``status``.

Status is written with PUT on the ``status`` subresource carrying the resourceVersion
we last saw, so a write never silently overwrites a change we did not see; on 409 we
re-read the object and write again (a status write only touches ``status``, so there is
nothing to merge: the spec the other writer changed is untouched, and our status is
computed from the memory we read). A PUT rather than a merge patch because a merge
patch cannot drop a key by leaving it out: the status we write is the whole status.

The watch is a small informer: list, then watch from the list's resourceVersion;
a watch that ends cleanly (server timeout) is resumed from the last resourceVersion
seen; 410 Gone, a dropped stream or any error re-lists and reports the differences
(objects that vanished meanwhile as DELETED), so the loop's picture converges after
any outage.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubernetes import client as k8s

from autoscaler.kube.client import KubeClient, translate
from autoscaler.kube.errors import Conflict, Gone, KubeError, NotFound
from autoscaler.kube.raw import WatchStream, call_json
from autoscaler.kube.types import ScalerEvent, ScalerObject

log = logging.getLogger(__name__)

GROUP = "gpuautoscaler.io"
VERSION = "v1alpha1"
PLURAL = "gpuscalers"
KIND = "GPUScaler"
API_VERSION = f"{GROUP}/{VERSION}"


class KubeScalerStore:
    """:class:`~autoscaler.kube.types.ScalerStore` and :class:`~autoscaler.kube.types.ScalerWatcher`
    over the API server.

    ``conflict_attempts``: PUTs tried in all when each meets a 409 (5: a status write
    only conflicts with spec edits or a second writer, so more than two is pathological).
    ``watch_timeout_seconds``: how long the server keeps one watch open before we resume it.
    """

    def __init__(self, client: KubeClient, *, conflict_attempts: int = 5, watch_timeout_seconds: int = 300):
        self._client = client
        self._api = k8s.CustomObjectsApi(client.api_client)
        self._conflict_attempts = conflict_attempts
        self._watch_timeout = watch_timeout_seconds
        # (namespace, name, uid) -> (resourceVersion we were handed, resourceVersion after our write):
        # the loop may hand us the same ScalerObject poll after poll; without this every
        # write after the first would meet a 409 for our own previous write.
        self._written: OrderedDict[tuple[str, str, str], tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ read
    def list_scalers(self, namespaces: Sequence[str] | None) -> list[ScalerObject]:
        if namespaces is None:
            return self._list(None)[0]
        return [s for ns in dict.fromkeys(namespaces) for s in self._list(ns)[0]]

    def get_scaler(self, namespace: str, name: str) -> ScalerObject:
        raw = self._client.call(self._api.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name)
        scaler = to_scaler(raw)
        if scaler is None:
            raise KubeError(f"malformed GPUScaler {namespace}/{name}")
        return scaler

    def _list(self, namespace: str | None) -> tuple[list[ScalerObject], str]:
        if namespace is None:
            raw = self._client.call(self._api.list_cluster_custom_object, GROUP, VERSION, PLURAL)
        else:
            raw = self._client.call(self._api.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL)
        body = _mapping(raw)
        items = [s for s in (to_scaler(i) for i in body.get("items") or ()) if s is not None]
        return items, str((body.get("metadata") or {}).get("resourceVersion") or "")

    # ------------------------------------------------------------------ write
    def write_status(self, scaler: ScalerObject, status: Mapping[str, Any]) -> None:
        """PUT ``status`` on the status subresource; on 409 re-read and retry.

        Raises :class:`NotFound` when the scaler is gone, or was deleted and re-created
        (a different uid: the status we computed belongs to the old object), and
        :class:`Conflict` after ``conflict_attempts`` conflicts in a row.
        """
        key = (scaler.namespace, scaler.name, scaler.uid)
        with self._lock:
            handed, written = self._written.get(key, ("", ""))
        rv = written if handed == scaler.resource_version and written else scaler.resource_version
        for _ in range(self._conflict_attempts):
            body = {"apiVersion": API_VERSION, "kind": KIND,
                    "metadata": {"name": scaler.name, "namespace": scaler.namespace, "resourceVersion": rv},
                    # Shallow: the body is only serialised, never kept, so no deep copies.
                    "spec": dict(scaler.spec), "status": dict(status)}
            try:
                out = call_json(self._client, self._api.replace_namespaced_custom_object_status,
                                GROUP, VERSION, scaler.namespace, PLURAL, scaler.name, body)
            except Conflict:
                current = call_json(self._client, self._api.get_namespaced_custom_object_status,
                                    GROUP, VERSION, scaler.namespace, PLURAL, scaler.name)
                meta = _mapping(current).get("metadata") or {}
                if scaler.uid and meta.get("uid") != scaler.uid:
                    raise NotFound(f"GPUScaler {scaler.namespace}/{scaler.name} was re-created; not writing "
                                   "the old object's status", 404, "NotFound") from None
                rv = str(meta.get("resourceVersion") or "")
                continue
            with self._lock:
                self._written[key] = (scaler.resource_version,
                                      str((_mapping(out).get("metadata") or {}).get("resourceVersion")))
                self._written.move_to_end(key)
                while len(self._written) > 10_000:
                    self._written.popitem(last=False)
            return
        raise Conflict(f"GPUScaler {scaler.namespace}/{scaler.name}: status write conflicted "
                       f"{self._conflict_attempts} times in a row", 409, "Conflict")

    # ------------------------------------------------------------------ watch
    def watch_scalers(self, namespaces: Sequence[str] | None, on_event: Callable[[ScalerEvent], None],
                      stop: threading.Event) -> None:
        """Report changes to ``on_event`` until ``stop`` is set; blocks. One list+watch per
        namespace (one cluster-wide when ``namespaces`` is None), each in a thread;
        ``on_event`` is never called concurrently, and an exception from it is logged
        and does not end the watch."""
        emit_lock = threading.Lock()
        watches: set[WatchStream] = set()

        def emit(event: ScalerEvent) -> None:
            with emit_lock:
                if stop.is_set():
                    return
                try:
                    on_event(event)
                except Exception:
                    log.exception("GPUScaler event handler failed for %s %s/%s", event.type,
                                  event.scaler.namespace, event.scaler.name)

        scopes: list[str | None] = [None] if namespaces is None else list(dict.fromkeys(namespaces))
        threads = [threading.Thread(target=self._watch_scope, args=(ns, emit, stop, watches),
                                    name=f"watch-gpuscalers-{ns or 'all'}", daemon=True) for ns in scopes]
        for t in threads:
            t.start()
        stop.wait()
        # WatchStream.stop() shuts the socket down so a blocked read returns at once; repeat it,
        # because a scope thread may not have opened its stream yet when stop is set.
        deadline = time.monotonic() + self._client.settings.read_timeout
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            with self._lock:
                for w in list(watches):
                    w.stop()
            for t in threads:
                t.join(timeout=0.05)

    def _watch_scope(self, namespace: str | None, emit: Callable[[ScalerEvent], None], stop: threading.Event,
                     watches: set[WatchStream]) -> None:
        known: dict[tuple[str, str], ScalerObject] = {}
        rv: str | None = None
        failures = 0
        while not stop.is_set():
            try:
                if rv is None:
                    items, rv = self._list(namespace)
                    _report_differences(known, items, emit)
                started, events = time.monotonic(), 0
                for type_, raw in self._stream(namespace, rv, stop, watches):
                    if type_ == "BOOKMARK":
                        rv = str(raw.get("metadata", {}).get("resourceVersion") or rv)
                        continue
                    changed = to_scaler(raw)
                    if changed is None:
                        continue
                    rv, events = changed.resource_version, events + 1
                    key = (changed.namespace, changed.name)
                    if type_ == "DELETED":
                        known.pop(key, None)
                    else:
                        known[key] = changed
                    emit(ScalerEvent(type_, changed))
                # A clean end is the server's timeout: resume from rv. One that ends at once
                # with nothing in it is a server in trouble: back off rather than spin.
                failures = failures + 1 if not events and time.monotonic() - started < 1.0 else 0
            except Exception as exc:
                if stop.is_set():
                    return
                error = translate(exc) or exc
                if isinstance(error, Gone):
                    log.info("GPUScaler watch%s expired; re-listing", f" in {namespace}" if namespace else "")
                    rv, failures = None, 0
                    continue
                log.warning("GPUScaler watch%s failed (%s); re-listing", f" in {namespace}" if namespace else "",
                            error)
                rv, failures = None, failures + 1
            if failures:
                stop.wait(self._client.backoff(failures))

    def _stream(self, namespace: str | None, rv: str, stop: threading.Event,
                watches: set[WatchStream]) -> Any:
        w = WatchStream()
        with self._lock:
            if stop.is_set():
                return
            watches.add(w)
        timeout = (self._client.settings.connect_timeout, self._watch_timeout + self._client.settings.read_timeout)
        kwargs: dict[str, Any] = {"resource_version": rv, "timeout_seconds": self._watch_timeout,
                                      "allow_watch_bookmarks": True, "_request_timeout": timeout}
        try:
            if namespace is None:
                stream = w.stream(self._api.list_cluster_custom_object, GROUP, VERSION, PLURAL, **kwargs)
            else:
                stream = w.stream(self._api.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, **kwargs)
            for type_, raw in stream:
                if stop.is_set():
                    return
                yield type_, raw
        finally:
            with self._lock:
                watches.discard(w)


def _report_differences(known: dict[tuple[str, str], ScalerObject], listed: list[ScalerObject],
                        emit: Callable[[ScalerEvent], None]) -> None:
    """Bring ``known`` to ``listed``, reporting what changed (as an informer's re-list does)."""
    fresh = {(s.namespace, s.name): s for s in listed}
    for key, gone in list(known.items()):
        if key not in fresh:
            del known[key]
            emit(ScalerEvent("DELETED", gone))
    for key, scaler in fresh.items():
        before = known.get(key)
        known[key] = scaler
        if before is None:
            emit(ScalerEvent("ADDED", scaler))
        elif before.resource_version != scaler.resource_version:
            emit(ScalerEvent("MODIFIED", scaler))


def _mapping(raw: object) -> Mapping[str, Any]:
    """The generic API returns untyped JSON; anything but an object is a broken server."""
    if not isinstance(raw, Mapping):
        raise KubeError(f"unexpected response from the API server: {type(raw).__name__}")
    return raw


def to_scaler(raw: Any) -> ScalerObject | None:
    """A :class:`ScalerObject` from a GPUScaler dict, or None when its metadata is unusable."""
    if not isinstance(raw, Mapping):
        return None
    meta = raw.get("metadata")
    if not isinstance(meta, Mapping) or not meta.get("name") or not meta.get("namespace"):
        return None
    generation = meta.get("generation")
    spec, status = raw.get("spec"), raw.get("status")
    return ScalerObject(
        namespace=str(meta["namespace"]), name=str(meta["name"]), uid=str(meta.get("uid") or ""),
        generation=generation if isinstance(generation, int) else 0,
        resource_version=str(meta.get("resourceVersion") or ""),
        spec=spec if isinstance(spec, Mapping) else {},
        status=status if isinstance(status, Mapping) else {},
    )
