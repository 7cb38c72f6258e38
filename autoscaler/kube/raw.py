"""Responses as plain JSON on the hot paths: one request (:func:`call_json`) and one
watch (:class:`WatchStream`), without the generated client's models.

Why: the official client (kubernetes 37, an OpenAPI-generator build) turns every
typed response into pydantic models, and its ``Watch`` decodes each event, encodes
it again and decodes it once more into a model. Measured against the API emulator on
loopback, a ``read_namespaced_deployment_scale`` spent ~17 % of its CPU building a
``V1Scale`` we immediately took apart again; a pod LIST more. Asking for
``_preload_content=False`` gets the urllib3 response instead, which we read and
``json.loads`` once. Everything else (URL, auth, our timeout and retries through
:meth:`~autoscaler.kube.client.KubeClient.call`, error translation) is unchanged.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from autoscaler.kube.client import KubeClient, translate
from autoscaler.kube.errors import KubeError


def call_json(client: KubeClient, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Mapping[str, Any]:
    """``client.call(fn, *args, **kwargs)`` with the body parsed by ``json.loads``, not into
    the client's models. Reading the body happens inside the call, so a connection
    dropped mid-body is retried like any other; a body that is not a JSON object raises
    :class:`KubeError`."""

    def fetch(*a: Any, **kw: Any) -> Mapping[str, Any]:
        resp = fn(*a, _preload_content=False, **kw)
        try:
            data = resp.data
        finally:
            resp.release_conn()
        try:
            body = json.loads(data)
        except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
            raise KubeError(f"malformed response from the API server: {exc}") from exc
        if not isinstance(body, Mapping):
            raise KubeError(f"unexpected response from the API server: {type(body).__name__}")
        return body

    fetch.__name__ = getattr(fn, "__name__", "call_json")  # for the client's retry log
    return client.call(fetch, *args, **kwargs)


class WatchStream:
    """One watch request, its events as ``(type, object)`` with the object a plain dict.

    Call :meth:`stream` with a generated ``list_*`` method and its arguments (as the
    client's ``Watch.stream``); it adds ``watch=True``. It ends when the server ends the
    watch (``timeoutSeconds``); an ``ERROR`` event raises the matching
    :class:`KubeError` (:class:`~autoscaler.kube.errors.Gone` for 410: re-list); a
    dropped connection raises whatever urllib3 raised (:func:`translate` knows it).
    :meth:`stop`, from another thread, ends a blocked read at once.
    """

    def __init__(self) -> None:
        self._resp: Any = None
        self._stopped = False

    def stream(self, list_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
        resp = list_fn(*args, watch=True, _preload_content=False, **kwargs)
        self._resp = resp
        try:
            if self._stopped:
                return
            buffer = b""
            for chunk in resp.stream(amt=None, decode_content=False):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if self._stopped:
                        return
                    if line.strip():
                        yield _event(line)
            if buffer.strip() and not self._stopped:
                yield _event(buffer)
        finally:
            self._resp = None
            resp.close()  # closes the connection too: a half-read stream must not go back to the pool
            resp.release_conn()

    def stop(self) -> None:
        """End the stream: the next read (or the one blocked now) returns."""
        self._stopped = True
        sock = getattr(getattr(self._resp, "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)


def _event(line: bytes) -> tuple[str, Mapping[str, Any]]:
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise KubeError(f"malformed watch event from the API server: {exc}") from exc
    type_, obj = (event.get("type"), event.get("object")) if isinstance(event, dict) else (None, None)
    if not isinstance(type_, str) or not isinstance(obj, Mapping):
        raise KubeError(f"malformed watch event from the API server: {line[:200]!r}")
    if type_ == "ERROR":  # a Status: 410 Expired when our resourceVersion is too old
        code = obj.get("code")
        status = ApiException(status=code if isinstance(code, int) else 500, reason=str(obj.get("reason") or ""))
        status.body = json.dumps(obj)
        raise translate(status) or KubeError(str(obj.get("message") or obj))
    return type_, obj
