"""In-memory fakes of the Kubernetes seam (autoscaler/kube/types.py), for loop tests.

One :class:`MemoryCluster` plays all four Protocols (ScaleClient, PodLister,
ScalerStore, EventSink) over plain dicts, with the semantics the loop relies on: a
scale is a Deployment's ``spec.replicas`` and its ``status.selector``, status writes
replace ``status`` and bump the resourceVersion, an edit of ``spec`` bumps
``generation``, Events with the same reason and message fold into a count. Faults are
injected per operation with :meth:`MemoryCluster.fail` and raise our own
``autoscaler.kube.errors``, as the real adapters do.

The real adapters are tested against the HTTP emulator (tests/fakes/apiserver.py);
this fake is for the loop's logic, where HTTP would only slow the tables down.
"""
from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from autoscaler.core.types import PodState
from autoscaler.kube.errors import KubeError, NotFound
from autoscaler.kube.types import Scale, ScalerObject
from autoscaler.spec import ScaleTargetRef

OPERATIONS = ("get_scale", "set_replicas", "list_pods", "list_scalers", "write_status", "emit")


@dataclass
class Target:
    replicas: int
    selector: str
    status_replicas: int | None = None  # None: follows replicas at once


@dataclass
class Pod:
    labels: dict[str, str]
    state: PodState


@dataclass
class Event:
    namespace: str
    name: str  # the GPUScaler's name
    type: str
    reason: str
    message: str
    count: int = 1


@dataclass
class _Fault:
    error: KubeError
    times: int | None
    match: str = ""


