"""From a scaleTargetRef's ``apiVersion`` and ``kind`` to the resource to ask for its
``/scale``: API discovery, as client-go's RESTMapper does it.

Why discovery and not "lowercase kind + s": plurals are not regular (``Policy`` →
``policies``, and a CRD may name its plural anything), and only the API server knows
whether a kind has a ``/scale`` subresource at all. ``GET /apis/GROUP/VERSION`` (for
the core group ``GET /api/v1``) lists every resource of that group version with its
plural, its kind and its subresources, e.g. for LeaderWorkerSet::

    {"name": "leaderworkersets", "kind": "LeaderWorkerSet", "namespaced": true, ...}
    {"name": "leaderworkersets/scale", "group": "autoscaling", "version": "v1", "kind": "Scale", ...}

Caching: one document per group version, kept ``ttl`` seconds (300 by default), so
1,000 scalers over 3 kinds cost 3 discovery GETs every 5 minutes, not one a poll. A
kind missing from a cached document (a CRD installed since) refreshes it at once,
but not more often than ``miss_refresh`` seconds (10 by default) per group version,
so a scaler naming a kind that does not exist costs one GET every 10 s, not one a
poll. When a refresh fails (API server down), a document past its TTL is still used:
a kind's plural does not change while its CRD exists. Discovery is a non-resource
URL that every authenticated user may read (the ``system:discovery`` ClusterRole),
so it needs no RBAC rule of ours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s

from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import KubeError, NotFound
from autoscaler.kube.raw import call_json


class NoScaleSubresource(KubeError):
    """The kind exists but has no ``/scale``: the controller cannot scale it (a condition, not a retry)."""


class UnknownKind(NotFound):
    """The API server serves no such kind in that group version (not installed, or misspelt)."""


@dataclass(frozen=True)
class ResourceMapping:
    """What discovery says about one kind: ``LeaderWorkerSet`` in
    ``leaderworkerset.x-k8s.io/v1`` is the resource ``leaderworkersets``, namespaced,
    with a ``scale`` subresource."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    scalable: bool


@dataclass(frozen=True)
class _Document:
    fetched_at: float
    kinds: Mapping[str, ResourceMapping]  # empty when the group version is not served


class RESTMapper:
    """``mapping(api_version, kind)`` → :class:`ResourceMapping`, from discovery, cached
    (see the module docstring). Thread-safe: the loop's workers share one."""

    def __init__(
        self,
        client: KubeClient,
        *,
        ttl: float = 300.0,
        miss_refresh: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._core = k8s.CoreV1Api(client.api_client)
        self._custom = k8s.CustomObjectsApi(client.api_client)
        self._ttl = ttl
        self._miss_refresh = miss_refresh
        self._clock = clock
        self._documents: dict[tuple[str, str], _Document] = {}
        self._lock = threading.Lock()

    def mapping(self, api_version: str, kind: str) -> ResourceMapping:
        """The resource for ``kind`` in ``api_version`` (``"v1"`` or ``"GROUP/VERSION"``).

        Raises :class:`UnknownKind` when the group version does not serve that kind,
        and any :class:`KubeError` discovery itself raised when nothing is cached."""
        group, version = split_api_version(api_version)
        key = (group, version)
        now = self._clock()
        with self._lock:
            cached = self._documents.get(key)
        fresh = cached is not None and now - cached.fetched_at < self._ttl
        if cached is not None and kind in cached.kinds and fresh:
            return cached.kinds[kind]
        if cached is not None and fresh and now - cached.fetched_at < self._miss_refresh:
            raise UnknownKind(_unknown(kind, api_version, cached))
        try:
            document = self._fetch(group, version, now)
        except KubeError:
            if cached is not None and kind in cached.kinds:
                return cached.kinds[kind]  # stale but usable: plurals do not change under us
            raise
        with self._lock:
            self._documents[key] = document
        if kind not in document.kinds:
            raise UnknownKind(_unknown(kind, api_version, document))
        return document.kinds[kind]

    def _fetch(self, group: str, version: str, now: float) -> _Document:
        try:
            if group:
                raw = call_json(self._client, self._custom.get_api_resources, group, version)
            else:
                raw = call_json(self._client, self._core.get_api_resources)
        except NotFound:
            return _Document(now, {})  # the group version is not served (its CRD is not installed)
        return _Document(now, parse_resource_list(group, version, raw))


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"leaderworkerset.x-k8s.io/v1"`` → ``("leaderworkerset.x-k8s.io", "v1")``; ``"v1"`` → ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    if not version:
        raise KubeError(f"scaleTargetRef.apiVersion {api_version!r} is not VERSION or GROUP/VERSION")
    return group, version


def parse_resource_list(group: str, version: str, raw: Mapping[str, Any]) -> dict[str, ResourceMapping]:
    """The kinds of an ``APIResourceList``, each with whether ``PLURAL/scale`` is listed.

    Subresources (``name`` with a ``/``) carry the kind of what they return (``Scale``),
    so kinds are taken from top-level resources only; malformed entries are skipped."""
    resources = [r for r in raw.get("resources") or () if isinstance(r, Mapping) and isinstance(r.get("name"), str)]
    subresources = {r["name"] for r in resources if "/" in r["name"]}
    kinds: dict[str, ResourceMapping] = {}
    for r in resources:
        name, kind = r["name"], r.get("kind")
        if "/" in name or not isinstance(kind, str) or kind in kinds:
            continue
        kinds[kind] = ResourceMapping(
            group, version, kind, name, bool(r.get("namespaced", True)), f"{name}/scale" in subresources
        )
    return kinds


def _unknown(kind: str, api_version: str, document: _Document) -> str:
    if not document.kinds:
        return f"the API server does not serve {api_version} (is its CustomResourceDefinition installed?)"
    return f"no kind {kind} in {api_version} (it serves: {', '.join(sorted(document.kinds))})"
