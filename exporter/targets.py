"""Model-server targets: which pod's metrics endpoint to read, and which metrics
mean "waiting", "running", token work, KV-cache use and latency there.

A target is written ``namespace/pod=URL[#SERVER|#METRIC]`` on the command line and
in a targets file (one per line, ``#`` starts a comment line):

    serving/llm-0=http://10.0.3.7:8000/metrics#vllm
    serving/tgi-1=http://10.0.3.8:80/metrics#tgi
    serving/custom=http://10.0.3.9:9000/metrics#my_app_pending_requests
    serving/any=http://10.0.3.10:8000/metrics            (server type detected)

In a cluster the same targets come from pod discovery (:mod:`exporter.discovery`) and
the annotations ``gpuautoscaler.io/queue-metric``, ``/metrics-port``, ``/metrics-path``.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from exporter.errors import ConfigError


@dataclass(frozen=True)
class Selector:
    """A sample name, optionally narrowed to one label value: Triton's KV-cache share
    is one series of a family, ``nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="fraction"}``."""

    name: str
    label: tuple[str, str] | None = None


@dataclass(frozen=True)
class ServerMetrics:
    """The metric names of one model-server type: one row per server with all its series.

    Several samples of a name (one per model, per ``model_name`` label or per vLLM
    ``engine``) are summed for counts and token counters: Triton's
    ``nv_inference_pending_request_count`` has one series per model and version, and the
    pod's queue is their sum. A ratio (KV-cache use) is not summed: the pod's value is its
    fullest engine's (0.9 and 0.3 -> 0.9), since that engine preempts first.

    ``prompt_tokens``/``generation_tokens`` are sample names of monotonic totals (a
    counter's ``_total`` sample, or a histogram's ``_sum`` where the server only has a
    per-request token histogram); ``kv_cache`` lists alternatives, the first one present
    wins (vLLM renamed its gauge in 0.9); ``ttft``/``queue_time`` are histogram family
    names in seconds. None or ``()`` where the server has no equivalent.
    """

    queue: str
    running: str | None
    prompt_tokens: str | None = None
    generation_tokens: str | None = None
    kv_cache: tuple[Selector, ...] = ()
    ttft: str | None = None
    queue_time: str | None = None

    def names(self) -> frozenset[str]:
        """Every sample and family name this row reads (histograms by family name)."""
        singles = (self.queue, self.running, self.prompt_tokens, self.generation_tokens, self.ttft, self.queue_time)
        return frozenset(n for n in singles if n) | frozenset(s.name for s in self.kv_cache)


#: Known model servers, one row each. Every name and type was checked against the
#: server's own source or docs (cited per row); where a server has no equivalent the
#: field is left empty and the comment says so.
SERVERS: dict[str, ServerMetrics] = {
    # vLLM, V1 engine: vllm-project/vllm vllm/v1/metrics/loggers.py (PrometheusStatLogger):
    #   gauges vllm:num_requests_waiting, vllm:num_requests_running, vllm:kv_cache_usage_perc
    #   ("KV-cache usage. 1 means 100 percent usage", i.e. 0..1 despite the name) and the older
    #   vllm:gpu_cache_usage_perc ("Deprecated in 0.9 - Renamed as vllm:kv_cache_usage_perc");
    #   counters vllm:prompt_tokens / vllm:generation_tokens, exposed by prometheus_client as
    #   vllm:prompt_tokens_total / vllm:generation_tokens_total (also listed so in
    #   docs/source/design/v1/metrics.md); histograms vllm:time_to_first_token_seconds and
    #   vllm:request_queue_time_seconds ("time spent in WAITING phase"), in seconds.
    "vllm": ServerMetrics(
        "vllm:num_requests_waiting",
        "vllm:num_requests_running",
        prompt_tokens="vllm:prompt_tokens_total",
        generation_tokens="vllm:generation_tokens_total",
        kv_cache=(Selector("vllm:kv_cache_usage_perc"), Selector("vllm:gpu_cache_usage_perc")),
        ttft="vllm:time_to_first_token_seconds",
        queue_time="vllm:request_queue_time_seconds",
    ),
    # TGI: https://huggingface.co/docs/text-generation-inference/reference/metrics and the
    #   router (router/src/infer, queue.rs: metrics::histogram!("tgi_request_queue_duration", ..
    #   .as_secs_f64())): gauges tgi_queue_size, tgi_batch_current_size (requests in the running
    #   batch); token work only as per-request histograms tgi_request_input_length (recorded at
    #   validation) and tgi_request_generated_tokens (recorded when a request ends), whose
    #   _sum samples are monotonic token totals; histogram tgi_request_queue_duration (seconds).
    #   No KV-cache usage gauge and no TTFT histogram in TGI.
    "tgi": ServerMetrics(
        "tgi_queue_size",
        "tgi_batch_current_size",
        prompt_tokens="tgi_request_input_length_sum",
        generation_tokens="tgi_request_generated_tokens_sum",
        queue_time="tgi_request_queue_duration",
    ),
    # Triton: triton-inference-server/server docs/user_guide/metrics.md: gauge
    #   nv_inference_pending_request_count (no in-flight gauge); queue time only as a cumulative
    #   counter nv_inference_queue_duration_us or an opt-in summary, so no queue-time histogram
    #   here; no TTFT histogram in that page. KV cache (TensorRT-LLM backend,
    #   inflight_batcher_llm custom_metrics_reporter): gauge family
    #   nv_trt_llm_kv_cache_block_metrics, kv_cache_block_type="fraction" = share of blocks
    #   used. No prompt/generation token counter (the backend has per-iteration token gauges
    #   only), so those stay empty.
    "triton": ServerMetrics(
        "nv_inference_pending_request_count",
        None,
        kv_cache=(Selector("nv_trt_llm_kv_cache_block_metrics", ("kv_cache_block_type", "fraction")),),
    ),
    # SGLang: sgl-project/sglang docs/references/production_metrics.md and
    #   python/sglang/srt/metrics/collector.py: gauges sglang:num_queue_reqs,
    #   sglang:num_running_reqs, sglang:token_usage (share of the KV token pool in use, 0..1);
    #   counters sglang:prompt_tokens_total, sglang:generation_tokens_total; histograms
    #   sglang:time_to_first_token_seconds and sglang:queue_time_seconds (seconds).
    "sglang": ServerMetrics(
        "sglang:num_queue_reqs",
        "sglang:num_running_reqs",
        prompt_tokens="sglang:prompt_tokens_total",
        generation_tokens="sglang:generation_tokens_total",
        kv_cache=(Selector("sglang:token_usage"),),
        ttft="sglang:time_to_first_token_seconds",
        queue_time="sglang:queue_time_seconds",
    ),
}

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class QueueTarget:
    """One model-server pod to read.

    ``metrics`` None means "detect": the first server in :data:`SERVERS` whose queue
    metric the endpoint exposes.
    """

    namespace: str
    pod: str
    url: str
    metrics: ServerMetrics | None = None

    def describe(self) -> str:
        return f"{self.namespace}/{self.pod} ({self.url})"


def metrics_for(word: str) -> ServerMetrics:
    """``vllm`` -> vLLM's names; any other valid metric name -> that queue metric alone."""
    if word in SERVERS:
        return SERVERS[word]
    if _METRIC_NAME.match(word):
        return ServerMetrics(word, None)
    raise ConfigError(f"{word!r} is neither a server type ({', '.join(SERVERS)}) nor a metric name")


