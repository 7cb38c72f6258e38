"""core/v1 Events about GPUScalers, deduplicated like client-go's event recorder.

A scaler that fails the same way every 15 s must not write an Event object every
poll: as client-go's ``EventCorrelator`` does, the first occurrence of a
(object, type, reason, message) is created as an Event named ``<scaler>.<hex ns>``
with ``count: 1``; each repeat PATCHes that Event's ``count`` and ``lastTimestamp``
(``kubectl describe`` shows "x12 over 3m"). If the Event was garbage-collected
meanwhile (the API server keeps Events ~1 h), the PATCH's 404 starts a new one.

Events are best effort, as in client-go: :meth:`KubeEventSink.emit` never raises;
a failure is logged (once per error kind in a row) and handed to ``on_error`` so the
loop can count it (``gpu_autoscaler_errors_total{kind="event"}``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s

from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import Conflict, KubeError, NotFound
from autoscaler.kube.scalers import API_VERSION, KIND
from autoscaler.kube.types import ScalerObject
from autoscaler.times import format_time

log = logging.getLogger(__name__)

COMPONENT = "gpu-autoscaler"
#: events.k8s.io caps ``note`` at 1 KiB; keep core/v1 messages within the same bound.
MAX_MESSAGE = 1024


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int


class KubeEventSink:
    """:class:`~autoscaler.kube.types.EventSink` writing core/v1 Events.

    ``instance`` is ``reportingInstance``/``source.host`` (default: this host name);
    ``clock`` gives Event timestamps (Unix seconds); ``cache_size`` bounds the
    deduplication memory (client-go uses 4096 too).
    """

    def __init__(
        self,
        client: KubeClient,
        *,
        instance: str | None = None,
        clock: Callable[[], float] = time.time,
        cache_size: int = 4096,
        on_error: Callable[[KubeError], None] | None = None,
    ):
        self._client = client
        self._core = k8s.CoreV1Api(client.api_client)
        self._instance = instance or socket.gethostname()
        self._clock = clock
        self._cache_size = cache_size
        self._on_error = on_error
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._lock = threading.Lock()
        self._last_error: str | None = None

    def emit(self, scaler: ScalerObject, type_: str, reason: str, message: str) -> None:
        message = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
        key = (scaler.namespace, scaler.name, scaler.uid, type_, reason, message)
        now = self._clock()
        try:
            with self._lock:
                seen = self._seen.get(key)
                if seen is not None:
                    self._seen.move_to_end(key)
                    seen.count += 1
                    count = seen.count
            if seen is not None:
                try:
                    self._client.call(
                        self._core.patch_namespaced_event,
                        seen.name,
                        seen.namespace,
                        {"count": count, "lastTimestamp": format_time(now, whole_seconds=True)},
                    )
                    self._ok()
                    return
                except NotFound:
                    pass  # expired: start a new series below
            name = self._create(scaler, type_, reason, message, now)
            with self._lock:
                self._seen[key] = _Seen(name, scaler.namespace, 1)
                self._seen.move_to_end(key)
                while len(self._seen) > self._cache_size:
                    self._seen.popitem(last=False)
            self._ok()
        except KubeError as exc:
            self._failed(exc, scaler, reason)

    def _create(self, scaler: ScalerObject, type_: str, reason: str, message: str, now: float) -> str:
        name = f"{scaler.name}.{int(now * 1e9):x}"
        stamp = format_time(now, whole_seconds=True)  # metav1.Time: the API server keeps whole seconds
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": scaler.namespace},
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": scaler.name,
                "namespace": scaler.namespace,
                "uid": scaler.uid,
                "resourceVersion": scaler.resource_version,
            },
            "type": type_,
            "reason": reason,
            "message": message,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": COMPONENT, "host": self._instance},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
        }
        try:
            self._client.call(self._core.create_namespaced_event, scaler.namespace, body)
        except Conflict:
            pass  # AlreadyExists: an earlier try of this very create landed before its answer was lost
        return name

    def _ok(self) -> None:
        self._last_error = None

    def _failed(self, exc: KubeError, scaler: ScalerObject, reason: str) -> None:
        kind = type(exc).__name__
        if kind != self._last_error:  # log a repeated failure once per change of state
            log.warning("cannot record Event %s for GPUScaler %s/%s: %s", reason, scaler.namespace, scaler.name, exc)
            self._last_error = kind
        if self._on_error is not None:
            self._on_error(exc)
