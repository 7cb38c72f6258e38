"""Leader election on a ``coordination.k8s.io`` Lease, so only one controller scales.

We use the client's ``kubernetes.leaderelection`` (its ``LeaderElection`` algorithm
and ``LeaseLock`` record mapping) and wrap it, because as shipped in 37.0.2 it cannot
do the whole job alone (toolchain-facts §4, and read from its source):

- ``run()`` blocks forever in ``acquire()`` with no cancel hook, and returns only
  after losing the lease; it never re-enters the election. We run it in a thread, in a
  loop, and stop it by making our lock raise a private ``BaseException`` on its next
  call once :meth:`LeaderElector.stop` was asked (the library catches none there).
- ``LeaseLock`` calls the API with no timeout (a hung server hangs the election) and
  catches only ``ApiException``: a refused connection raises urllib3's error out of
  ``run()`` and kills the election thread. Our ``_LeaseLock`` passes our timeouts and
  reports transport errors as a failed attempt, which the library retries.
- ``Config`` validates with ``sys.exit()``; we validate first and raise ValueError.
- It never releases the lease on shutdown, so a successor waits a whole lease
  duration. :meth:`LeaderElector.stop` releases it the way client-go's
  ``ReleaseOnCancel`` does: the lease is rewritten with no holder and a 1 s duration,
  and a waiting candidate (this library or client-go) takes it at its next retry.

Timing (client-go's defaults, which we keep: lease 15 s, renew deadline 10 s, retry
2 s): after a crash the successor leads within ~15 s; after a clean stop (SIGTERM)
within ~2 s. The library needs ``lease_duration > renew_deadline > 1.2 * retry_period``
and ``retry_period >= 1``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import Conflict, KubeError, NotFound

log = logging.getLogger(__name__)


def default_identity() -> str:
    """``<hostname>_<random>``, as client-go's examples do: unique per process, readable in the Lease."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaderElectionSettings:
    """Where the Lease lives and how fast leadership moves (whole seconds: the library's
    record stores the duration as an integer string)."""

    namespace: str = field(default_factory=lambda: os.environ.get("POD_NAMESPACE", "gpu-autoscaler"))
    """Namespace of the Lease: the controller's own (deploy/rbac grants leases only there)."""
    lease_name: str = "gpu-autoscaler"
    identity: str = field(default_factory=default_identity)
    lease_duration: int = 15
    """Seconds a follower waits, after the record last changed, before taking the lease."""
    renew_deadline: int = 10
    """Seconds the leader keeps retrying a failed renewal before it stops leading."""
    retry_period: int = 2
    """Seconds between attempts to acquire or renew."""

    def validate(self) -> None:
        if not (
            isinstance(self.lease_duration, int)
            and isinstance(self.renew_deadline, int)
            and isinstance(self.retry_period, int)
        ):
            raise ValueError("lease_duration, renew_deadline and retry_period must be whole seconds")
        if self.retry_period < 1:
            raise ValueError("retry_period must be at least 1 s")
        if self.renew_deadline <= 1.2 * self.retry_period:
            raise ValueError("renew_deadline must exceed 1.2 × retry_period")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must exceed renew_deadline")


class _Stopped(BaseException):
    """Raised from the lock inside the library's loops to end ``run()`` on :meth:`LeaderElector.stop`."""


class _Abandoned(BaseException):
    """Raised from the lock to end ``run()`` once our watchdog ended a term whose renewals
    missed the renew deadline; the election thread then campaigns afresh."""


