"""The world a fault campaign runs in: everything real, every fault injectable.

    Exposition (the test sets every pod's series: a value, NaN, a frozen timestamp, none)
        -> Prometheus (Debian's binary, scraping it every 0.5 s)
        -> PromProxy (pass / slow / down: Prometheus as the controller sees it)
        -> two `gpu-autoscaler run` processes with leader election
        -> ApiServer (the emulator; per-verb faults, watch cuts, and a listener that keeps
           the write log with the Lease holder at each write)

:class:`Pods` plays the Deployment controller and the pods' exporters: every 0.1 s it
makes each workload's pods follow ``spec.replicas`` and writes their series as the
workload's current *mode* says. The campaign (campaign.py) draws the modes and faults.
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from simulations.cluster.apiserver import ApiServer, RequestRecord, now_rfc3339
from simulations.cluster.exposition import Exposition
from simulations.cluster.prometheus import PrometheusServer, ScrapeJob

QUEUE = "inference_queue_depth"
BACKLOG = "campaign_backlog"  # the custom (type Prometheus) metric of scaler s1
HEARTBEAT = "campaign_heartbeat"  # always fresh: tells when Prometheus has new data again
LEASE = "gpu-autoscaler"


class PromProxy:
    """An HTTP proxy in front of Prometheus whose mode the campaign sets.

    ``pass`` forwards; ``slow`` sleeps ``delay`` seconds first (the query then sees
    fresher data, it just answers late); ``down`` resets the connection at once (what
    a dead Prometheus behind a Service looks like to a client).
    """

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.mode = "pass"
        self.delay = 0.0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                mode, delay = proxy.mode, proxy.delay
                if mode == "down":
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if mode == "slow":
                    time.sleep(delay)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command)
                if self.headers.get("Content-Type"):
                    req.add_header("Content-Type", self.headers["Content-Type"])
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        code, data, ctype = r.status, r.read(), r.headers.get("Content-Type", "application/json")
                except urllib.error.HTTPError as e:
                    code, data, ctype = e.code, e.read(), e.headers.get("Content-Type", "application/json")
                except OSError:  # Prometheus itself is stopped
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(data)

            do_POST = do_GET

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hung up (a controller killed mid-query): nothing to report

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Workload:
    """One Deployment and its pods; ``mode`` says what their queue series show."""

    namespace: str
    name: str
    mode: str = "ok"  # ok | nan | stale | negative | huge | missing | partial_nan
    per_pod: float = 4.0
    pods: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)  # pods with the label but no series
    serial: int = 0


class Pods:
    """Pods follow ``spec.replicas``; their series follow the workload's mode."""

    def __init__(self, api: ApiServer, exposition: Exposition, period: float = 0.1):
        self.api, self.exposition, self.period = api, exposition, period
        self.workloads: dict[tuple[str, str], Workload] = {}
        self.backlog: dict[str, tuple[str, float]] = {}  # namespace -> (mode ok|nan|missing, value)
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="campaign-pods", daemon=True)
        self._thread.start()

    def add(self, namespace: str, name: str, replicas: int, per_pod: float = 4.0) -> Workload:
        self.api.add_deployment(namespace, name, replicas)
        w = Workload(namespace, name, per_pod=per_pod)
        with self.lock:
            self.workloads[(namespace, name)] = w
        self.sync()
        return w

    def forget_namespace(self, namespace: str) -> None:
        with self.lock:
            for key in [k for k in self.workloads if k[0] == namespace]:
                w = self.workloads.pop(key)
                for pod in w.pods:
                    self.exposition.remove(QUEUE, {"namespace": namespace, "pod": pod})
            if namespace in self.backlog:
                del self.backlog[namespace]
                self.exposition.remove(BACKLOG, {"namespace": namespace})

    def add_stray(self, namespace: str, name: str) -> str:
        """A pod with the workload's label that no series speaks for (a pod just scheduled)."""
        with self.lock:
            w = self.workloads[(namespace, name)]
            w.serial += 1
            pod = f"{name}-stray-{w.serial}"
            self._create_pod(namespace, name, pod)
            w.stray.append(pod)
            return pod

    def remove_stray(self, namespace: str, name: str) -> None:
        with self.lock:
            w = self.workloads[(namespace, name)]
            while w.stray:
                with contextlib.suppress(Exception):
                    self.api.delete("", "pods", namespace, w.stray.pop())

    def delete_pod(self, namespace: str, name: str, index: int) -> None:
        """A pod goes away (evicted); the Deployment controller replaces it next sync."""
        with self.lock:
            w = self.workloads[(namespace, name)]
            if w.pods:
                pod = w.pods.pop(index % len(w.pods))
                with contextlib.suppress(Exception):
                    self.api.delete("", "pods", namespace, pod)
                self.exposition.remove(QUEUE, {"namespace": namespace, "pod": pod})

    def _create_pod(self, namespace: str, app: str, pod: str) -> None:
        self.api.create("", "pods", {
            "metadata": {"name": pod, "namespace": namespace, "labels": {"app": app}},
            "spec": {"containers": [{"name": "server", "image": "vllm:1"}], "nodeName": "gpu-node-1"},
            "status": {"phase": "Running", "podIP": "127.0.0.1", "startTime": now_rfc3339(),
                       "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now_rfc3339()}]}})

    def sync(self) -> None:
        now = time.time()
        self.exposition.set(HEARTBEAT, {"job_kind": "campaign"}, now)
        with self.lock:
            for w in list(self.workloads.values()):
                dep = self.api.deployment(w.namespace, w.name)
                if dep is None:
                    continue
                want = int(dep["spec"]["replicas"])
                while len(w.pods) < want:
                    w.serial += 1
                    pod = f"{w.name}-{w.serial}"
                    self._create_pod(w.namespace, w.name, pod)
                    w.pods.append(pod)
                while len(w.pods) > want:
                    pod = w.pods.pop()
                    with contextlib.suppress(Exception):
                        self.api.delete("", "pods", w.namespace, pod)
                    self.exposition.remove(QUEUE, {"namespace": w.namespace, "pod": pod})
                for i, pod in enumerate(w.pods):
                    labels = {"namespace": w.namespace, "pod": pod}
                    mode = w.mode
                    if mode == "partial_nan":
                        mode = "nan" if i == 0 else "ok"
                    if mode == "missing":
                        self.exposition.remove(QUEUE, labels)
                    elif mode == "stale":  # frozen 10 min ago: Prometheus keeps the last fresh sample
                        self.exposition.set(QUEUE, labels, w.per_pod, now - 600)
                    else:
                        value = {"ok": w.per_pod, "nan": float("nan"), "negative": -5.0, "huge": 1e306}[mode]
                        self.exposition.set(QUEUE, labels, value)
            for ns, (mode, value) in self.backlog.items():
                if mode == "missing":
                    self.exposition.remove(BACKLOG, {"namespace": ns})
                else:
                    self.exposition.set(BACKLOG, {"namespace": ns}, float("nan") if mode == "nan" else value)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            with contextlib.suppress(Exception):
                self.sync()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class Write:
    """One write request (not to the Lease) as it landed, with the Lease as it stood then."""

    at: float
    identity: str
    verb: str
    resource: str
    subresource: str
    name: str
    status: int
    holder: str


@dataclass(frozen=True)
class ScalePatch:
    at: float
    identity: str
    target: str
    before: int
    after: int


@dataclass(frozen=True)
class StatusWrite:
    at: float
    identity: str
    scaler: str
    conditions: tuple[tuple[str, str, str], ...]  # (type, status, reason)
    recommendations: tuple[tuple[float, int], ...]


class Recorder:
    """The emulator listener: the write log of one namespace, read under the store's lock."""

    def __init__(self, api: ApiServer, namespace: str, replicas: dict[str, int]):
        self.api, self.namespace = api, namespace
        self.replicas = dict(replicas)  # target -> last known spec.replicas (only controllers change it)
        self.writes: list[Write] = []
        self.patches: list[ScalePatch] = []
        self.statuses: list[StatusWrite] = []
        self.renewals: dict[str, list[float]] = {}  # identity -> times its Lease writes succeeded
        self.active = True

    def __call__(self, r: RequestRecord, at: float) -> None:
        if not self.active or r.namespace != self.namespace or r.verb not in ("create", "update", "patch", "delete"):
            return
        if not r.user_agent.startswith("gpu-autoscaler/"):
            return
        identity = r.user_agent.split("/", 1)[1]
        if r.resource == "leases":
            if 200 <= r.status < 300:
                self.renewals.setdefault(identity, []).append(at)
            return
        lease = self.api.lease(self.namespace, LEASE) or {}
        holder = str((lease.get("spec") or {}).get("holderIdentity") or "")
        self.writes.append(Write(at, identity, r.verb, r.resource, r.subresource, r.name, r.status, holder))
        if not 200 <= r.status < 300:
            return
        if r.subresource == "scale":
            dep = self.api.deployment(self.namespace, r.name)
            if dep is not None:
                after = int(dep["spec"]["replicas"])
                before = self.replicas.get(r.name, after)
                self.replicas[r.name] = after
                self.patches.append(ScalePatch(at, identity, r.name, before, after))
        elif r.resource == "gpuscalers" and r.subresource == "status":
            obj = self.api.gpuscaler(self.namespace, r.name) or {}
            status = obj.get("status") or {}
            conds = tuple((str(c.get("type")), str(c.get("status")), str(c.get("reason")))
                          for c in status.get("conditions") or ())
            recs = tuple((_parse_time(x["timestamp"]), int(x["replicas"]))
                         for x in (status.get("memory") or {}).get("recommendations") or ()
                         if isinstance(x, dict) and "timestamp" in x)
            self.statuses.append(StatusWrite(at, identity, r.name, conds, recs))


def _parse_time(value: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class World:
    """The shared part of a campaign: emulator, exposition, Prometheus, proxy, pods."""

    def __init__(self) -> None:
        self.api = ApiServer().start()
        self.exposition = Exposition().start()
        self.prometheus = PrometheusServer([ScrapeJob("campaign", [self.exposition.target], scrape_interval="500ms")])
        self.pods = Pods(self.api, self.exposition)
        self.prometheus.start()
        self.proxy = PromProxy(self.prometheus.url)
        self.wait_fresh(30)

    def wait_fresh(self, timeout: float) -> float:
        """Wait until Prometheus holds a heartbeat sample newer than now; returns that sample's
        time (when fresh data was back: a poll may see it before this call notices)."""
        since = time.time()
        rows = self.prometheus.wait_for(f"timestamp({HEARTBEAT}) > {since:.3f}", timeout=timeout)
        return min(float(r["value"][1]) for r in rows)

    def restart_prometheus(self) -> float:
        """Start a stopped Prometheus and wait until it has fresh samples (its SD waits ~5 s)."""
        self.prometheus.start()
        return self.wait_fresh(30)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.proxy.stop()
        self.pods.stop()
        self.prometheus.cleanup()
        self.exposition.stop()
        self.api.stop()


def rss_kib(pid: int) -> int | None:
    """VmRSS of ``pid`` in KiB (None once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def holder(api: ApiServer, namespace: str) -> str:
    lease: Any = api.lease(namespace, LEASE) or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")
