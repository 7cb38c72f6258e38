"""Our own small error hierarchy for the Kubernetes side (no ``kubernetes`` import).

The control loop catches these, never the client's ``ApiException`` or urllib3's
errors, so it can decide per kind: a :class:`Conflict` means re-read and retry, a
:class:`NotFound` target means a condition and an Event, :class:`Unavailable` and
:class:`ServerError` mean "try again next poll". ``retryable`` marks the kinds that
:meth:`autoscaler.kube.client.KubeClient.call` retries with backoff itself.
"""

from __future__ import annotations


class KubeError(Exception):
    """Any failure talking to the API server. ``status`` is the HTTP code (0 when none came back)."""

    retryable = False

    def __init__(self, message: str, status: int = 0, reason: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


class ConfigError(KubeError):
    """No usable cluster configuration (not in a cluster, bad kubeconfig)."""


class NotFound(KubeError):
    """404: the object (or its subresource) does not exist."""


class Conflict(KubeError):
    """409: a stale resourceVersion, or the object already exists; re-read and retry."""


class Forbidden(KubeError):
    """403 (or 401): RBAC or authentication refused the request; retrying will not help."""


class Invalid(KubeError):
    """400/415/422: the server rejected what we sent; a bug or a schema mismatch."""


class Gone(KubeError):
    """410: a watch resourceVersion too old to resume from; re-list."""


class TooManyRequests(KubeError):
    """429: throttled. ``retry_after`` is the server's Retry-After in seconds, if any."""

    retryable = True

    def __init__(self, message: str, status: int = 429, reason: str = "", retry_after: float | None = None):
        super().__init__(message, status, reason)
        self.retry_after = retry_after


class ServerError(KubeError):
    """5xx: the server failed; worth retrying. ``retry_after`` as for 429 when sent (503 may carry it)."""

    retryable = True

    def __init__(self, message: str, status: int = 500, reason: str = "", retry_after: float | None = None):
        super().__init__(message, status, reason)
        self.retry_after = retry_after


class Unavailable(KubeError):
    """No answer: connection refused or dropped, or a timeout."""

    retryable = True