class _LeaseLock(LeaseLock):  # type: ignore[misc]  # untyped library
    """The library's LeaseLock with our timeouts, transport errors as failed attempts, and a stop hook."""

    def __init__(self, settings: LeaderElectionSettings, client: KubeClient, stopping: threading.Event):
        super().__init__(settings.lease_name, settings.namespace, settings.identity)
        self.api_instance = k8s.CoordinationV1Api(client.api_client)  # else the *default* ApiClient
        self._timeout = client.request_timeout
        self._stopping = stopping
        #: ``time.monotonic()`` when the last successful create or update was *sent*: the
        #: lease is ours from then for ``lease_duration``, as a follower counts it.
        self.renewed_at: float | None = None
        self.abandon = threading.Event()

    def _check(self) -> None:
        if self._stopping.is_set():
            raise _Stopped()
        if self.abandon.is_set():
            raise _Abandoned()

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        self._check()
        try:
            lease = self.api_instance.read_namespaced_lease(name, namespace, _request_timeout=self._timeout)
        except ApiException as exc:
            return False, exc  # the library creates the lease on a 404 body, retries otherwise
        except Exception as exc:
            return False, ApiException(status=0, reason=f"no answer from the API server: {exc}")
        self.lease_reference = lease
        return True, self.get_lock_object(lease)

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        self._check()
        body = k8s.V1Lease(metadata=k8s.V1ObjectMeta(name=name), spec=self.get_lease_spec(election_record))
        sent = time.monotonic()
        try:
            self.lease_reference = self.api_instance.create_namespaced_lease(
                namespace, body, _request_timeout=self._timeout
            )
            self.renewed_at = sent
            return True
        except Exception as exc:
            log.debug("cannot create lease %s/%s: %s", namespace, name, exc)
            return False

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        self._check()
        if self.lease_reference is None:
            return False
        sent = time.monotonic()
        try:
            self.lease_reference.spec = self.get_lease_spec(updated_record, self.lease_reference.spec)
            self.lease_reference = self.api_instance.replace_namespaced_lease(
                name=name, namespace=namespace, body=self.lease_reference, _request_timeout=self._timeout
            )
            self.renewed_at = sent
            return True
        except Exception as exc:
            log.debug("cannot update lease %s/%s: %s", namespace, name, exc)
            return False


@dataclass
class _Term:
    """One pass through the library's ``run()``: at most one leadership term."""

    leading: bool = False
    over: bool = False