@dataclass
class MemoryCluster:
    """Deployments, pods, GPUScalers and Events in dicts, behind the loop's Protocols."""

    targets: dict[tuple[str, str, str], Target] = field(default_factory=dict)  # (ns, kind, name)
    pods: dict[str, dict[str, Pod]] = field(default_factory=dict)  # ns -> name -> pod
    scalers: dict[tuple[str, str], ScalerObject] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    patches: list[tuple[str, str, int]] = field(default_factory=list)  # (ns, name, replicas)
    status_writes: int = 0
    calls: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._rv = itertools.count(1)
        self._faults: dict[str, list[_Fault]] = {}

    # -- set-up ---------------------------------------------------------------------
    def add_target(self, namespace: str, name: str, replicas: int, *, kind: str = "Deployment",
                   selector: str | None = None) -> None:
        self.targets[(namespace, kind, name)] = Target(replicas, selector or f"app={name}")

    def add_pods(self, namespace: str, app: str, names: Sequence[str], *, ready: bool = True,
                 start_time: float | None = 0.0, phase: str = "Running") -> None:
        for n in names:
            self.pods.setdefault(namespace, {})[n] = Pod({"app": app}, PodState(n, ready, start_time, phase))

    def remove_pod(self, namespace: str, name: str) -> None:
        self.pods.get(namespace, {}).pop(name, None)

    def add_scaler(self, namespace: str, name: str, spec: Mapping[str, Any],
                   status: Mapping[str, Any] | None = None) -> ScalerObject:
        obj = ScalerObject(namespace, name, uid=f"uid-{namespace}-{name}", generation=1,
                           resource_version=str(next(self._rv)), spec=copy.deepcopy(dict(spec)),
                           status=copy.deepcopy(dict(status or {})))
        self.scalers[(namespace, name)] = obj
        return obj

    def edit_spec(self, namespace: str, name: str, spec: Mapping[str, Any]) -> None:
        with self._lock:
            old = self.scalers[(namespace, name)]
            self.scalers[(namespace, name)] = replace(old, spec=copy.deepcopy(dict(spec)),
                                                      generation=old.generation + 1,
                                                      resource_version=str(next(self._rv)))

    def delete_scaler(self, namespace: str, name: str) -> None:
        self.scalers.pop((namespace, name), None)

    def fail(self, operation: str, error: KubeError, times: int | None = None, match: str = "") -> None:
        """Make ``operation`` raise ``error`` (``times`` times, or until :meth:`heal`);
        ``match`` limits it to calls whose namespace/name contains that text."""
        assert operation in OPERATIONS, operation
        self._faults.setdefault(operation, []).append(_Fault(error, times, match))

    def heal(self, operation: str | None = None) -> None:
        if operation is None:
            self._faults.clear()
        else:
            self._faults.pop(operation, None)

    def replicas(self, namespace: str, name: str, kind: str = "Deployment") -> int:
        return self.targets[(namespace, kind, name)].replicas

    def status(self, namespace: str, name: str) -> Mapping[str, Any]:
        return self.scalers[(namespace, name)].status

    def condition(self, namespace: str, name: str, type_: str) -> Mapping[str, Any] | None:
        return next((c for c in self.status(namespace, name).get("conditions", ()) if c["type"] == type_), None)

    def events_for(self, namespace: str, name: str) -> list[Event]:
        return [e for e in self.events if (e.namespace, e.name) == (namespace, name)]

    def _enter(self, operation: str, where: str) -> None:
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            for fault in self._faults.get(operation, []):
                if fault.match in where and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    raise fault.error

    # -- ScaleClient ------------------------------------------------------------------
    def get_scale(self, namespace: str, ref: ScaleTargetRef) -> Scale:
        self._enter("get_scale", f"{namespace}/{ref.name}")
        with self._lock:
            t = self.targets.get((namespace, ref.kind, ref.name))
            if t is None:
                raise NotFound(f"{ref.kind.lower()}s.apps \"{ref.name}\" not found", 404, "NotFound")
            status = t.replicas if t.status_replicas is None else t.status_replicas
            return Scale(namespace, ref.name, t.replicas, status, t.selector)

    def set_replicas(self, namespace: str, ref: ScaleTargetRef, replicas: int) -> None:
        self._enter("set_replicas", f"{namespace}/{ref.name}")
        with self._lock:
            self.targets[(namespace, ref.kind, ref.name)].replicas = replicas
            self.patches.append((namespace, ref.name, replicas))

    # -- PodLister --------------------------------------------------------------------
    def list_pods(self, namespace: str, selector: str) -> tuple[PodState, ...]:
        self._enter("list_pods", f"{namespace}/{selector}")
        wanted = dict(part.split("=", 1) for part in selector.split(",") if part)
        with self._lock:
            pods = self.pods.get(namespace, {}).values()
            return tuple(sorted((p.state for p in pods if all(p.labels.get(k) == v for k, v in wanted.items())),
                                key=lambda s: s.name))

    # -- ScalerStore ------------------------------------------------------------------
    def list_scalers(self, namespaces: Sequence[str] | None) -> list[ScalerObject]:
        self._enter("list_scalers", ",".join(namespaces or ()))
        with self._lock:
            return [s for (ns, _), s in sorted(self.scalers.items()) if namespaces is None or ns in namespaces]

    def write_status(self, scaler: ScalerObject, status: Mapping[str, Any]) -> None:
        self._enter("write_status", f"{scaler.namespace}/{scaler.name}")
        with self._lock:
            current = self.scalers.get((scaler.namespace, scaler.name))
            if current is None or current.uid != scaler.uid:
                raise NotFound(f"gpuscaler {scaler.namespace}/{scaler.name} not found", 404, "NotFound")
            self.scalers[(scaler.namespace, scaler.name)] = replace(
                current, status=copy.deepcopy(dict(status)), resource_version=str(next(self._rv)))
            self.status_writes += 1

    # -- EventSink --------------------------------------------------------------------
    def emit(self, scaler: ScalerObject, type_: str, reason: str, message: str) -> None:
        self._enter("emit", f"{scaler.namespace}/{scaler.name}")
        with self._lock:
            for e in self.events:
                if (e.namespace, e.name, e.type, e.reason, e.message) == (
                        scaler.namespace, scaler.name, type_, reason, message):
                    e.count += 1
                    return
            self.events.append(Event(scaler.namespace, scaler.name, type_, reason, message))
