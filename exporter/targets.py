"""Model-server targets: which pod's metrics endpoint to read, and which metrics
mean "waiting" and "running" there.

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
class ServerMetrics:
    """The metric names of one model-server type.

    Several samples of a name (one per model, or per ``model_name`` label) are summed:
    Triton's ``nv_inference_pending_request_count`` has one series per model and
    version, and the pod's queue is their sum.
    """

    queue: str
    running: str | None


#: Known model servers. Sources: vLLM's metrics docs (``vllm:num_requests_waiting``,
#: ``vllm:num_requests_running``), TGI's router metrics (``tgi_queue_size``,
#: ``tgi_batch_current_size`` = requests in the running batch), Triton's metrics docs
#: (``nv_inference_pending_request_count``; no in-flight gauge), SGLang's
#: (``sglang:num_queue_reqs``, ``sglang:num_running_reqs``).
SERVERS: dict[str, ServerMetrics] = {
    "vllm": ServerMetrics("vllm:num_requests_waiting", "vllm:num_requests_running"),
    "tgi": ServerMetrics("tgi_queue_size", "tgi_batch_current_size"),
    "triton": ServerMetrics("nv_inference_pending_request_count", None),
    "sglang": ServerMetrics("sglang:num_queue_reqs", "sglang:num_running_reqs"),
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
        bad = path.read_bytes()[:exc.start].count(b"\n") + 1
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
