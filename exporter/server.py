"""HTTP: ``/metrics`` (Prometheus text) and ``/healthz`` (200 ``ok`` or 503 with the
reason), for GET and HEAD. Exposition is prometheus_client's; this module only serves it.

Each connection runs on its own thread and reads the current snapshot, so a slow client
or a scrape never waits on NVML or a model server.

The port is open on every interface of every GPU node (``0.0.0.0:9400`` in the
DaemonSet), so what a client can hold is bounded (:class:`HttpLimits`):

- at most ``max_connections`` connections (64) are served at once, one thread each; one
  more is answered ``503`` and closed at once, so 200 idle sockets hold 64 threads, not
  200, and a scrape gets a quick answer instead of a hang;
- a connection has ``idle_timeout_s`` (60 s) from its opening, and again from each answer,
  to send its next complete request; past that the server hangs up. The limit is on the
  whole request, not per byte, so a client trickling a byte a second is cut at 60 s too.
  60 s is longer than the usual 15 s or 30 s scrape interval, so Prometheus's keep-alive
  connection is reused between scrapes.

Logging: a client that hangs up or times out is the client's business and logs nothing
above DEBUG; a request that fails on our side (say a collector raises) is answered 500
and logged as one ERROR line.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from exporter.errors import ConfigError
from exporter.listen import AdoptedServer, listening_socket, parse_address

log = logging.getLogger("exporter")

_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str = "ok"


@dataclass(frozen=True)
class HttpLimits:
    """What one client may hold of the server (see the module docstring for why)."""

    max_connections: int = 64
    """Connections served at once; one more is answered 503 and closed."""

    idle_timeout_s: float = 60.0
    """Seconds a connection has, from its opening and again from each answer, to send a
    complete request; then the server hangs up."""


def parse_listen(text: str, option: str = "--listen") -> tuple[str, int]:
    """``0.0.0.0:9400`` -> ("0.0.0.0", 9400); ``[::]:9400`` -> ("::", 9400);
    ``:9400`` -> ("0.0.0.0", 9400). Raises :class:`ConfigError` naming ``option``."""
    try:
        host, port = parse_address(text)
    except ValueError as e:
        raise ConfigError(f"{option} {text!r}: {e}") from None
    if port == 0:
        raise ConfigError(f"{option} {text!r}: expected host:port with a port 1..65535")
    return host or "0.0.0.0", port


_REFUSAL_LOG_PERIOD_S = 60.0
_BUSY = b"busy: too many connections, try again\n"
_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s" % (len(_BUSY), _BUSY)
)


class _Server(AdoptedServer):
    """Threading HTTP server with a connection cap and a per-connection deadline.

    ``_deadlines`` holds each served connection's deadline; :meth:`service_actions` (run
    by ``serve_forever`` every poll) shuts down the sockets past theirs, which ends the
    handler's blocked read. Entries leave under ``_lock`` before a socket is closed, so
    the reaper never shuts down a closed socket's reused descriptor.
    """

    def __init__(self, sock: socket.socket, handler: type[BaseHTTPRequestHandler], limits: HttpLimits) -> None:
        super().__init__(sock, handler)
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._lock = threading.Lock()
        self._deadlines: dict[socket.socket, float] = {}
        self._refused = 0
        self._refused_logged_at: float | None = None
        self._count = 0

    # -- connection cap ------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        with self._lock:
            self._deadlines[request] = time.monotonic() + self.limits.idle_timeout_s
            self._count += 1
            name = f"gpu-exporter-http-{self._count}"
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address), name=name)
        thread.daemon = True
        try:
            thread.start()
        except BaseException:
            self._release(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def _release(self, request: Any) -> None:
        with self._lock:
            self._deadlines.pop(request, None)
        self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """503 and close. Logged at most once a minute, with the count since the last line,
        so a client hammering a full server costs a line a minute, not a line a connection."""
        now = time.monotonic()
        with self._lock:
            self._refused += 1
            if self._refused_logged_at is None or now - self._refused_logged_at >= _REFUSAL_LOG_PERIOD_S:
                log.warning(
                    "HTTP: at the limit of %d connections, answering 503; %d refused since this line was last logged",
                    self.limits.max_connections,
                    self._refused,
                )
                self._refused, self._refused_logged_at = 0, now
        try:
            request.setblocking(False)  # the answer fits the send buffer; never wait on this client
            request.send(_BUSY_RESPONSE)
        except OSError:
            pass
        self.shutdown_request(request)

    # -- idle deadline -------------------------------------------------------------

    def renew(self, request: socket.socket) -> None:
        """Called after each answer: the next request has ``idle_timeout_s`` from now."""
        with self._lock:
            if request in self._deadlines:
                self._deadlines[request] = time.monotonic() + self.limits.idle_timeout_s

    def service_actions(self) -> None:
        now = time.monotonic()
        with self._lock:
            for request in [r for r, deadline in self._deadlines.items() if deadline <= now]:
                del self._deadlines[request]
                try:
                    request.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._deadlines.pop(request, None)
        super().shutdown_request(request)

    # -- errors --------------------------------------------------------------------

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, never a traceback: a client that hangs up or stalls is DEBUG."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("HTTP: client %s went away: %s", client_address, exc)
        else:
            log.error("HTTP: request from %s failed: %s: %s", client_address, type(exc).__name__, exc)


class MetricsServer:
    """Serves a registry and a health check on ``host:port`` (port 0: any free port)."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        health: Callable[[], Health],
        limits: HttpLimits | None = None,
    ) -> None:
        self._registry = registry
        self._health = health
        self.limits = limits or HttpLimits()
        sock = listening_socket(host, port)
        try:
            self._httpd = _Server(sock, self._handler(), self.limits)
        except BaseException:
            sock.close()
            raise
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._failure: str | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def failure(self) -> str | None:
        """Why the serving thread ended on its own; None while it serves (or was stopped)."""
        if self._failure is None and self._thread is not None and not self._thread.is_alive() and not self._stopping:
            return "HTTP server thread ended"
        return self._failure

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry, health, limits = self._registry, self._health, self.limits

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "gpu-exporter"
            timeout = limits.idle_timeout_s  # per read or write; the reaper bounds the whole request
            server: _Server

            def handle_one_request(self) -> None:
                super().handle_one_request()
                self.server.renew(self.connection)

            def do_GET(self) -> None:
                self._answer(send_body=True)

            def do_HEAD(self) -> None:
                self._answer(send_body=False)

            def _answer(self, *, send_body: bool) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/metrics":
                        status, content_type, body = 200, CONTENT_TYPE_LATEST, generate_latest(registry)
                    elif path == "/healthz":
                        h = health()
                        status, content_type, body = 200 if h.ok else 503, _TEXT, (h.reason + "\n").encode()
                    else:
                        status, content_type, body = 404, _TEXT, b"not found: try /metrics or /healthz\n"
                except Exception as exc:  # our bug, not the client's: answer it and say it once
                    log.error("%s %s failed: %s: %s", self.command, path, type(exc).__name__, exc)
                    status, content_type, body = 500, _TEXT, b"internal error; see the exporter's log\n"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per scrape would drown the log that matters

        return Handler

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="gpu-exporter-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._httpd.serve_forever(poll_interval=0.2)  # also the reaper's period
        except BaseException as exc:  # never die quietly: the exporter's health and CLI read this
            self._failure = f"HTTP server thread died: {type(exc).__name__}: {exc}"
            log.error("%s", self._failure)

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:
            self._httpd.shutdown()  # waits for serve_forever to return, so only once started
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
