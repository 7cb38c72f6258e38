"""Fake model servers: real HTTP servers on 127.0.0.1 serving each server type's
Prometheus text, shaped like the real thing (labels, HELP/TYPE lines, histograms
around the metrics we read), plus a slow one and a garbage one.

``waiting`` and ``running`` can be changed while the server runs; ``delay_s`` holds
every response that long (a hung model server); ``status`` answers with an HTTP error.

``work`` (a :class:`Work`) holds the token counters, KV-cache use and latency
observations; each kind renders them under that server's REAL names and types (the
table with sources is ``exporter.targets.SERVERS``): vLLM V1 counters
``vllm:prompt_tokens_total`` with ``_created`` siblings as prometheus_client writes them,
TGI's per-request token histograms, SGLang's ``sglang:token_usage``, Triton's
TensorRT-LLM ``nv_trt_llm_kv_cache_block_metrics`` family. ``vllm-v0`` is an older vLLM
that has only ``vllm:gpu_cache_usage_perc`` and no ``engine`` label.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KINDS = ("vllm", "tgi", "triton", "sglang", "custom", "garbage", "vllm-v0")
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


#: Bucket bounds as the servers declare them (seconds): vLLM V1's TTFT buckets and its
#: request-latency buckets (queue time), vllm/v1/metrics/loggers.py; SGLang's queue-time
#: buckets start at 0.0 (python/sglang/srt/metrics/collector.py); TGI's are its own.
VLLM_TTFT_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
)
VLLM_LATENCY_BUCKETS = (
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
)
SGLANG_QUEUE_BUCKETS = (0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
TGI_DURATION_BUCKETS = tuple(0.0001 * 1.5**i for i in range(1, 36))  # shaped like TGI's: x1.5 from 0.0001 s
TGI_TOKEN_BUCKETS = (1.0, 8.0, 64.0, 512.0, 4096.0, 32768.0)


@dataclass
class Work:
    """What the fake server reports about its work; the test changes it as it runs.

    ``prompt_tokens``/``generation_tokens`` are totals since start, grown by
    ``*_per_s`` for every second since the server started (so a real Prometheus sees a
    counter rise); setting them lower is a server restart (a counter reset).
    ``ttft_s``/``queue_time_s`` are the observations behind the latency histograms.
    """

    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    prompt_tokens_per_s: float = 0.0
    generation_tokens_per_s: float = 0.0
    kv_cache_usage: float = 0.0
    ttft_s: list[float] = field(default_factory=list)
    queue_time_s: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def tokens(self) -> tuple[float, float]:
        """(prompt, generation) totals now."""
        elapsed = time.monotonic() - self.started
        return (
            float(math.floor(self.prompt_tokens + self.prompt_tokens_per_s * elapsed)),
            float(math.floor(self.generation_tokens + self.generation_tokens_per_s * elapsed)),
        )


def _observed(name: str, doc: str, labels: str, bounds: tuple[float, ...], values: list[float]) -> list[str]:
    """A histogram of ``values`` in the text format, as prometheus_client writes it."""
    sep = "," if labels else ""
    lines = [f"# HELP {name} {doc}", f"# TYPE {name} histogram"]
    for bound in (*bounds, math.inf):
        le = "+Inf" if math.isinf(bound) else repr(float(bound))
        lines.append(f'{name}_bucket{{le="{le}"{sep}{labels}}} {float(sum(v <= bound for v in values))}')
    braces = f"{{{labels}}}" if labels else ""
    lines += [f"{name}_count{braces} {float(len(values))}", f"{name}_sum{braces} {math.fsum(values)}"]
    return lines


def _counter(name: str, doc: str, labels: str, value: float) -> list[str]:
    """A prometheus_client counter: ``name_total`` and its ``name_created`` gauge."""
    return [
        f"# HELP {name}_total {doc}",
        f"# TYPE {name}_total counter",
        f"{name}_total{{{labels}}} {value}",
        f"# HELP {name}_created {doc}",
        f"# TYPE {name}_created gauge",
        f"{name}_created{{{labels}}} 1.7e+09",
    ]


def work_lines(kind: str, work: Work) -> list[str]:
    """The token, KV-cache and latency series of a ``kind`` server, real names and types."""
    prompt, generation = work.tokens()
    if kind in ("vllm", "vllm-v0"):
        ml = f'engine="0",model_name="{MODEL}"' if kind == "vllm" else f'model_name="{MODEL}"'
        lines = [
            "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.",
            "# TYPE vllm:gpu_cache_usage_perc gauge",
            f"vllm:gpu_cache_usage_perc{{{ml}}} {work.kv_cache_usage}",
        ]
        if kind == "vllm":
            lines += [
                "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
                "# TYPE vllm:kv_cache_usage_perc gauge",
                f"vllm:kv_cache_usage_perc{{{ml}}} {work.kv_cache_usage}",
            ]
        return [
            *lines,
            *_counter("vllm:prompt_tokens", "Number of prefill tokens processed.", ml, prompt),
            *_counter("vllm:generation_tokens", "Number of generation tokens processed.", ml, generation),
            *_observed(
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                ml,
                VLLM_TTFT_BUCKETS,
                work.ttft_s,
            ),
            *_observed(
                "vllm:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.",
                ml,
                VLLM_LATENCY_BUCKETS,
                work.queue_time_s,
            ),
        ]
    if kind == "tgi":
        # TGI (metrics-exporter-prometheus) has the token work only as per-request histograms.
        n = max(1, len(work.ttft_s))
        return [
            *_observed(
                "tgi_request_input_length",
                "Input token length per request",
                "",
                TGI_TOKEN_BUCKETS,
                [prompt / n] * n if prompt else [],
            ),
            *_observed(
                "tgi_request_generated_tokens",
                "Generated tokens per request",
                "",
                TGI_TOKEN_BUCKETS,
                [generation / n] * n if generation else [],
            ),
            *_observed(
                "tgi_request_queue_duration",
                "Time spent in the queue per request",
                "",
                TGI_DURATION_BUCKETS,
                work.queue_time_s,
            ),
        ]
    if kind == "triton":
        ml = 'model="tensorrt_llm",version="1"'
        max_blocks = 6240
        used = round(work.kv_cache_usage * max_blocks)
        return [
            "# HELP nv_trt_llm_kv_cache_block_metrics TRT LLM KV cache block metrics",
            "# TYPE nv_trt_llm_kv_cache_block_metrics gauge",
            f'nv_trt_llm_kv_cache_block_metrics{{kv_cache_block_type="tokens_per",{ml}}} 64',
            f'nv_trt_llm_kv_cache_block_metrics{{kv_cache_block_type="used",{ml}}} {used}',
            f'nv_trt_llm_kv_cache_block_metrics{{kv_cache_block_type="free",{ml}}} {max_blocks - used}',
            f'nv_trt_llm_kv_cache_block_metrics{{kv_cache_block_type="max",{ml}}} {max_blocks}',
            f'nv_trt_llm_kv_cache_block_metrics{{kv_cache_block_type="fraction",{ml}}} {work.kv_cache_usage}',
        ]
    if kind == "sglang":
        ml = f'model_name="{MODEL}"'
        return [
            "# HELP sglang:prompt_tokens_total Number of prefill tokens processed.",
            "# TYPE sglang:prompt_tokens_total counter",
            f"sglang:prompt_tokens_total{{{ml}}} {prompt}",
            "# HELP sglang:generation_tokens_total Number of generation tokens processed.",
            "# TYPE sglang:generation_tokens_total counter",
            f"sglang:generation_tokens_total{{{ml}}} {generation}",
            "# HELP sglang:token_usage The token usage",
            "# TYPE sglang:token_usage gauge",
            f"sglang:token_usage{{{ml}}} {work.kv_cache_usage}",
            *_observed(
                "sglang:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                ml,
                VLLM_TTFT_BUCKETS,
                work.ttft_s,
            ),
            *_observed(
                "sglang:queue_time_seconds",
                "Histogram of queueing time in seconds.",
                ml,
                SGLANG_QUEUE_BUCKETS,
                work.queue_time_s,
            ),
        ]
    return []


def metrics_text(kind: str, waiting: float, running: float, padding: int = 20, work: Work | None = None) -> str:
    """The metrics body of a ``kind`` server with ``waiting`` queued and ``running``
    in-flight requests; ``padding`` histograms of 16 buckets around them (a real vLLM
    endpoint has a few dozen such families); ``work`` adds the token, KV-cache and
    latency series (:func:`work_lines`), all at 0 when not given."""
    pad: list[str] = []
    if kind in ("vllm", "vllm-v0"):
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
    return "\n".join(pad + body + work_lines(kind, work or Work())) + "\n"


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
        work: Work | None = None,
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
        self.work = work or Work()
        self.requests = 0
        #: ``(time.time(), waiting)`` of the last answers served: when a reader (the
        #: exporter) saw a queue change, for the reaction benchmark.
        self.served: deque[tuple[float, float]] = deque(maxlen=1024)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def body(self, waiting: float | None = None) -> bytes:
        waiting = self.waiting if waiting is None else waiting
        return metrics_text(self.kind, waiting, self.running, self.padding, self.work).encode()

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
