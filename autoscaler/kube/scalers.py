"""GPUScaler objects: list them, watch them, and write their ``status``.

Status is written only when it changed, as HPA writes it: the would-be status is
compared, whole, with what the object holds (or, while the watch has not yet brought our
last write back, with what we last wrote). With ``compact_memory`` the memory is written
in its compact form (:mod:`autoscaler.kube.status`), so a steady scaler writes nothing,
poll after poll; without it every poll's recommendation changes the status.

Status is written with PUT on the ``status`` subresource carrying the resourceVersion
we last saw, so a write never silently overwrites a change we did not see; on 409 we
re-read the object and write again (a status write only touches ``status``, so there is
nothing to merge: the spec the other writer changed is untouched, and our status is
computed from the memory we read). A PUT rather than a merge patch because a merge
patch cannot drop a key by leaving it out: the status we write is the whole status.

The watch is the generic :class:`~autoscaler.kube.informer.Informer` (list, watch,
re-list on 410 Gone or any error, reporting the differences, so the loop's picture
converges after any outage); :class:`ScalerCache` serves the loop's list from it.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubernetes import client as k8s

from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import Conflict, KubeError, NotFound
from autoscaler.kube.informer import Informers, Key, Resource, WatchedCache
from autoscaler.kube.raw import call_json
from autoscaler.kube.status import memory_from_status, memory_to_status
from autoscaler.kube.types import ScalerEvent, ScalerObject

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
    ``skip_unchanged``: write no status equal to the one the object holds (False: every
    poll writes, the former way; the benchmark's baseline). ``compact_memory``: write
    ``status.memory`` compact (a new leader then holds the newest run until it took over).
    """

    def __init__(
        self,
        client: KubeClient,
        *,
        conflict_attempts: int = 5,
        watch_timeout_seconds: int = 300,
        skip_unchanged: bool = True,
        compact_memory: bool = False,
    ):
        self._client = client
        self._api = k8s.CustomObjectsApi(client.api_client)
        self._conflict_attempts = conflict_attempts
        self._watch_timeout = watch_timeout_seconds
        # (namespace, name, uid) -> (resourceVersion we were handed, resourceVersion after our write):
        # the loop may hand us the same ScalerObject poll after poll; without this every
        # write after the first would meet a 409 for our own previous write.
        # The status we last wrote rides along, for the comparison while the watch lags.
        self._written: OrderedDict[tuple[str, str, str], tuple[str, str, Mapping[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._skip_unchanged = skip_unchanged
        self._compact_memory = compact_memory
        #: Status writes left out because nothing changed (read by the benchmark).
        self.unchanged = 0

    # ------------------------------------------------------------------ read
    def list_scalers(self, namespaces: Sequence[str] | None) -> list[ScalerObject]:
        if namespaces is None:
            return self._list(None)[0]
        return [s for ns in dict.fromkeys(namespaces) for s in self._list(ns)[0]]

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
        """PUT ``status`` on the status subresource (unless it equals the status the object
        holds); on 409 re-read and retry.

        Raises :class:`NotFound` when the scaler is gone, or was deleted and re-created
        (a different uid: the status we computed belongs to the old object), and
        :class:`Conflict` after ``conflict_attempts`` conflicts in a row.
        """
        if self._compact_memory and isinstance(status.get("memory"), Mapping):
            memory = memory_from_status(status)
            status = {**status, "memory": memory_to_status(memory, scaler.status, compact=True)}
        key = (scaler.namespace, scaler.name, scaler.uid)
        with self._lock:
            handed, written, last = self._written.get(key, ("", "", {}))
            if self._skip_unchanged and (
                status == scaler.status or (handed == scaler.resource_version and status == last)
            ):
                self.unchanged += 1
                return
        rv = written if handed == scaler.resource_version and written else scaler.resource_version
        for _ in range(self._conflict_attempts):
            body = {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "metadata": {"name": scaler.name, "namespace": scaler.namespace, "resourceVersion": rv},
                # Shallow: the body is only serialised, never kept, so no deep copies.
                "spec": dict(scaler.spec),
                "status": dict(status),
            }
            try:
                out = call_json(
                    self._client,
                    self._api.replace_namespaced_custom_object_status,
                    GROUP,
                    VERSION,
                    scaler.namespace,
                    PLURAL,
                    scaler.name,
                    body,
                )
            except Conflict:
                current = call_json(
                    self._client,
                    self._api.get_namespaced_custom_object_status,
                    GROUP,
                    VERSION,
                    scaler.namespace,
                    PLURAL,
                    scaler.name,
                )
                meta = _mapping(current).get("metadata") or {}
                if scaler.uid and meta.get("uid") != scaler.uid:
                    raise NotFound(
                        f"GPUScaler {scaler.namespace}/{scaler.name} was re-created; not writing "
                        "the old object's status",
                        404,
                        "NotFound",
                    ) from None
                rv = str(meta.get("resourceVersion") or "")
                continue
            with self._lock:
                self._written[key] = (
                    scaler.resource_version,
                    str((_mapping(out).get("metadata") or {}).get("resourceVersion")),
                    status,
                )
                self._written.move_to_end(key)
                while len(self._written) > 10_000:
                    self._written.popitem(last=False)
            return
        raise Conflict(
            f"GPUScaler {scaler.namespace}/{scaler.name}: status write conflicted "
            f"{self._conflict_attempts} times in a row",
            409,
            "Conflict",
        )

    # ------------------------------------------------------------------ watch
    def resource(self) -> Resource:
        return Resource(
            "gpuscalers",
            self._api.list_cluster_custom_object,
            self._api.list_namespaced_custom_object,
            (GROUP, VERSION),
            (PLURAL,),
        )

    def informers(
        self, namespaces: Sequence[str] | None, on_change: Callable[..., None] | None = None
    ) -> Informers[ScalerObject]:
        """One informer of GPUScalers per scope; the caller starts and stops them."""
        return Informers(
            self._client,
            self.resource(),
            namespaces,
            to_scaler,
            on_change=on_change,
            watch_timeout_seconds=self._watch_timeout,
            stale_after=math.inf,
        )

    def watch_scalers(
        self, namespaces: Sequence[str] | None, on_event: Callable[[ScalerEvent], None], stop: threading.Event
    ) -> None:
        """Report changes to ``on_event`` until ``stop`` is set; blocks. One list+watch per
        namespace (one cluster-wide when ``namespaces`` is None), each in a thread;
        ``on_event`` is never called concurrently, and an exception from it is logged
        and does not end the watch."""

        def emit(type_: str, key: Key, old: ScalerObject | None, new: ScalerObject | None) -> None:
            scaler = new if new is not None else old
            assert scaler is not None
            on_event(ScalerEvent(type_, scaler))

        watched = self.informers(namespaces, emit)
        watched.start()
        stop.wait()
        watched.stop(self._client.settings.read_timeout)


class ScalerCache(WatchedCache):
    """A :class:`~autoscaler.kube.types.ScalerStore` whose list is served from a watch.

    Listing 1,000 GPUScalers every one-second tick would cost the API server (and us)
    far more than watching them; the watch delivers each change once. Status writes
    go straight to the API. The cached status may lag our own last write: the loop
    keeps its own copy of the memory and takes the newer (``loop.newest_memory``).
    While the watch fails, the list is served from what it had.
    """

    def __init__(self, store: KubeScalerStore, namespaces: Sequence[str] | None):
        self._store = store
        self._watched = store.informers(namespaces)

    def list_scalers(self, namespaces: Sequence[str] | None) -> list[ScalerObject]:
        if not self._watched.synced():
            raise KubeError("the GPUScaler cache has not synced yet")
        return [s for s in self._watched.items() if namespaces is None or s.namespace in namespaces]

    def write_status(self, scaler: ScalerObject, status: Mapping[str, Any]) -> None:
        self._store.write_status(scaler, status)


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
    annotations = meta.get("annotations")
    return ScalerObject(
        namespace=str(meta["namespace"]),
        name=str(meta["name"]),
        uid=str(meta.get("uid") or ""),
        generation=generation if isinstance(generation, int) else 0,
        resource_version=str(meta.get("resourceVersion") or ""),
        spec=spec if isinstance(spec, Mapping) else {},
        status=status if isinstance(status, Mapping) else {},
        annotations={str(k): v for k, v in annotations.items() if isinstance(v, str)}
        if isinstance(annotations, Mapping)
        else {},
    )
