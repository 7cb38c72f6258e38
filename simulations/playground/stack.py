"""The parts of the playground's cluster, started on 127.0.0.1 and stopped in reverse.

In process (threads): the API emulator, the model servers and the exporter on a fake
NVML. Child processes: Prometheus and ``gpu-autoscaler run``, each in its own session
so a terminal's Ctrl-C reaches only the playground, which then stops them in order
(SIGTERM, then SIGKILL after a grace period): nothing outlives the playground.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from exporter.config import ExporterConfig
from exporter.discovery import PodDiscovery, kubernetes_pod_lister
from exporter.service import Exporter
from simulations.cluster.apiserver import ApiServer, ResourceType, wait_until
from simulations.cluster.nvml import FakeNvml, h200s
from simulations.cluster.prometheus import PrometheusServer, ScrapeJob, die_with_parent, free_port
from simulations.playground.config import NAME, NAMESPACE, Settings
from simulations.playground.fleet import NODE

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "deploy" / "crd" / "gpuscalers.gpuautoscaler.io.yaml"


class StartError(RuntimeError):
    """A part did not come up; the message says which and ends with its log."""


def write_kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f'clusters: [{{name: playground, cluster: {{server: "{server}"}}}}]\n'
        "users: [{name: playground, user: {token: playground}}]\n"
        "contexts: [{name: playground, context: {cluster: playground, user: playground, "
        f"namespace: {NAMESPACE}}}}}]\n"
        "current-context: playground\n"
    )
    return path


class Controller:
    """``gpu-autoscaler run`` as a child process in its own session, its log in a file."""

    def __init__(self, tmp: Path, kubeconfig: Path, prometheus_url: str, port: int) -> None:
        self.port = port
        self.log_path = tmp / "controller.log"
        self.args = [
            sys.executable,
            "-c",
            "from autoscaler.cli import main; main()",
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--prometheus-url",
            prometheus_url,
            "--namespace",
            NAMESPACE,
            "--no-leader-elect",
            "--workers",
            "1",
            "--metrics-address",
            f"127.0.0.1:{self.port}",
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Controller:
        path = os.environ.get("PYTHONPATH", "")
        env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{path}" if path else str(REPO))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise StartError(f"the controller exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, grace: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class Stack:
    """Start with :meth:`start` (which stops what it started if a part fails); :meth:`stop` is idempotent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tmp = Path(tempfile.mkdtemp(prefix="gpu-autoscaler-playground-"))
        self.api = ApiServer()
        self.gpus = h200s(settings.max_replicas + 4, prefix="GPU-5eed0000-0000-0000-0000-0000000000")
        self.nvml = FakeNvml(self.gpus)
        self.kubeconfig = self.tmp / "kubeconfig"
        self.exporter: Exporter | None = None
        self.prometheus: PrometheusServer | None = None
        self.controller: Controller | None = None
        self._stops: list[Callable[[], None]] = []

    def start_cluster(self, initial_replicas: int) -> None:
        """The emulator with the namespace, the CRD and the Deployment (the GPUScaler comes at the
        trace's first poll: :meth:`add_scaler`)."""
        self.api.start()
        self._stops.append(self.api.stop)
        write_kubeconfig(self.kubeconfig, self.api.url)
        self.api.register_type(ResourceType("", "v1", "namespaces", "Namespace"), namespaced=False)
        self.api.create(
            "", "namespaces", {"metadata": {"name": NAMESPACE, "namespace": ""}, "status": {"phase": "Active"}}
        )
        if CRD.exists():
            self.api.add_crd(yaml.safe_load(CRD.read_text()))
        self.api.add_deployment(NAMESPACE, NAME, initial_replicas)

    def add_scaler(self) -> None:
        self.api.add_gpuscaler(self.settings.scaler())

    def start_pipeline(self) -> None:
        """The exporter, Prometheus and the controller."""
        s = self.settings
        config = ExporterConfig(
            listen_host="127.0.0.1",
            listen_port=0,
            interval_s=s.exporter_s,
            node=NODE,
            kubelet_socket=None,
            target_timeout_s=0.5,
        )
        discovery = PodDiscovery(kubernetes_pod_lister(NODE, kubeconfig=str(self.kubeconfig)), refresh_s=0.5)
        self.exporter = Exporter(config, nvml_lib=self.nvml, target_source=discovery)
        self.exporter.start()
        self._stops.append(self.exporter.stop)
        host, port = self.exporter.server.address
        controller_port = free_port()
        scrape = f"{round(s.scrape_s * 1000)}ms"
        self.prometheus = PrometheusServer(
            [
                ScrapeJob("gpu-exporter", [f"{host}:{port}"], scrape_interval=scrape),
                ScrapeJob("gpu-autoscaler", [f"127.0.0.1:{controller_port}"], scrape_interval=scrape),
            ],
            die_with_parent=True,
        )
        self._stops.append(self.prometheus.cleanup)
        self.prometheus.start()
        self.controller = Controller(self.tmp, self.kubeconfig, self.prometheus.url, controller_port)
        self._stops.append(self.controller.stop)
        self.controller.start()

    def wait(self, what: str, predicate: Callable[[], Any], timeout: float) -> Any:
        def log() -> str:
            return "\n--- controller log ---\n" + (self.controller.log_tail() if self.controller else "")

        return wait_until(predicate, timeout, 0.1, what=what, detail=log, error=StartError)

    def queue_seen(self) -> bool:
        assert self.prometheus is not None
        with contextlib.suppress(OSError, RuntimeError):
            return bool(self.prometheus.query(f'inference_queue_depth{{namespace="{NAMESPACE}"}}'))
        return False

    def stop(self) -> None:
        """Stop everything started, last first; never raises."""
        while self._stops:
            stop = self._stops.pop()
            with contextlib.suppress(Exception):
                stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
