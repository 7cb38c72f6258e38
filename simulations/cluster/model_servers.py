"""Fake model servers: real HTTP servers on 127.0.0.1 serving each server type's
Prometheus text, shaped like the real thing (labels, HELP/TYPE lines, histograms
around the metrics we read), plus a slow one and a garbage one.

``waiting`` and ``running`` can be changed while the server runs; ``delay_s`` holds
every response that long (a hung model server); ``status`` answers with an HTTP error.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KINDS = ("vllm", "tgi", "triton", "sglang", "custom", "garbage")
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def _histogram(name: str, labels: str, n_buckets: int) -> list[str]:
    lines = [f"# HELP {name} Histogram of something the exporter does not read.", f"# TYPE {name} histogram"]
    sep = "," if labels else ""
    for i in range(n_buckets):
        lines.append(f'{name}_bucket{{le="{0.001 * 2**i:g}"{sep}{labels}}} {i * 3}.0')
    lines += [
        f'{name}_bucket{{le="+Inf"{sep}{labels}}} {n_buckets * 3}.0',
        f"{name}_count{{{labels}}} {n_buckets * 3}.0",
        f"{name}_sum{{{labels}}} 12.5",
    ]
    return lines


def metrics_text(kind: str, waiting: float, running: float, padding: int = 20) -> str:
    """The metrics body of a ``kind`` server with ``waiting`` queued and ``running``
    in-flight requests; ``padding`` histograms of 16 buckets around them (a real vLLM
    endpoint has a few dozen such families)."""
    pad: list[str] = []
    if kind == "vllm":
        ml = f'model_name="{MODEL}"'
        for i in range(padding):
            pad += _histogram(f"vllm:request_latency_{i}_seconds", ml, 16)
        body = [
            "# HELP vllm:num_requests_running Number of requests currently running on GPU.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{ml}}} {running:.1f}",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{{{ml}}} {waiting:.1f}",
            "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.",
            "# TYPE vllm:gpu_cache_usage_perc gauge",
            f"vllm:gpu_cache_usage_perc{{{ml}}} 0.42",
        ]
    elif kind == "tgi":
        for i in range(padding):
            pad += _histogram(f"tgi_request_part_{i}_duration", "", 16)
        body = [
            "# TYPE tgi_queue_size gauge",
            f"tgi_queue_size {waiting:g}",
            "# TYPE tgi_batch_current_size gauge",
            f"tgi_batch_current_size {running:g}",
            "# TYPE tgi_batch_current_max_tokens gauge",
            "tgi_batch_current_max_tokens 4096",
        ]
    elif kind == "triton":
        # Two models share the queue: the pod's depth is their sum (waiting split 2:1).
        a, b = waiting - waiting // 3, waiting // 3
        for i in range(padding):
            pad += _histogram(f"nv_inference_part_{i}_us", 'model="resnet",version="1"', 16)
        body = [
            "# HELP nv_inference_request_success Number of successful inference requests, all batch sizes",
            "# TYPE nv_inference_request_success counter",
            'nv_inference_request_success{model="resnet",version="1"} 1200',
            "# HELP nv_inference_pending_request_count Instantaneous number of pending requests awaiting execution "
            "per-model.",
            "# TYPE nv_inference_pending_request_count gauge",
            f'nv_inference_pending_request_count{{model="resnet",version="1"}} {a:g}',
            f'nv_inference_pending_request_count{{model="bert",version="1"}} {b:g}',
        ]
    elif kind == "sglang":
        ml = f'model_name="{MODEL}"'
        for i in range(padding):
            pad += _histogram(f"sglang:part_{i}_seconds", ml, 16)
        body = [
            "# HELP sglang:num_running_reqs The number of running requests.",
            "# TYPE sglang:num_running_reqs gauge",
            f"sglang:num_running_reqs{{{ml}}} {running:.1f}",
            "# HELP sglang:num_queue_reqs The number of requests in the waiting queue.",
            "# TYPE sglang:num_queue_reqs gauge",
            f"sglang:num_queue_reqs{{{ml}}} {waiting:.1f}",
        ]
    elif kind == "custom":
        # my_app_pending_requests_bucket must not be taken for my_app_pending_requests.
        pad += _histogram("my_app_pending_requests_wait_seconds", "", 8)
        body = [
            "# TYPE my_app_pending_requests gauge",
            f"my_app_pending_requests {waiting:g}",
            "# TYPE my_app_pending_requests_bucket gauge",
            "my_app_pending_requests_bucket 999",
        ]
    elif kind == "garbage":
        return '<html><body>Internal dashboard</body></html>\nvllm:num_requests_waiting{model_name="x" 3 oops\n'
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return "\n".join(pad + body) + "\n"


class ModelServer:
    """One fake model server on ``127.0.0.1:<free port>``; ``url`` is its metrics URL."""

    def __init__(
        self,
        kind: str,
        *,
        waiting: float = 0,
        running: float = 0,
        delay_s: float = 0.0,
        status: int = 200,
        path: str = "/metrics",
        padding: int = 20,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self.kind = kind
        self.waiting = waiting
        self.running = running
        self.delay_s = delay_s
        self.status = status
        self.path = path
        self.padding = padding
        self.requests = 0
        #: ``(time.time(), waiting)`` of the last answers served: when a reader (the
        #: exporter) saw a queue change, for the reaction benchmark.
        self.served: deque[tuple[float, float]] = deque(maxlen=1024)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def body(self, waiting: float | None = None) -> bytes:
        waiting = self.waiting if waiting is None else waiting
        return metrics_text(self.kind, waiting, self.running, self.padding).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                if server.delay_s:
                    time.sleep(server.delay_s)
                if self.path.split("?", 1)[0] != server.path:
                    self.send_error(404)
                    return
                if server.status != 200:
                    self.send_error(server.status)
                    return
                served_at, waiting = time.time(), server.waiting
                payload = server.body(waiting)
                server.served.append((served_at, waiting))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (a slow-server test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> ModelServer:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        httpd.daemon_threads = True
        httpd.block_on_close = False  # do not wait on a deliberately slow handler
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
