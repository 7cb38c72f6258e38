"""One configured connection to the API server, and the one place requests are retried.

The official client's own retries are switched off (``Configuration.retries = 0``):
left at its default, urllib3 retries three times silently, so a 1 s timeout becomes 4 s
(toolchain-facts §3) and a 429's Retry-After is ignored. Instead :meth:`KubeClient.call`
puts our timeout on every request, turns the client's exceptions into
:mod:`autoscaler.kube.errors`, and retries throttling (429), server errors (5xx) and
connection failures with capped exponential backoff, honouring Retry-After.

Worked numbers with the defaults (4 attempts, base 0.2 s, cap 5 s): a server down for
good costs 0.2 + 0.4 + 0.8 s of sleep plus four connect timeouts before
:class:`~autoscaler.kube.errors.Unavailable` reaches the loop; a 429 with
``Retry-After: 1`` sleeps 1 s before the second try.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from autoscaler.kube.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    NotFound,
    ServerError,
    TooManyRequests,
    Unavailable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ClientSettings:
    """Timeouts and retry policy for every request we make."""

    connect_timeout: float = 5.0
    """Seconds to establish a TCP connection."""
    read_timeout: float = 15.0
    """Seconds to wait for the response; a slower answer raises Unavailable."""
    attempts: int = 4
    """Tries in all for a retryable failure (429, 5xx, no connection); 1 disables retries."""
    backoff_base: float = 0.2
    """First backoff in seconds, doubled per retry, with ±20 % jitter."""
    backoff_max: float = 5.0
    """Cap on one backoff sleep."""
    retry_after_max: float = 30.0
    """Cap on a server's Retry-After, so a confused server cannot park the loop."""
    user_agent: str = "gpu-autoscaler"
    """Sent on every request; the apiserver's audit log and the test emulator's faults key on it."""


class KubeClient:
    """An ``ApiClient`` plus our settings. Build one with :func:`connect`.

    ``sleep`` is injectable so that a test can observe backoff without waiting.
    """

    def __init__(
        self,
        api_client: k8s.ApiClient,
        settings: ClientSettings = ClientSettings(),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.api_client = api_client
        self.settings = settings
        self._sleep = sleep
        api_client.user_agent = settings.user_agent

    @property
    def request_timeout(self) -> tuple[float, float]:
        return (self.settings.connect_timeout, self.settings.read_timeout)

    def call(self, fn: Callable[..., T], *args: Any, retry: bool = True, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` with our timeout; client errors become :class:`KubeError`;
        retryable ones are retried (unless ``retry`` is False) up to ``settings.attempts`` tries."""
        kwargs.setdefault("_request_timeout", self.request_timeout)
        attempts = self.settings.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                error = translate(exc)
                if error is None:
                    raise
            if not error.retryable or attempt == attempts:
                raise error
            delay = self.backoff(attempt, getattr(error, "retry_after", None))
            log.debug("retrying %s in %.2fs after %s", getattr(fn, "__name__", fn), delay, error)
            self._sleep(delay)
        raise AssertionError("unreachable")

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before try ``attempt + 1``: the server's Retry-After when given, else
        ``base * 2**(attempt-1)`` ±20 %, both capped."""
        s = self.settings
        if retry_after is not None:
            return min(max(retry_after, 0.0), s.retry_after_max)
        delay: float = min(s.backoff_base * 2 ** (attempt - 1), s.backoff_max) * random.uniform(0.8, 1.2)
        return delay

    def close(self) -> None:
        self.api_client.close()


def connect(
    kubeconfig: str | None = None,
    *,
    context: str | None = None,
    host: str | None = None,
    token: str | None = None,
    settings: ClientSettings = ClientSettings(),
) -> KubeClient:
    """A :class:`KubeClient` from, in order of precedence: ``host`` (tests, a proxy), a
    ``kubeconfig`` file, the in-cluster service account, or the default kubeconfig
    (``$KUBECONFIG`` or ``~/.kube/config``) for running locally.

    Raises :class:`ConfigError` when none of them works.
    """
    cfg = k8s.Configuration()
    try:
        if host is not None:
            cfg.host = host
            if token:
                cfg.api_key = {"authorization": token}
                cfg.api_key_prefix = {"authorization": "Bearer"}
        elif kubeconfig is not None:
            k8s_config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=cfg, persist_config=False
            )
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            k8s_config.load_incluster_config(client_configuration=cfg)
        else:
            k8s_config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG") or None,
                context=context,
                client_configuration=cfg,
                persist_config=False,
            )
    except (k8s_config.ConfigException, OSError, ValueError) as exc:
        in_cluster = os.environ.get("KUBERNETES_SERVICE_HOST")
        where = host or kubeconfig or ("in-cluster" if in_cluster else "default kubeconfig")
        raise ConfigError(f"cannot load Kubernetes configuration ({where}): {exc}") from exc
    cfg.retries = 0  # retries are ours (see module docstring)
    return KubeClient(k8s.ApiClient(cfg), settings)


def translate(exc: BaseException) -> KubeError | None:
    """The :class:`KubeError` for a client exception, or None for anything we do not know."""
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        reason, message = _status_body(exc)
        retry_after = _retry_after(exc)
        text = f"{status} {reason}: {message}" if status else f"{reason or message}"
        if status == 0:
            return Unavailable(text, 0, reason)
        if status == 404:
            return NotFound(text, status, reason)
        if status == 409:
            return Conflict(text, status, reason)
        if status in (401, 403):
            return Forbidden(text, status, reason)
        if status == 410:
            return Gone(text, status, reason)
        if status == 429:
            return TooManyRequests(text, status, reason, retry_after)
        if status >= 500:
            return ServerError(text, status, reason, retry_after)
        if status in (400, 415, 422):
            return Invalid(text, status, reason)
        return KubeError(text, status, reason)
    if isinstance(
        exc, (urllib3.exceptions.HTTPError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError)
    ):
        return Unavailable(f"no answer from the API server: {_root_cause(exc)}")
    if isinstance(exc, (pydantic.ValidationError, json.JSONDecodeError)):
        return KubeError(f"malformed response from the API server: {exc}")
    return None


def _status_body(exc: ApiException) -> tuple[str, str]:
    """``(reason, message)`` from a Kubernetes Status body, falling back to the HTTP reason."""
    try:
        body = json.loads(exc.body) if exc.body else {}
    except (ValueError, TypeError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    return str(body.get("reason") or exc.reason or ""), str(body.get("message") or exc.reason or "")


def _retry_after(exc: ApiException) -> float | None:
    value = (exc.headers or {}).get("Retry-After") if exc.headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from an apiserver; fall back to our backoff


def _root_cause(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else f"{type(exc).__name__}: {exc}"
