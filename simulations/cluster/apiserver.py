"""A small Kubernetes API emulator, served over real HTTP on 127.0.0.1.

Why not kmock (../shared/reference/toolchain-facts.md §5): it has no resourceVersion
conflicts, no PUT and no subresources, and those are exactly the semantics our adapters
depend on. This emulator keeps only what we use, but keeps it faithfully:

- one global ``resourceVersion`` counter; an update carrying a stale one gets 409;
- the ``/scale`` subresource maps onto ``spec.replicas`` (``status.selector`` is the
  label-selector string); ``/status`` writes touch only ``status``, main-resource
  writes never touch ``status``; ``metadata.generation`` bumps when ``spec`` changes;
- GET/POST/PUT/PATCH/DELETE; PATCH as merge, strategic merge (treated as merge: our
  objects have no keyed lists we patch) or JSON patch; strategic merge on a custom
  resource is refused with 415 as the real server does; PUT without Content-Type is JSON;
- list with label and field selectors; watch as JSON lines honouring
  ``resourceVersion`` (410 Gone when it is older than the kept history) and
  ``timeoutSeconds``;
- responses are complete, well-typed objects: the official client validates them
  strictly (a Deployment needs ``spec.selector`` and ``spec.template``);
- injectable faults (:meth:`ApiServer.fail`) and a request log in Kubernetes verbs
  (:attr:`ApiServer.requests`) for comparing against the RBAC manifests.

``stop()`` is a real outage: it closes the listening socket *and* every accepted
connection, since a pooled keep-alive connection would otherwise keep being served.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Obj = dict[str, Any]


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    status_subresource: bool = False
    scale_subresource: bool = False
    #: A CRD's ``scale.labelSelectorPath``: where its ``/scale`` finds ``status.selector``.
    selector_path: str = "status.selector"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def custom(self) -> bool:
        """Served like a CRD: no strategic merge patch."""
        return self.group not in ("", "apps", "coordination.k8s.io", "events.k8s.io")


RESOURCE_TYPES = (
    ResourceType("apps", "v1", "deployments", "Deployment", True, True),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, True),
    ResourceType("", "v1", "pods", "Pod", True),
    ResourceType("", "v1", "events", "Event"),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
    ResourceType("gpuautoscaler.io", "v1alpha1", "gpuscalers", "GPUScaler", True),
    # A custom workload exposing /scale, for the generic scale path.
    ResourceType("serving.example.com", "v1", "inferencepools", "InferencePool", True, True),
    # LeaderWorkerSet (kubernetes-sigs/lws, api/leaderworkerset/v1/leaderworkerset_types.go): its CRD serves
    # /scale with specpath=.spec.replicas, statuspath=.status.replicas, selectorpath=.status.hpaPodSelector
    # (the leader pods only), as multi-node inference runs.
    ResourceType(
        "leaderworkerset.x-k8s.io", "v1", "leaderworkersets", "LeaderWorkerSet", True, True, "status.hpaPodSelector"
    ),
    # A custom kind without /scale: a GPUScaler naming it gets a condition, not a crash.
    ResourceType("serving.example.com", "v1", "modelcaches", "ModelCache", True),
)


@dataclass
class Fault:
    """Answer matching requests with ``status`` (or drop, or delay them), ``times`` times
    (None: until cleared). ``path`` is a regex searched in the URL path without query;
    ``method`` an HTTP method, ``verb`` a Kubernetes verb, ``user_agent`` a regex."""

    path: str = ""
    method: str | None = None
    verb: str | None = None
    user_agent: str | None = None
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, verb: str, path: str, agent: str) -> bool:
        return (
            (self.times is None or self.hits < self.times)
            and (self.method is None or self.method == method)
            and (self.verb is None or self.verb == verb)
            and (self.user_agent is None or re.search(self.user_agent, agent) is not None)
            and re.search(self.path, path) is not None
        )


@dataclass(frozen=True)
class RequestRecord:
    """One request in Kubernetes authorization terms, plus what the wire saw."""

    verb: str
    api_group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    method: str
    path: str
    status: int  # 0 when the connection was dropped
    user_agent: str
    #: Wall-clock time (``time.time()``) the request line arrived: when a PATCH reached us.
    received_at: float = 0.0


class ApiError(Exception):
    """Answered as a Kubernetes ``Status`` body with this code."""

    def __init__(self, code: int, reason: str, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.headers = code, reason, message, dict(headers or {})


_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Gone",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def now_rfc3339(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def selector_string(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


@functools.lru_cache(maxsize=4096)
def _label_requirements(selector: str) -> tuple[tuple[str, str, frozenset[str]], ...]:
    """``a=b,c!=d,e in (x,y),f,!g`` as ``(key, in|notin|exists|!exists, values)``, parsed once per selector."""
    out = []
    for req in (r.strip() for r in re.findall(r"[^,(]+(?:\([^)]*\))?", selector)):
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", req):
            out.append((m[1], m[2], frozenset(v.strip() for v in m[3].split(","))))
        elif m := re.fullmatch(r"([^!=\s]+)\s*(==|=|!=)\s*(\S*)", req):
            out.append((m[1], "notin" if m[2] == "!=" else "in", frozenset({m[3]})))
        elif req:
            out.append(
                (req[1:].strip(), "!exists", frozenset()) if req.startswith("!") else (req, "exists", frozenset())
            )
    return tuple(out)


def _label_match(selector: str, labels: Mapping[str, str]) -> bool:
    """All requirements hold (``!=`` and ``notin`` also match objects without the label, as in Kubernetes)."""
    for key, op, values in _label_requirements(selector):
        present = key in labels
        if (
            (op == "in" and not (present and labels[key] in values))
            or (op == "notin" and labels.get(key) in values)
            or (op == "exists" and not present)
            or (op == "!exists" and present)
        ):
            return False
    return True


def _field_match(selector: str, obj: Obj) -> bool:
    for req in filter(None, (r.strip() for r in selector.split(","))):
        m = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", req)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector {req!r}")
        value: Any = obj
        for part in m[1].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if ((value or "") == m[3]) != (m[2] != "!="):
            return False
    return True


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(doc: Any, ops: list[Obj]) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test) with RFC 6901 pointers."""
    doc = copy.deepcopy(doc)

    def walk(pointer: str) -> tuple[Any, str]:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        return parent, parts[-1]

    def get(pointer: str) -> Any:
        parent, key = walk(pointer)
        return parent[int(key)] if isinstance(parent, list) else parent[key]

    def put(pointer: str, value: Any, replace: bool) -> None:
        parent, key = walk(pointer)
        if isinstance(parent, list):
            if key == "-":
                parent.append(value)
            elif replace:
                parent[int(key)] = value
            else:
                parent.insert(int(key), value)
        else:
            if replace and key not in parent:
                raise KeyError(key)
            parent[key] = value

    def remove(pointer: str) -> Any:
        parent, key = walk(pointer)
        return parent.pop(int(key)) if isinstance(parent, list) else parent.pop(key)

    try:
        for op in ops:
            kind, path = op["op"], op["path"]
            if kind == "add":
                put(path, copy.deepcopy(op["value"]), replace=False)
            elif kind == "replace":
                put(path, copy.deepcopy(op["value"]), replace=True)
            elif kind == "remove":
                remove(path)
            elif kind == "move":
                put(path, remove(op["from"]), replace=False)
            elif kind == "copy":
                put(path, copy.deepcopy(get(op["from"])), replace=False)
            elif kind == "test":
                if get(path) != op["value"]:
                    raise ApiError(422, "Invalid", f"test failed at {path}")
            else:
                raise ApiError(400, "BadRequest", f"unknown JSON patch op {kind!r}")
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise ApiError(422, "Invalid", f"JSON patch failed: {exc!r}") from exc
    return doc


