"""End-to-end harness: the whole chain on 127.0.0.1, every hop over real HTTP.

    model servers (tests/fakes/model_servers.py, one per pod, queue driven by the test)
        -> gpu-exporter (in-process, faked NVML, discovers the pods through the emulator)
        -> Prometheus (Debian's binary, scraping the exporter every second)
        -> gpu-autoscaler run (a real subprocess, official client over HTTP)
        -> API emulator (tests/fakes/apiserver.py): Deployments, /scale, GPUScalers, Leases, Events

:class:`Workloads` plays the parts of a cluster nobody here runs: the Deployment
controller (pods follow ``spec.replicas``) and the kubelet (each pod is a real model
server, Ready at once, annotated so the exporter finds it). The test drives the load:
a Deployment's total queue is split evenly over its pods, as a load balancer would.
"""
from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulations.cluster.apiserver import ApiServer, now_rfc3339
from simulations.cluster.apiserver import wait_until as poll_until
from simulations.cluster.model_servers import ModelServer
from simulations.cluster.prometheus import free_port

NODE = "gpu-node-1"
REPO = Path(__file__).resolve().parents[2]
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' alphabet for generated name parts


def write_kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f'clusters: [{{name: emulator, cluster: {{server: "{server}"}}}}]\n'
        "users: [{name: test, user: {token: test-token}}]\n"
        "contexts: [{name: test, context: {cluster: emulator, user: test}}]\n"
        "current-context: test\n")
    return path


def scaler_doc(namespace: str, name: str, *, target: str | None = None, interval: int = 1,
               **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target or name},
        "maxReplicas": 10, "pollingIntervalSeconds": interval, "startupSeconds": 0,
        "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}}],
    }
    body.update(spec)
    return {"apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
            "metadata": {"name": name, "namespace": namespace}, "spec": body}


@dataclass
class _Workload:
    namespace: str
    name: str
    load: float = 0.0
    hash: str = field(default_factory=lambda: "".join(random.choices(_SAFE, k=9)))
    pods: dict[str, ModelServer] = field(default_factory=dict)


class Workloads:
    """Pods follow each Deployment's ``spec.replicas``; each pod is a live vLLM-shaped server."""

    def __init__(self, api: ApiServer, period: float = 0.1):
        self.api = api
        self.period = period
        self._workloads: dict[tuple[str, str], _Workload] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workloads", daemon=True)

    def start(self) -> Workloads:
        self._thread.start()
        return self

    def add(self, namespace: str, name: str, replicas: int, load: float = 0.0) -> None:
        self.api.add_deployment(namespace, name, replicas)
        with self._lock:
            self._workloads[(namespace, name)] = _Workload(namespace, name, load)
        self.reconcile()

    def set_load(self, namespace: str, name: str, total: float) -> None:
        with self._lock:
            self._workloads[(namespace, name)].load = total
            self._spread(self._workloads[(namespace, name)])

    def pods(self, namespace: str, name: str) -> list[str]:
        with self._lock:
            return sorted(self._workloads[(namespace, name)].pods)

    def _spread(self, w: _Workload) -> None:
        for server in w.pods.values():
            server.waiting = w.load / len(w.pods)

    def reconcile(self) -> None:
        with self._lock:
            workloads = list(self._workloads.values())
        for w in workloads:
            dep = self.api.deployment(w.namespace, w.name)
            if dep is None:
                continue
            want = int(dep["spec"]["replicas"])
            with self._lock:
                while len(w.pods) < want:
                    self._add_pod(w)
                while len(w.pods) > want:
                    self._remove_pod(w, max(w.pods))
                self._spread(w)

    def _add_pod(self, w: _Workload) -> None:
        name = f"{w.name}-{w.hash}-{''.join(random.choices(_SAFE, k=5))}"
        server = ModelServer("vllm", padding=0)
        server.start()
        port = str(server.port)
        self.api.create("", "pods", {
            "metadata": {"name": name, "namespace": w.namespace, "labels": {"app": w.name},
                         "annotations": {"gpuautoscaler.io/queue-metric": "vllm",
                                         "gpuautoscaler.io/metrics-port": port}},
            "spec": {"containers": [{"name": "server", "image": "vllm:1"}], "nodeName": NODE},
            "status": {"phase": "Running", "podIP": "127.0.0.1", "startTime": now_rfc3339(),
                       "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now_rfc3339()}]}})
        w.pods[name] = server

    def _remove_pod(self, w: _Workload, name: str) -> None:
        self.api.delete("", "pods", w.namespace, name)
        w.pods.pop(name).stop()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            with contextlib.suppress(Exception):  # the emulator may be down in an outage test
                self.reconcile()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            for w in self._workloads.values():
                for server in w.pods.values():
                    server.stop()
                w.pods.clear()


class ControllerProcess:
    """``gpu-autoscaler run`` as a child process, logs in a file."""

    def __init__(self, tmp: Path, kubeconfig: Path, prometheus_url: str, namespace: str, *,
                 identity: str, extra: tuple[str, ...] = ()):
        self.identity = identity
        self.port = free_port()
        self.log_path = tmp / f"controller-{identity}.log"
        self.args = [sys.executable, "-c", "from autoscaler.cli import main; main()", "run",
                     "--kubeconfig", str(kubeconfig), "--prometheus-url", prometheus_url,
                     "--namespace", namespace, "--leader-election-namespace", namespace,
                     "--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
                     "--leader-elect-retry-period", "1", "--leader-election-identity", identity,
                     "--metrics-address", f"127.0.0.1:{self.port}", *extra]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ControllerProcess:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        return self

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return 0, ""

    def wait_ready(self, timeout: float = 20) -> None:
        wait_until(lambda: self.get("/readyz")[0] == 200, timeout, f"controller {self.identity} ready", self)

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        from prometheus_client.parser import text_string_to_metric_families
        code, text = self.get("/metrics")
        if code != 200:
            return None
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                    return float(s.value)
        return None

    def terminate(self, timeout: float = 15) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -signal.SIGKILL

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=5)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               process: ControllerProcess | None = None, interval: float = 0.05) -> Any:
    """The emulator's poll, with the controller's log on a timeout."""
    detail = (lambda: f"\n--- controller log ---\n{process.log_tail()}") if process is not None else None
    return poll_until(predicate, timeout, interval, what=what, detail=detail)


def condition(api: ApiServer, namespace: str, name: str, type_: str) -> Mapping[str, Any] | None:
    obj = api.gpuscaler(namespace, name) or {}
    return next((c for c in obj.get("status", {}).get("conditions", ()) if c.get("type") == type_), None)


def replicas(api: ApiServer, namespace: str, name: str) -> int:
    dep = api.deployment(namespace, name)
    assert dep is not None
    return int(dep["spec"]["replicas"])


def events(api: ApiServer, namespace: str, reason: str | None = None) -> list[dict[str, Any]]:
    return [e for e in api.events(namespace) if reason is None or e.get("reason") == reason]
