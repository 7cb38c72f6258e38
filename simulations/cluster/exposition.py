"""A real HTTP target for a real Prometheus to scrape, whose series the test sets.

Why not prometheus_client here: the cases under test need what a client library will
not emit on purpose — explicit sample timestamps (a value frozen in the past), ``NaN``
and ``+Inf`` — and full control of when a series appears or disappears. The text
format is simple enough to write directly.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _escape(label_value: str) -> str:
    """The text format's label-value escaping: backslash, double quote, newline."""
    return label_value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _QuietServer(ThreadingHTTPServer):
    """A scraper that times out and hangs up is routine here (a slow Prometheus in the
    fault campaign): no traceback for that; anything else still prints one."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Exposition:
    """Series keyed by (metric, sorted labels) -> (value, timestamp seconds or None)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, float | None]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def set(self, metric: str, labels: Mapping[str, str], value: float, timestamp: float | None = None) -> None:
        with self._lock:
            self._series[(metric, tuple(sorted(labels.items())))] = (value, timestamp)

    def remove(self, metric: str, labels: Mapping[str, str]) -> None:
        with self._lock:
            self._series.pop((metric, tuple(sorted(labels.items()))), None)

    def clear(self) -> None:
        with self._lock:
            self._series.clear()

    def render(self) -> bytes:
        with self._lock:
            items = sorted(self._series.items())
        lines = []
        for (metric, labels), (value, ts) in items:
            lab = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            stamp = "" if ts is None else f" {int(ts * 1000)}"
            lines.append(f"{metric}{{{lab}}} {_fmt(value)}{stamp}")
        return ("\n".join(lines) + "\n").encode()

    def start(self) -> Exposition:
        exposition = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exposition.render()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