class ApiServer:
    """The emulator. ``start()`` returns self; ``url`` is ``http://127.0.0.1:PORT``."""

    #: Watch events kept for resuming a watch; older resourceVersions get 410 Gone.
    HISTORY = 10_000

    def __init__(self) -> None:
        self.types = {(t.group, t.plural): t for t in RESOURCE_TYPES}
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {k: {} for k in self.types}
        self._rv = 0
        self._history: list[tuple[int, str, ResourceType, Obj]] = []
        self._history_floor = 0
        self._cond = threading.Condition()
        self._faults: list[Fault] = []
        self._log: list[RequestRecord] = []
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._watch_sockets: set[socket.socket] = set()
        self._port = 0
        self._listeners: list[Callable[[RequestRecord, float], None]] = []
        self.auto_status = True  # a workload's status.replicas follows spec.replicas at once
        self._discovery = Discovery(self)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ApiServer:
        """Serve (again, on the same port after a stop)."""
        emulator = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def process_request(self, request: Any, client_address: Any) -> None:
                with emulator._cond:
                    emulator._connections.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request: Any) -> None:
                with emulator._cond:
                    emulator._connections.discard(request)
                super().shutdown_request(request)

        self._server = Server(("127.0.0.1", self._port), _Handler)
        self._server.emulator = self  # type: ignore[attr-defined]
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="apiserver", daemon=True).start()
        return self

    def stop(self) -> None:
        """An outage: stop listening and cut every open connection (watches included)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._cond:
            for sock in list(self._connections):
                _shut(sock)
            self._cond.notify_all()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # ------------------------------------------------------------------ more types (kubectl, the playground)
    def register_type(self, rt: ResourceType, *, namespaced: bool = True) -> None:
        """Serve one more resource type (a cluster-scoped one: ``namespaced=False``)."""
        with self._cond:
            self.types[(rt.group, rt.plural)] = rt
            self._objects.setdefault((rt.group, rt.plural), {})
            self._discovery.cluster_scoped.discard((rt.group, rt.plural))
            if not namespaced:
                self._discovery.cluster_scoped.add((rt.group, rt.plural))

    def add_crd(self, crd: Mapping[str, Any]) -> None:
        """Take a CustomResourceDefinition's names (shortNames, categories, singular) and
        its served version's ``additionalPrinterColumns`` for discovery and Tables."""
        self._discovery.add_crd(crd)

    # ------------------------------------------------------------------ faults and log
    def fail(
        self,
        path: str = "",
        *,
        method: str | None = None,
        verb: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        drop: bool = False,
        times: int | None = None,
        user_agent: str | None = None,
    ) -> Fault:
        """Add a fault rule (first matching rule wins); returns it so tests can read ``hits``."""
        fault = Fault(path, method, verb, user_agent, status, retry_after, delay, drop, times)
        with self._cond:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    def drop_watches(self) -> None:
        """Cut every open watch stream mid-flight, as a load balancer or apiserver restart does."""
        with self._cond:
            for sock in list(self._watch_sockets):
                _shut(sock)

    def compact(self) -> None:
        """Forget the watch history: resuming from any earlier resourceVersion gets 410 Gone."""
        with self._cond:
            self._history.clear()
            self._history_floor = self._rv

    @property
    def requests(self) -> list[RequestRecord]:
        with self._cond:
            return list(self._log)

    def clear_log(self) -> None:
        with self._cond:
            self._log.clear()

    def add_listener(self, listener: Callable[[RequestRecord, float], None]) -> None:
        """Call ``listener(record, time.time())`` for every request as it is logged.

        Called under the store's lock, right after the request was served and before its
        answer is sent, so a listener that reads objects (:meth:`get`) sees them as they
        were when that request landed: who held the Lease when a PATCH arrived, say. A
        fault campaign keeps its PATCH log this way; the listener must be quick and must
        not raise (an exception is swallowed, the request is answered regardless).
        """
        with self._cond:
            self._listeners.append(listener)

    def _notify(self, record: RequestRecord) -> None:
        """Hand ``record`` to every listener (hold ``self._cond``)."""
        at = time.time()
        for listener in self._listeners:
            try:
                listener(record, at)
            except Exception:  # a broken listener must not break the emulator
                pass

    def rbac_requirements(self) -> set[tuple[str, str, str]]:
        """``(apiGroup, resource[/subresource], verb)`` for every request made: what RBAC must grant."""
        return {
            (r.api_group, f"{r.resource}/{r.subresource}" if r.subresource else r.resource, r.verb)
            for r in self.requests
            if r.resource
        }

    # ------------------------------------------------------------------ test helpers (no HTTP)
    def add_deployment(
        self,
        namespace: str,
        name: str,
        replicas: int = 1,
        labels: Mapping[str, str] | None = None,
        kind: str = "Deployment",
    ) -> Obj:
        labels = dict(labels or {"app": name})
        plural = {"Deployment": "deployments", "StatefulSet": "statefulsets"}[kind]
        spec: Obj = {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "server", "image": "model-server:1"}]},
            },
        }
        if kind == "StatefulSet":
            spec["serviceName"] = name
        return self.create(
            "apps",
            plural,
            {"metadata": {"name": name, "namespace": namespace}, "spec": spec, "status": {"replicas": replicas}},
        )

    def add_statefulset(
        self, namespace: str, name: str, replicas: int = 1, labels: Mapping[str, str] | None = None
    ) -> Obj:
        return self.add_deployment(namespace, name, replicas, labels, kind="StatefulSet")

    def add_pods(
        self,
        namespace: str,
        labels: Mapping[str, str],
        count: int = 1,
        *,
        prefix: str = "pod",
        ready: bool = True,
        phase: str = "Running",
        start_time: float | None = None,
        deleting: bool = False,
    ) -> list[str]:
        """Add ``count`` pods; ``start_time`` None means now."""
        names = []
        for _ in range(count):
            name = f"{prefix}-{uuid.uuid4().hex[:5]}"
            meta: Obj = {"name": name, "namespace": namespace, "labels": dict(labels)}
            if deleting:
                meta["deletionTimestamp"] = now_rfc3339()
            self.create(
                "",
                "pods",
                {
                    "metadata": meta,
                    "spec": {"containers": [{"name": "server", "image": "model-server:1"}], "nodeName": "gpu-node-1"},
                    "status": {
                        "phase": phase,
                        "startTime": now_rfc3339(start_time),
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "True" if ready else "False",
                                "lastTransitionTime": now_rfc3339(),
                            },
                            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_rfc3339(start_time)},
                        ],
                    },
                },
            )
            names.append(name)
        return names

    #: What kube-scheduler writes on a pod no node can take (a GPU cluster out of GPUs).
    NO_FREE_GPU = (
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are "
        "available: 3 No preemption victims found for incoming pod."
    )

    def add_unschedulable_pods(
        self,
        namespace: str,
        labels: Mapping[str, str],
        count: int = 1,
        *,
        prefix: str = "pod",
        message: str = NO_FREE_GPU,
    ) -> list[str]:
        """Add ``count`` pods as the API server shows a pod the scheduler could not place:
        phase Pending, no ``startTime`` and no ``nodeName``, and only the condition
        ``PodScheduled=False`` with reason ``Unschedulable`` and the scheduler's message."""
        names = []
        for _ in range(count):
            name = f"{prefix}-{uuid.uuid4().hex[:5]}"
            self.create(
                "",
                "pods",
                {
                    "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
                    "spec": {
                        "containers": [
                            {
                                "name": "server",
                                "image": "model-server:1",
                                "resources": {"limits": {"nvidia.com/gpu": "1"}},
                            }
                        ]
                    },
                    "status": {
                        "phase": "Pending",
                        "conditions": [
                            {
                                "type": "PodScheduled",
                                "status": "False",
                                "reason": "Unschedulable",
                                "message": message,
                                "lastProbeTime": None,
                                "lastTransitionTime": now_rfc3339(),
                            }
                        ],
                    },
                },
            )
            names.append(name)
        return names

    def set_pod_condition(
        self,
        namespace: str,
        name: str,
        type_: str,
        status: str,
        *,
        reason: str | None = None,
        message: str | None = None,
        at: float | None = None,
    ) -> Obj:
        """Set one condition of a pod, keeping the others, as the kubelet's and the
        scheduler's status updates do (conditions are merged by ``type``); ``at`` is its
        ``lastTransitionTime`` (default now). Scheduling a pod that had none also gives it
        a node and a ``startTime``, as the kubelet does once it admits the pod."""
        with self._cond:
            pod = copy.deepcopy(self._existing(self.types[("", "pods")], namespace, name))
        conditions = [c for c in pod.get("status", {}).get("conditions") or [] if c.get("type") != type_]
        condition: Obj = {"type": type_, "status": status, "lastTransitionTime": now_rfc3339(at)}
        if reason is not None:
            condition["reason"] = reason
        if message is not None:
            condition["message"] = message
        patch: Obj = {"status": {"conditions": conditions + [condition]}}
        if type_ == "PodScheduled" and status == "True" and not pod.get("status", {}).get("startTime"):
            patch["spec"] = {"nodeName": "gpu-node-1"}
            patch["status"]["startTime"] = now_rfc3339(at)
        return self.modify("", "pods", namespace, name, patch)

    def set_pod_ready(self, namespace: str, name: str, ready: bool = True) -> Obj:
        return self.modify(
            "",
            "pods",
            namespace,
            name,
            {
                "status": {
                    "conditions": [
                        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now_rfc3339()}
                    ]
                }
            },
        )

    def add_gpuscaler(self, raw: Mapping[str, Any]) -> Obj:
        return self.create("gpuautoscaler.io", "gpuscalers", dict(raw))

    def get(self, group: str, plural: str, namespace: str, name: str) -> Obj | None:
        with self._cond:
            obj = self._objects[(group, plural)].get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    # The named getters return None when absent; typed Any so a test can index the result directly.
    def deployment(self, namespace: str, name: str) -> Any:
        return self.get("apps", "deployments", namespace, name)

    def gpuscaler(self, namespace: str, name: str) -> Any:
        return self.get("gpuautoscaler.io", "gpuscalers", namespace, name)

    def lease(self, namespace: str, name: str) -> Any:
        return self.get("coordination.k8s.io", "leases", namespace, name)

    def objects(self, group: str, plural: str, namespace: str | None = None) -> list[Obj]:
        with self._cond:
            return [
                copy.deepcopy(o)
                for (ns, _), o in sorted(self._objects[(group, plural)].items())
                if namespace is None or ns == namespace
            ]

    def events(self, namespace: str | None = None) -> list[Obj]:
        return self.objects("", "events", namespace)

    def create(self, group: str, plural: str, obj: Obj) -> Obj:
        """Create as a client would (namespace from ``metadata.namespace``, default ``default``)."""
        ns = obj.get("metadata", {}).get("namespace", "default")
        with self._cond:
            return self._create(self.types[(group, plural)], ns, obj)

    def modify(self, group: str, plural: str, namespace: str, name: str, patch: Mapping[str, Any]) -> Obj:
        """Merge-patch an object as its owner would (spec and status alike); bumps resourceVersion."""
        rt = self.types[(group, plural)]
        with self._cond:
            old = self._existing(rt, namespace, name)
            return self._commit(rt, old, merge_patch(old, dict(patch)))

    def delete(self, group: str, plural: str, namespace: str, name: str) -> None:
        rt = self.types[(group, plural)]
        with self._cond:
            self._delete(rt, namespace, name)

    # ------------------------------------------------------------------ store (hold self._cond)
    def _existing(self, rt: ResourceType, ns: str, name: str) -> Obj:
        obj = self._objects[(rt.group, rt.plural)].get((ns, name))
        if obj is None:
            resource = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        return obj

    def _create(self, rt: ResourceType, ns: str, body: Obj) -> Obj:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        if (ns, name) in self._objects[(rt.group, rt.plural)]:
            raise ApiError(409, "AlreadyExists", f'{rt.plural} "{name}" already exists')
        meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
        meta.pop("resourceVersion", None)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        return self._commit(rt, None, obj)

    def _commit(self, rt: ResourceType, old: Obj | None, new: Obj) -> Obj:
        """Store ``new`` with the next resourceVersion, bump generation on a spec change, and
        record the watch event. Identity fields always come from ``old``."""
        meta = new.setdefault("metadata", {})
        if old is not None:
            for key in ("name", "namespace", "uid", "creationTimestamp", "generation"):
                meta[key] = old["metadata"][key]
            if new.get("spec") != old.get("spec"):
                meta["generation"] = old["metadata"]["generation"] + 1
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        if self.auto_status and rt.scale_subresource and (old is None or new["spec"] != old["spec"]):
            new.setdefault("status", {}).update(
                replicas=new["spec"].get("replicas", 1), observedGeneration=meta["generation"]
            )
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        self._objects[(rt.group, rt.plural)][(meta["namespace"], meta["name"])] = new
        self._record(rt, "ADDED" if old is None else "MODIFIED", new)
        return copy.deepcopy(new)

    def _delete(self, rt: ResourceType, ns: str, name: str) -> Obj:
        obj = self._existing(rt, ns, name)
        del self._objects[(rt.group, rt.plural)][(ns, name)]
        self._rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._record(rt, "DELETED", obj)
        return obj

    def _record(self, rt: ResourceType, type_: str, obj: Obj) -> None:
        self._history.append((self._rv, type_, rt, copy.deepcopy(obj)))
        if len(self._history) > self.HISTORY:
            dropped = self._history.pop(0)
            self._history_floor = dropped[0]
        self._cond.notify_all()

    def _scale_view(self, obj: Obj) -> Obj:
        selector = obj["spec"].get("selector")
        if isinstance(selector, dict):  # apps/v1: a LabelSelector; a CRD keeps the string in status
            selector = selector_string(selector.get("matchLabels", {}))
        else:  # a CRD: the string at its labelSelectorPath, "" when unset (as the API server)
            selector = obj
            rt = next(t for t in self.types.values() if (t.api_version, t.kind) == (obj["apiVersion"], obj["kind"]))
            for part in rt.selector_path.split("."):
                selector = selector.get(part, "") if isinstance(selector, dict) else ""
        meta = obj["metadata"]
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0), "selector": selector},
        }

    # ------------------------------------------------------------------ request handling
    def handle(
        self,
        method: str,
        rt: ResourceType,
        ns: str,
        name: str,
        sub: str,
        query: Mapping[str, str],
        body: Any,
        content_type: str,
    ) -> Obj:
        """One non-watch request; returns the response object or raises :class:`ApiError`."""
        with self._cond:
            if method == "GET" and not name:
                items = [
                    copy.deepcopy(o)
                    for (ons, _), o in sorted(self._objects[(rt.group, rt.plural)].items())
                    if (not ns or ons == ns) and self._selected(o, query)
                ]
                return {
                    "apiVersion": rt.api_version,
                    "kind": f"{rt.kind}List",
                    "metadata": {"resourceVersion": str(self._rv)},
                    "items": items,
                }
            if method == "POST" and not name:
                if not isinstance(body, dict):
                    raise ApiError(400, "BadRequest", "body must be an object")
                return self._create(rt, ns, body)
            if sub and not ((sub == "status" and rt.status_subresource) or (sub == "scale" and rt.scale_subresource)):
                raise ApiError(404, "NotFound", f"the server could not find the requested resource ({sub})")
            old = self._existing(rt, ns, name)
            view = self._scale_view(old) if sub == "scale" else old
            if method == "GET":
                return copy.deepcopy(view)
            if method == "DELETE":
                return self._delete(rt, ns, name)
            if method == "PUT":
                incoming = body
            elif method == "PATCH":
                if "json-patch" in content_type:
                    incoming = json_patch(view, body)
                elif "strategic-merge-patch" in content_type and rt.custom:
                    raise ApiError(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types "
                        "include: application/json-patch+json, application/merge-patch+json",
                    )
                elif "merge-patch" in content_type:
                    incoming = merge_patch(view, body)
                else:
                    raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {content_type!r}")
            else:
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")
            if not isinstance(incoming, dict):
                raise ApiError(400, "BadRequest", "body must be an object")
            wanted_rv = incoming.get("metadata", {}).get("resourceVersion")
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {rt.plural}.{rt.group} "{name}": '
                    "the object has been modified; please apply your changes to the "
                    "latest version and try again",
                )
            new = copy.deepcopy(old)
            if sub == "scale":
                replicas = incoming.get("spec", {}).get("replicas")
                if not isinstance(replicas, int) or replicas < 0:
                    raise ApiError(422, "Invalid", f"spec.replicas: Invalid value: {replicas!r}")
                new["spec"]["replicas"] = replicas
            elif sub == "status":
                new["status"] = copy.deepcopy(incoming.get("status", {}))
            else:
                status = new.get("status")
                new = copy.deepcopy(incoming)
                if rt.status_subresource:
                    new.pop("status", None)
                    if status is not None:
                        new["status"] = status
            stored = self._commit(rt, old, new)
            return self._scale_view(stored) if sub == "scale" else stored

    def _selected(self, obj: Obj, query: Mapping[str, str]) -> bool:
        return _label_match(query.get("labelSelector", ""), obj["metadata"].get("labels") or {}) and _field_match(
            query.get("fieldSelector", ""), obj
        )

    def watch(self, rt: ResourceType, ns: str, query: Mapping[str, str], write: Callable[[bytes], None]) -> None:
        """Stream events as JSON lines until ``timeoutSeconds``, an outage or a dropped stream."""
        deadline = time.monotonic() + float(query.get("timeoutSeconds", "1800"))
        rv_param = query.get("resourceVersion", "")

        def line(type_: str, obj: Obj) -> bytes:
            return json.dumps({"type": type_, "object": obj}).encode() + b"\n"

        with self._cond:
            if rv_param in ("", "0"):  # "start at the most recent": synthetic ADDED for what exists
                since = self._rv
                out = [
                    line("ADDED", copy.deepcopy(o))
                    for (ons, _), o in sorted(self._objects[(rt.group, rt.plural)].items())
                    if (not ns or ons == ns) and self._selected(o, query)
                ]
            else:
                since = int(rv_param)
                out = []
                if since < self._history_floor:
                    out = [
                        line(
                            "ERROR",
                            _status(410, "Expired", f"too old resource version: {since} ({self._history_floor + 1})"),
                        )
                    ]
                    since = -1
        while True:
            for chunk in out:
                write(chunk)
            if since < 0 or time.monotonic() >= deadline or not self.running:
                return
            with self._cond:
                fresh = [
                    (rv, t, o)
                    for rv, t, r, o in self._history
                    if rv > since and r == rt and (not ns or o["metadata"]["namespace"] == ns)
                ]
                if not fresh:
                    self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))
                    out = []
                    continue
            since = fresh[-1][0]
            out = [line(t, o) for _, t, o in fresh if self._selected(o, query)]


