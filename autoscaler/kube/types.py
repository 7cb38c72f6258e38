"""The Kubernetes seam: small Protocols the control loop depends on, and our own types.

No ``kubernetes`` import here. The real adapters (``autoscaler.kube.client`` and
friends) implement these over the official client; tests of the loop use in-memory
fakes, and the adapters themselves are tested against the API emulator over HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from autoscaler.core.types import PodState
from autoscaler.spec import ScaleTargetRef


@dataclass(frozen=True)
class Scale:
    """A target's scale subresource: ``spec.replicas``, ``status.replicas`` and ``status.selector``."""

    namespace: str
    name: str
    replicas: int
    status_replicas: int
    selector: str


@dataclass(frozen=True)
class ScalerObject:
    """A GPUScaler as read from the API: identity, the raw ``spec`` mapping (parsed and
    validated by :func:`autoscaler.spec.parse_spec`), the current ``status``, and the
    object's string ``annotations`` (the pause toggles:
    :func:`autoscaler.spec.apply_pause_annotations`)."""

    namespace: str
    name: str
    uid: str
    generation: int
    resource_version: str
    spec: Mapping[str, Any]
    status: Mapping[str, Any] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


class ScaleClient(Protocol):
    def get_scale(self, namespace: str, ref: ScaleTargetRef) -> Scale: ...

    def set_replicas(self, namespace: str, ref: ScaleTargetRef, replicas: int) -> None:
        """PATCH ``spec.replicas`` on the scale subresource."""


class PodLister(Protocol):
    def list_pods(self, namespace: str, selector: str) -> tuple[PodState, ...]: ...


class ScalerStore(Protocol):
    def list_scalers(self, namespaces: Sequence[str] | None) -> list[ScalerObject]:
        """Every GPUScaler in the given namespaces (all namespaces when None)."""

    def write_status(self, scaler: ScalerObject, status: Mapping[str, Any]) -> None:
        """Replace the GPUScaler's ``status`` through the status subresource."""


class EventSink(Protocol):
    def emit(self, scaler: ScalerObject, type_: str, reason: str, message: str) -> None:
        """Record an Event about ``scaler`` (``type_`` Normal or Warning); repeats of the
        same reason and message are deduplicated into a count, like HPA's recorder."""


@dataclass(frozen=True)
class ScalerEvent:
    """A change to a GPUScaler seen by a watch: ``type`` is ADDED, MODIFIED or DELETED
    (after a re-list, differences from what was known are reported the same way)."""

    type: str
    scaler: ScalerObject


class ScalerWatcher(Protocol):
    def watch_scalers(
        self, namespaces: Sequence[str] | None, on_event: Callable[[ScalerEvent], None], stop: threading.Event
    ) -> None:
        """Report GPUScaler changes to ``on_event`` (never concurrently) until ``stop`` is set."""
