"""A real Prometheus server (Debian's package) for tests, on a free loopback port.

Why a real one: the query semantics we rely on (staleness, label matching, PromQL
parse errors) are Prometheus's, not ours, so a fake would only test our guesses.
Start-up facts (../shared/reference/toolchain-facts.md §2): ``/-/ready`` answers in
~0.1 s, but the first scraped sample appears only after ~5-6 s because service
discovery throttles its updates to one per 5 s; so callers poll with
:meth:`PrometheusServer.wait_for` rather than sleep.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bind to 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ScrapeJob:
    """One scrape job: a name, ``host:port`` targets, and an optional metrics path."""

    name: str
    targets: list[str]
    metrics_path: str = "/metrics"
    scrape_interval: str = "1s"
    labels: dict[str, str] = field(default_factory=dict)


class PrometheusServer:
    """A prometheus child process with a temporary data folder.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. The scrape
    configuration can be changed while it runs with :meth:`set_jobs` (lifecycle reload).
    """

    def __init__(
        self,
        jobs: list[ScrapeJob] | None = None,
        *,
        extra_args: list[str] | None = None,
        query_log: bool = False,
        die_with_parent: bool = False,
    ):
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed: run `make test`, which installs Debian's package")
        self.binary = binary
        self.jobs = list(jobs or [])
        self.extra_args = list(extra_args or [])
        self.die_with_parent = die_with_parent  # SIGTERM from the kernel if this process dies (Linux)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="prom-test-"))
        self._config = self._dir / "prometheus.yml"
        self._log = self._dir / "prometheus.log"
        #: With ``query_log``, every query as a JSON line (Prometheus's ``query_log_file``):
        #: ``params.start`` is when it was evaluated, ``ts`` when it finished.
        self.query_log = self._dir / "queries.log" if query_log else None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- configuration -------------------------------------------------------
    def _write_config(self) -> None:
        scrape_configs: list[dict[str, Any]] = []
        for job in self.jobs:
            static: dict[str, Any] = {"targets": job.targets}
            if job.labels:
                static["labels"] = job.labels
            scrape_configs.append(
                {
                    "job_name": job.name,
                    "scrape_interval": job.scrape_interval,
                    "scrape_timeout": job.scrape_interval,
                    "metrics_path": job.metrics_path,
                    "static_configs": [static],
                }
            )
        global_config: dict[str, Any] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        if self.query_log is not None:
            global_config["query_log_file"] = str(self.query_log)
        config = {"global": global_config, "scrape_configs": scrape_configs}
        # JSON is valid YAML; no YAML writer needed here.
        self._config.write_text(json.dumps(config, indent=1))

    def set_jobs(self, jobs: list[ScrapeJob]) -> None:
        """Replace the scrape jobs and reload the running server."""
        self.jobs = list(jobs)
        self._write_config()
        if self._proc is not None:
            req = urllib.request.Request(self.url + "/-/reload", method="POST")
            urllib.request.urlopen(req, timeout=5).read()

    # -- lifecycle -----------------------------------------------------------
    def start(self, timeout: float = 20.0) -> PrometheusServer:
        self._write_config()
        data = self._dir / "data"
        data.mkdir(exist_ok=True)
        args = [
            self.binary,
            f"--config.file={self._config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--web.enable-remote-write-receiver",
            *self.extra_args,
        ]
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent if self.die_with_parent else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"prometheus exited at start:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"prometheus not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def restart(self, timeout: float = 20.0) -> None:
        """Stop and start again on the same port and data folder (an outage and recovery)."""
        self.stop()
        self.start(timeout=timeout)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's process id once started, also after it stopped (a benchmark reads its
        CPU time while it runs; the playground's test checks that it is gone)."""
        return self._proc.pid if self._proc is not None else None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # -- queries -------------------------------------------------------------
    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query; returns ``data.result`` (raises on an API error)."""
        qs = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{qs}", timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(f"query {promql!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, promql: str, timeout: float = 30.0, predicate: Any = None) -> list[dict[str, Any]]:
        """Poll an instant query until it returns a non-empty result (and ``predicate(result)``)."""
        deadline = time.monotonic() + timeout
        last: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                last = self.query(promql)
            except OSError:
                last = []
            if last and (predicate is None or predicate(last)):
                return last
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout}s waiting for {promql!r}; last result {last}")

    def targets_up(self) -> dict[str, float]:
        """``instance -> up`` for every scrape target."""
        return {r["metric"].get("instance", ""): float(r["value"][1]) for r in self.query("up")}


def prometheus_available() -> bool:
    return shutil.which("prometheus") is not None and os.access(shutil.which("prometheus") or "", os.X_OK)


def die_with_parent() -> None:
    """In a child between fork and exec: ask Linux for SIGTERM when the parent dies
    (``prctl(PR_SET_PDEATHSIG)``), so even a SIGKILLed parent leaves no child behind.
    Elsewhere, nothing."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