def _status(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


_PATH = re.compile(
    r"^/(?:api/(?P<cv>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the request log
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        emulator: ApiServer = self.server.emulator
        received_at = time.time()
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        agent = self.headers.get("User-Agent", "")
        m = _PATH.match(url.path)
        group = (m["group"] or "") if m else ""
        rt = emulator.types.get((group, m["plural"])) if m else None
        name, sub, ns = (m["name"] or "", m["sub"] or "", m["ns"] or "") if m else ("", "", "")
        watching = self.command == "GET" and not name and query.get("watch") in ("1", "true")
        verb = (
            ("watch" if watching else "list" if not name else "get")
            if self.command == "GET"
            else _VERBS.get(self.command, self.command.lower())
        )

        def record(status: int) -> None:  # before answering, so a test that got the answer sees the entry
            with emulator._cond:
                emulator._log.append(
                    RequestRecord(
                        verb,
                        group,
                        rt.plural if rt else "",
                        sub,
                        ns,
                        name,
                        self.command,
                        url.path,
                        status,
                        agent,
                        received_at,
                    )
                )
                emulator._notify(emulator._log[-1])

        try:
            with emulator._cond:
                fault = next((f for f in emulator._faults if f.matches(self.command, verb, url.path, agent)), None)
                if fault:
                    fault.hits += 1
            if fault and fault.delay:
                time.sleep(fault.delay)
            if fault and fault.drop:
                record(0)
                self.close_connection = True
                _shut(self.connection)
                return
            if fault and fault.status:
                raise ApiError(
                    fault.status,
                    _REASONS.get(fault.status, "Failure"),
                    f"injected fault {fault.status}",
                    {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None,
                )
            if m is None and self.command == "GET" and (doc := emulator._discovery.document(url.path)) is not None:
                # Discovery (/api, /apis, /apis/GROUP/VERSION, /version), for kubectl and the controller's
                # RESTMapper: logged as a "get" with no resource (non-resource URLs need no RBAC rule), and
                # subject to faults like any request.
                verb = "get"
                record(200)
                self._send(200, doc)
                return
            if rt is None or (m and m["version"] and m["version"] != rt.version):
                raise ApiError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
            content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
            try:
                body = json.loads(raw) if raw else None
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"invalid JSON body: {exc}") from exc
            if self.command in ("POST", "PUT") and content_type != "application/json":
                raise ApiError(415, "UnsupportedMediaType", f"unsupported content type {content_type!r}")
            if watching:
                record(200)
                try:
                    self._watch(emulator, rt, ns, query)
                except OSError:
                    self.close_connection = True  # the client went away, or drop_watches()
                return
            code, obj, headers = (
                (201 if self.command == "POST" else 200),
                emulator.handle(self.command, rt, ns, name, sub, query, body, content_type),
                {},
            )
            if self.command == "GET" and not sub and wants_table(self.headers.get("Accept", "")):
                obj = emulator._discovery.table(rt, obj)  # kubectl get: the server prints the columns
        except ApiError as exc:
            code, obj, headers = exc.code, _status(exc.code, exc.reason, exc.message), exc.headers
        record(code)
        try:
            self._send(code, obj, headers)
        except OSError:
            self.close_connection = True

    def _send(self, code: int, obj: Obj, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _watch(self, emulator: ApiServer, rt: ResourceType, ns: str, query: Mapping[str, str]) -> None:
        """Chunked, one event a chunk, as the API server does: urllib3 hands a chunked body
        to the client as it arrives, but would read a length-less body to the end first."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with emulator._cond:
            emulator._watch_sockets.add(self.connection)

        def write(data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            emulator.watch(rt, ns, query, write)
            self.wfile.write(b"0\r\n\r\n")
        finally:
            with emulator._cond:
                emulator._watch_sockets.discard(self.connection)


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 5.0,
    interval: float = 0.02,
    *,
    what: str = "",
    detail: Callable[[], str] | None = None,
    error: type[Exception] = AssertionError,
) -> Any:
    """Poll ``predicate`` until truthy (returned) or ``timeout`` (``error``, by default
    AssertionError for tests, naming ``what``, with ``detail()`` appended — a
    controller's log, say). The one poll loop of the emulator's users: tests, the
    benchmarks (TimeoutError) and the playground (its StartError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            message = (
                f"timed out after {timeout:g} s waiting for {what}"
                if what
                else f"condition not met within {timeout:g} s"
            )
            raise error(message + (detail() if detail is not None else ""))
        time.sleep(interval)


# ---------------------------------------------------------------------- kubectl: discovery and Tables

_VERBS_ALL = ["create", "delete", "get", "list", "patch", "update", "watch"]
_JSONPATH_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[\?\(@\.([\w.\-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]|\[(\d+)\]")


def wants_table(accept: str) -> bool:
    """``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` (kubectl get): a Table, not the objects."""
    return "as=Table" in accept


def jsonpath(obj: Any, path: str) -> list[Any]:
    """The values at a printer column's ``jsonPath``: ``.a.b``, ``[N]`` and ``[?(@.k=="v")]``
    (what CRDs' printer columns use). ``.status.conditions[?(@.type=="Ready")].status`` on a
    status with a Ready condition of status True -> ``["True"]``; a missing field -> ``[]``."""
    values = [obj]
    pos = 0
    while pos < len(path):
        m = _JSONPATH_STEP.match(path, pos)
        if m is None:
            return []
        pos = m.end()
        out: list[Any] = []
        for v in values:
            if m[1] is not None:
                if isinstance(v, dict) and m[1] in v:
                    out.append(v[m[1]])
            elif m[2] is not None:
                for item in v if isinstance(v, list) else []:
                    if jsonpath(item, "." + m[2]) == [m[3]]:
                        out.append(item)
            elif isinstance(v, list) and int(m[4]) < len(v):
                out.append(v[int(m[4])])
        values = out
    return values


def human_age(seconds: float) -> str:
    """kubectl's short ages: 45s, 3m20s, 12m, 5h, 3d (k8s.io/apimachinery duration.HumanDuration, abridged)."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 600:
        return f"{s // 60}m{s % 60}s" if s % 60 else f"{s // 60}m"
    if s < 3 * 3600:
        return f"{s // 60}m"
    if s < 48 * 3600:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _age_of(timestamp: Any) -> str:
    try:
        t = datetime.strptime(str(timestamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return "<unknown>"
    return human_age(time.time() - t)


class Discovery:
    """What kubectl reads before it reads objects: the API groups and each group version's
    resources (names, kinds, verbs, shortNames: ``gsc`` resolves to ``gpuscalers`` here),
    and, for ``kubectl get``, Tables of the columns a CRD declares (else Name and Age)."""

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.cluster_scoped: set[tuple[str, str]] = set()
        self.names: dict[tuple[str, str], dict[str, Any]] = {
            key: {"shortNames": [short]}
            for key, short in (
                (("apps", "deployments"), "deploy"),
                (("apps", "statefulsets"), "sts"),
                (("", "pods"), "po"),
                (("", "events"), "ev"),
                (("", "namespaces"), "ns"),
            )
        }
        self.columns: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def add_crd(self, crd: Mapping[str, Any]) -> None:
        spec = crd["spec"]
        names = spec["names"]
        key = (spec["group"], names["plural"])
        self.names[key] = {
            "singularName": names.get("singular", ""),
            "shortNames": list(names.get("shortNames", [])),
            "categories": list(names.get("categories", [])),
        }
        version: Mapping[str, Any] = next((v for v in spec.get("versions", []) if v.get("served", True)), {})
        self.columns[key] = list(version.get("additionalPrinterColumns", []))
        if spec.get("scope") == "Cluster":
            self.cluster_scoped.add(key)

    def _group_versions(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for rt in self.api.types.values():
            if rt.group and rt.version not in out.setdefault(rt.group, []):
                out[rt.group].append(rt.version)
        return out

    def document(self, path: str) -> Obj | None:
        """The discovery document at ``path``, or None when ``path`` is not a discovery path."""
        path = path.rstrip("/") or "/"
        if path == "/version":
            return {"major": "1", "minor": "32", "gitVersion": "v1.32.0-emulator", "platform": "linux/amd64"}
        if path == "/api":
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.api.port}"}
                ],
            }
        groups = self._group_versions()
        if path == "/apis":
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": g,
                        "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                        "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
                    }
                    for g, vs in sorted(groups.items())
                ],
            }
        if (g := re.fullmatch(r"/apis/([^/]+)", path)) and g[1] in groups:
            vs = groups[g[1]]
            return {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": g[1],
                "versions": [{"groupVersion": f"{g[1]}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{g[1]}/{vs[0]}", "version": vs[0]},
            }
        m = re.fullmatch(r"/api/(v1)|/apis/([^/]+)/([^/]+)", path)
        if m is None:
            return None
        group, version = ("", "v1") if m[1] else (m[2], m[3])
        if group and version not in groups.get(group, []):
            return None
        resources: list[Obj] = []
        for rt in sorted(self.api.types.values(), key=lambda r: r.plural):
            if (rt.group, rt.version) != (group, version):
                continue
            key = (rt.group, rt.plural)
            names = self.names.get(key, {})
            namespaced = key not in self.cluster_scoped
            resources.append(
                {
                    "name": rt.plural,
                    "singularName": names.get("singularName") or rt.kind.lower(),
                    "namespaced": namespaced,
                    "kind": rt.kind,
                    "verbs": _VERBS_ALL,
                    **({"shortNames": names["shortNames"]} if names.get("shortNames") else {}),
                    **({"categories": names["categories"]} if names.get("categories") else {}),
                }
            )
            if rt.status_subresource:
                resources.append(
                    {
                        "name": f"{rt.plural}/status",
                        "singularName": "",
                        "namespaced": namespaced,
                        "kind": rt.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
            if rt.scale_subresource:
                resources.append(
                    {
                        "name": f"{rt.plural}/scale",
                        "singularName": "",
                        "namespaced": namespaced,
                        "group": "autoscaling",
                        "version": "v1",
                        "kind": "Scale",
                        "verbs": ["get", "patch", "update"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    def table(self, rt: ResourceType, obj: Obj) -> Obj:
        """A ``meta.k8s.io/v1`` Table of one object or a list: Name, the CRD's printer columns
        evaluated on each object (dates as ages), and the object's metadata."""
        items = obj.get("items", []) if "items" in obj else [obj]
        columns = self.columns.get((rt.group, rt.plural)) or [
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
        ]
        definitions = [
            {
                "name": "Name",
                "type": "string",
                "format": "name",
                "priority": 0,
                "description": "Name must be unique within a namespace.",
            }
        ]
        definitions += [
            {
                "name": c["name"],
                "type": c.get("type", "string"),
                "format": c.get("format", ""),
                "description": c.get("description", ""),
                "priority": int(c.get("priority", 0)),
            }
            for c in columns
        ]
        rows = []
        for item in items:
            cells: list[Any] = [item["metadata"]["name"]]
            for c in columns:
                values = jsonpath(item, c.get("jsonPath", ""))
                if not values:
                    cells.append(None)
                elif c.get("type") == "date":
                    cells.append(_age_of(values[0]))
                elif len(values) == 1:
                    cells.append(values[0])
                else:
                    cells.append(",".join(str(v) for v in values))
            rows.append(
                {
                    "cells": cells,
                    "object": {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": item["metadata"],
                    },
                }
            )
        return {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": obj.get("metadata", {}).get("resourceVersion", "")},
            "columnDefinitions": definitions,
            "rows": rows,
        }