def parse_target(text: str) -> QueueTarget:
    """Parse ``namespace/pod=URL[#SERVER|#METRIC]``; raises :class:`ConfigError` naming
    what was expected."""
    head, sep, url = text.strip().partition("=")
    if not sep:
        raise ConfigError(f"target {text!r}: expected namespace/pod=http://host:port/path[#server-or-metric]")
    namespace, slash, pod = head.partition("/")
    for what, value in (("namespace", namespace), ("pod", pod)):
        if not slash or not _K8S_NAME.match(value):
            raise ConfigError(
                f"target {text!r}: {what} {value!r} is not a Kubernetes name (expected namespace/pod before '=')"
            )
    url, _, word = url.partition("#")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"target {text!r}: URL {url!r} must be http(s)://host:port/path")
    try:
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"target {text!r}: URL {url!r} has a bad port") from None
    try:
        metrics = metrics_for(word) if word else None
    except ConfigError as exc:
        raise ConfigError(f"target {text!r}: {exc}") from None
    return QueueTarget(namespace, pod, url, metrics)


def read_targets_file(path: Path) -> tuple[QueueTarget, ...]:
    """Targets from a file, one per line; blank lines and ``#`` comment lines skipped.
    A bad line raises :class:`ConfigError` naming the file and line number."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"targets file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        bad = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"targets file {path}, line {bad}: not UTF-8 text") from None
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            out.append(parse_target(line))
        except ConfigError as exc:
            raise ConfigError(f"targets file {path}, line {number}: {exc}") from None
    return tuple(out)


def unique(targets: tuple[QueueTarget, ...]) -> tuple[QueueTarget, ...]:
    """Reject two targets for one pod: both would publish the same series."""
    seen: dict[tuple[str, str], QueueTarget] = {}
    for t in targets:
        key = (t.namespace, t.pod)
        if key in seen:
            raise ConfigError(f"two targets for pod {t.namespace}/{t.pod}: {seen[key].url} and {t.url}")
        seen[key] = t
    return targets
