"""``gpu-autoscaler run``: build the real adapters, elect a leader, run the loop, serve HTTP.

What runs, in threads of one process:

- a GPUScaler watch feeding :class:`~autoscaler.kube.scalers.ScalerCache`, a pod watch
  feeding :class:`~autoscaler.kube.podcache.PodCache` and, with ``watch_scale_targets``,
  Deployment and StatefulSet watches feeding
  :class:`~autoscaler.kube.scale.ScaleTargetCache` (every replica, leader or not, so a
  standby that takes over has its picture already), all one generic informer;
- leader election on a Lease (``autoscaler.kube.leader``); while leading, the
  :class:`~autoscaler.loop.ControlLoop` ticks; on losing the lease the loop stops, its
  in-flight reconciles are waited for (no PATCH of ours after the successor starts),
  and its in-process state is dropped, so a later term starts from the status memory;
- one HTTP server for ``/metrics``, ``/healthz`` and ``/readyz``. ``/readyz`` does not
  depend on leadership (deploy/controller says why: the standby must be Ready or the
  PodDisruptionBudget blocks every drain); it turns 200 once the first GPUScaler list
  succeeded. ``/healthz`` fails when a leader's loop has not ticked for a while.

SIGTERM (handled by the CLI) sets ``stop``: the loop stops, the lease is released (the
successor takes over within one retry period, ~2 s, instead of a lease duration, 15 s)
and :func:`run_controller` returns 0.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from autoscaler.kube.client import ClientSettings, KubeClient, connect
from autoscaler.kube.events import KubeEventSink
from autoscaler.kube.leader import LeaderElectionSettings, LeaderElector, default_identity
from autoscaler.kube.podcache import PodCache
from autoscaler.kube.scale import KubeScaleClient, ScaleTargetCache
from autoscaler.kube.scalers import KubeScalerStore, ScalerCache
from autoscaler.loop import ControlLoop, LoopSettings
from autoscaler.sources.prometheus import PrometheusSettings, PrometheusSource
from autoscaler.sources.signals import series_for
from autoscaler.telemetry import Telemetry
from exporter.listen import bind
from exporter.listen import parse_address as parse_address  # re-exported: the CLI checks --metrics-address with it

log = logging.getLogger("autoscaler.controller")


@dataclass(frozen=True)
class ControllerSettings:
    """Everything ``gpu-autoscaler run`` takes; validated by the CLI before we get here."""

    prometheus_url: str
    kubeconfig: str | None = None
    leader_elect: bool = True
    leader_election_namespace: str = field(default_factory=lambda: os.environ.get("POD_NAMESPACE", "gpu-autoscaler"))
    leader_election_id: str = "gpu-autoscaler"
    #: Seconds: client-go's defaults (15 / 10 / 2); tests shorten them.
    lease_duration: int = 15
    renew_deadline: int = 10
    retry_period: int = 2
    metrics_address: str = ":8080"
    namespaces: tuple[str, ...] | None = None
    dry_run: bool = False
    signal_source: str = "ours"
    workers: int = 16
    tick_seconds: float = 1.0
    prometheus_timeout: float = 5.0
    #: Read Deployments' and StatefulSets' scale from a watch of them rather than a GET of
    #: ``/scale`` per poll (``ScaleTargetCache``; deploy/rbac grants list+watch on them).
    watch_scale_targets: bool = True
    #: Write ``status.memory`` compact, so a steady scaler writes no status (issue 12); a new
    #: leader then holds the newest recommendation until it took over (kube/status.py).
    compact_status: bool = True
    identity: str = field(default_factory=default_identity)


class HttpEndpoints:
    """``/metrics``, ``/healthz`` and ``/readyz`` on one port. The address (``:8080``,
    ``127.0.0.1:0``, ``[::1]:9000``) is parsed and bound by :mod:`exporter.listen`, as the
    exporter's is: ``:PORT`` listens on IPv6 and IPv4 together."""

    def __init__(self, address: str, telemetry: Telemetry, healthy: Callable[[], bool], ready: Callable[[], bool]):
        host, port = parse_address(address)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, telemetry.exposition(), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/livez"):
                    ok = healthy()
                    self._send(200 if ok else 503, b"ok\n" if ok else b"loop stalled\n")
                elif path == "/readyz":
                    ok = ready()
                    self._send(200 if ok else 503, b"ok\n" if ok else b"not ready\n")
                else:
                    self._send(404, b"not found\n")

            def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = bind(host, port, Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Controller:
    """The wired controller. ``start`` returns at once; ``stop`` undoes it in order."""

    def __init__(self, settings: ControllerSettings, client: KubeClient):
        self.settings = settings
        self.client = client
        self.telemetry = Telemetry()
        self.telemetry.leader.set(0)
        self.source = PrometheusSource(
            PrometheusSettings(settings.prometheus_url, timeout_seconds=settings.prometheus_timeout),
            series_for(settings.signal_source),
        )
        self.cache = ScalerCache(KubeScalerStore(client, compact_memory=settings.compact_status), settings.namespaces)
        self.pods = PodCache(client, settings.namespaces)
        self.targets = ScaleTargetCache(client, settings.namespaces) if settings.watch_scale_targets else None
        self.loop = ControlLoop(
            scalers=self.cache,
            scales=self.targets or KubeScaleClient(client),
            pods=self.pods,
            events=KubeEventSink(
                client, instance=settings.identity, on_error=lambda e: self.telemetry.errors.labels("emit_event").inc()
            ),
            metrics=self.source,
            telemetry=self.telemetry,
            settings=LoopSettings(
                namespaces=settings.namespaces,
                dry_run=settings.dry_run,
                workers=settings.workers,
                tick_seconds=settings.tick_seconds,
            ),
        )
        self.http = HttpEndpoints(settings.metrics_address, self.telemetry, self.healthy, self.cache.synced)
        self.elector: LeaderElector | None = None
        if settings.leader_elect:
            self.elector = LeaderElector(
                client,
                LeaderElectionSettings(
                    namespace=settings.leader_election_namespace,
                    lease_name=settings.leader_election_id,
                    identity=settings.identity,
                    lease_duration=settings.lease_duration,
                    renew_deadline=settings.renew_deadline,
                    retry_period=settings.retry_period,
                ),
                on_started=self._lead,
                on_stopped=self._follow,
            )
        self._term_stop: threading.Event | None = None
        self._term_thread: threading.Thread | None = None

    # -- leadership ----------------------------------------------------------------
    def _lead(self) -> None:
        log.info(
            "leading: the control loop starts",
            extra={"fields": {"identity": self.settings.identity, "dry_run": self.settings.dry_run}},
        )
        self.telemetry.leader.set(1)
        stop = threading.Event()
        self._term_stop = stop
        self._term_thread = threading.Thread(target=self.loop.run, args=(stop,), name="control-loop", daemon=True)
        self._term_thread.start()

    def _follow(self) -> None:
        if self._term_stop is not None:
            self._term_stop.set()
        if self._term_thread is not None:
            self._term_thread.join(timeout=30)
        self.loop.drain(timeout=30)
        self.loop.reset()
        self._term_stop = self._term_thread = None
        self.telemetry.leader.set(0)
        log.info("not leading: the control loop stopped", extra={"fields": {"identity": self.settings.identity}})

    def healthy(self) -> bool:
        """Live unless leading with a loop that has not ticked for 10 ticks (and 30 s)."""
        if self._term_thread is None:
            return True
        last = self.loop.last_tick
        return last is None or time.time() - last < max(30.0, 10 * self.settings.tick_seconds)

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self.http.start()
        self.cache.start()
        self.pods.start()
        if self.targets is not None:
            self.targets.start()
        if self.elector is not None:
            self.elector.start()
        else:
            self._lead()

    def stop(self) -> None:
        if self.elector is not None:
            self.elector.stop(release=True)  # calls _follow when leading
        elif self._term_thread is not None:
            self._follow()
        self.cache.stop()
        self.pods.stop()
        if self.targets is not None:
            self.targets.stop()
        self.loop.close()
        self.source.close()
        self.http.stop()
        self.client.close()


def run_controller(
    settings: ControllerSettings, stop: threading.Event, on_started: Callable[[Controller], None] | None = None
) -> int:
    """Run until ``stop`` is set; returns the exit code (0). Raises ConfigError for an
    unusable cluster configuration and OSError when the HTTP port cannot be bound."""
    # The identity in the User-Agent lets an audit log (and the tests' emulator) tell the
    # leader's requests from the standby's.
    client = connect(settings.kubeconfig, settings=ClientSettings(user_agent=f"gpu-autoscaler/{settings.identity}"))
    try:
        controller = Controller(settings, client)
    except BaseException:
        client.close()
        raise
    controller.start()
    log.info(
        "controller started",
        extra={
            "fields": {
                "identity": settings.identity,
                "metrics_port": controller.http.port,
                "dry_run": settings.dry_run,
                "signal_source": settings.signal_source,
                "namespaces": settings.namespaces or "all",
                "leader_elect": settings.leader_elect,
            }
        },
    )
    if on_started is not None:
        on_started(controller)
    try:
        stop.wait()
    finally:
        log.info("stopping")
        controller.stop()
    return 0