class LeaderElector:
    """Campaign for the Lease in a background thread; lead until lost or stopped; campaign again.

    ``on_started`` runs when this process becomes leader, ``on_stopped`` when it stops
    (lease lost, or :meth:`stop`), each exactly once per term and never concurrently.
    Both must return promptly: start and stop the work in its own thread. A leader
    that cannot renew within ``renew_deadline`` calls ``on_stopped`` before a follower
    may take over (``lease_duration`` after the last renewal), so the work of two
    leaders does not overlap as long as clocks tick at the same rate.
    """

    def __init__(
        self,
        client: KubeClient,
        settings: LeaderElectionSettings | None = None,
        *,
        on_started: Callable[[], None] = lambda: None,
        on_stopped: Callable[[], None] = lambda: None,
    ):
        self.settings = settings or LeaderElectionSettings()
        self.settings.validate()
        self._client = client
        self._on_started, self._on_stopped = on_started, on_stopped
        self._stopping = threading.Event()
        self._state = threading.Lock()  # guards _term
        self._callbacks = threading.Lock()  # serializes on_started / on_stopped
        self._term: _Term | None = None
        self._leading = threading.Event()
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._lock = _LeaseLock(self.settings, client, self._stopping)

    @property
    def identity(self) -> str:
        return self.settings.identity

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def wait_for_leadership(self, timeout: float | None = None) -> bool:
        return self._leading.wait(timeout)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("LeaderElector.start() called twice")
        self._thread = threading.Thread(target=self._campaign, name="leader-election", daemon=True)
        self._thread.start()
        self._watchdog = threading.Thread(target=self._watch_deadline, name="leader-deadline", daemon=True)
        self._watchdog.start()

    def stop(self, release: bool = True) -> None:
        """Stop campaigning; if leading, call ``on_stopped`` and (with ``release``) give the lease up.

        The election thread is joined before the release, so that no renewal of ours can
        land after it (the release also carries the resourceVersion it read).
        """
        self._stopping.set()
        with self._state:
            term = self._term
        if term is not None:
            self._end(term)
        if self._thread is not None:
            s = self._client.settings
            self._thread.join(timeout=self.settings.retry_period + s.connect_timeout + s.read_timeout + 1)
        if release:
            self.release()

    def release(self) -> bool:
        """Clear the Lease's holder if it is us (True when released). Never raises."""
        api = k8s.CoordinationV1Api(self._client.api_client)
        name, namespace = self.settings.lease_name, self.settings.namespace
        for _ in range(3):
            try:
                lease = self._client.call(api.read_namespaced_lease, name, namespace)
                if lease.spec is None or lease.spec.holder_identity != self.identity:
                    return False
                now = datetime.now(UTC)
                lease.spec.holder_identity = None
                lease.spec.lease_duration_seconds = 1
                lease.spec.acquire_time = lease.spec.renew_time = now
                self._client.call(api.replace_namespaced_lease, name, namespace, lease)
                log.info("released lease %s/%s", namespace, name)
                return True
            except Conflict:
                continue  # a renewal of ours landed in between: read again
            except NotFound:
                return False  # never created: nothing to release
            except KubeError as exc:
                log.warning("cannot release lease %s/%s: %s", namespace, name, exc)
                return False
        return False

    # ------------------------------------------------------------------ the election thread
    def _campaign(self) -> None:
        lock = self._lock
        while not self._stopping.is_set():
            term = _Term()
            lock.abandon.clear()
            with self._state:
                self._term = term
            config = electionconfig.Config(
                lock,
                lease_duration=self.settings.lease_duration,
                renew_deadline=self.settings.renew_deadline,
                retry_period=self.settings.retry_period,
                onstarted_leading=lambda t=term: self._begin(t),
                onstopped_leading=lambda t=term: self._end(t),
            )
            try:
                leaderelection.LeaderElection(config).run()  # returns after losing the lease
            except _Stopped:
                return
            except _Abandoned:
                log.warning(
                    "%s could not renew its lease within %d s: stopped leading, campaigning again",
                    self.identity,
                    self.settings.renew_deadline,
                )
            except Exception:
                log.exception("leader election failed; campaigning again")
            self._end(term)
            self._stopping.wait(self.settings.retry_period)

    def _watch_deadline(self) -> None:
        """End a term whose last successful renewal was sent ``renew_deadline`` ago.

        The library's ``renew_loop`` cannot be trusted with this: it sleeps ``retry_period``
        after each success before it opens a new ``renew_deadline`` window, and again after
        the last failed try, so a leader that cannot renew went on leading 4-5 s after its
        last renewal with a 3 s lease (lease 3, deadline 2, retry 1: found by the fault
        campaign, tests/campaign/test_defects.py) while its successor already wrote.
        Measured from when the renewal was sent, this ends the term ``lease_duration -
        renew_deadline`` (5 s at client-go's defaults) before a follower may take over."""
        deadline = float(self.settings.renew_deadline)
        while not self._stopping.wait(0.05):
            with self._state:
                term = self._term
            renewed = self._lock.renewed_at
            if term is None or not term.leading or renewed is None:
                continue
            if time.monotonic() - renewed >= deadline:
                self._lock.abandon.set()  # the library's next lock call ends its run()
                self._end(term)

    def _begin(self, term: _Term) -> None:
        with self._callbacks:
            with self._state:
                if term.over or term.leading or self._stopping.is_set():
                    return
                term.leading = True
            self._leading.set()
            log.info(
                "%s became the leader (lease %s/%s)", self.identity, self.settings.namespace, self.settings.lease_name
            )
            self._on_started()

    def _end(self, term: _Term) -> None:
        with self._callbacks:
            with self._state:
                was_leading, term.leading, term.over = term.leading, False, True
            if not was_leading:
                return
            self._leading.clear()
            log.info("%s stopped leading", self.identity)
            self._on_stopped()
