"""Queue depth, running requests, token work, KV-cache use and latency histograms,
read from each model server's own ``/metrics``.

Targets are read concurrently on a small thread pool, each within its own timeout
(default 1 s): with 16 targets of which one hangs, the tick waits about 1 s for that
one and publishes the other 15; the hung target loses only its own series and counts
one ``queue_fetch`` error. A body that is not Prometheus text, or lacks the queue
metric, counts ``queue_parse``.

Parsing uses prometheus_client's text parser, but only over the lines of the metrics
we want: a vLLM endpoint serves ~1,000 lines of histograms, of which we need ~60, and
filtering lines by name prefix first is several times cheaper than parsing it all.
Counters are passed on as the server's own totals, never differenced here: a server
restart is a counter reset, which ``rate()`` downstream already handles.
"""

from __future__ import annotations

import http.client
import math
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from exporter.errors import TargetError
from exporter.snapshot import HistogramReading, QueueReading
from exporter.targets import SERVERS, QueueTarget, Selector, ServerMetrics

#: Largest body read from one target (a vLLM endpoint is ~100 KiB).
MAX_BODY_BYTES = 8 * 2**20

#: Suffixes of a histogram family's sample lines (histograms are wanted by family name).
_HISTOGRAM_PARTS = ("", "_bucket", "_sum", "_count")


def _lines_of(metrics: ServerMetrics) -> frozenset[str]:
    """The names whose lines we select: each series' name, and a histogram's family
    name with its ``_bucket``, ``_sum`` and ``_count`` sample names."""
    histograms = frozenset(h + part for h in (metrics.ttft, metrics.queue_time) if h for part in _HISTOGRAM_PARTS)
    return metrics.names() | histograms


_ALL_KNOWN = frozenset(n for m in SERVERS.values() for n in _lines_of(m))


def wanted_names(target: QueueTarget) -> frozenset[str]:
    if target.metrics is None:
        return _ALL_KNOWN
    return _lines_of(target.metrics)


def select_lines(text: str, names: Iterable[str]) -> str:
    """The sample, ``# TYPE`` and ``# HELP`` lines of ``names`` only, in their order.

    A line belongs to ``name`` when it starts with it (after ``# TYPE ``/``# HELP ``)
    followed by ``{``, a space or a tab, so ``foo`` does not take ``foo_bucket``.
    Found with ``str.find`` per name rather than by splitting every line: on a 41 KB,
    430-line vLLM body that is ~0.02 ms instead of ~0.18 ms.
    """
    found: dict[int, str] = {}
    for name in names:
        start = 0
        while (at := text.find(name, start)) != -1:
            line_start = text.rfind("\n", 0, at) + 1
            line_end = text.find("\n", at)
            if line_end == -1:
                line_end = len(text)
            start = line_end
            after = text[at + len(name) : at + len(name) + 1]
            if text[line_start:at] in ("", "# TYPE ", "# HELP ") and after in ("{", " ", "\t"):
                found[line_start] = text[line_start:line_end]
    return "\n".join(found[k] for k in sorted(found)) + "\n"


def samples_by_name(text: str, names: Iterable[str]) -> dict[str, list[Sample]]:
    """The samples of each wanted name present in ``text``, NaN samples dropped; raises
    ``queue_parse`` when the selected lines are not Prometheus text."""
    names = frozenset(names)
    found: dict[str, list[Sample]] = {}
    try:
        for family in text_string_to_metric_families(select_lines(text, names)):
            for sample in family.samples:
                if sample.name in names and not math.isnan(sample.value):
                    found.setdefault(sample.name, []).append(sample)
    except ValueError as exc:
        raise TargetError("queue_parse", f"not Prometheus text: {exc}") from None
    return found


def sums_by_name(text: str, names: Iterable[str]) -> dict[str, float]:
    """Sum of the samples of each wanted name present in ``text``; NaN samples drop out.

    ``vllm:num_requests_waiting{model_name="a"} 3`` and ``{model_name="b"} 2`` -> 5.0.
    """
    return {name: math.fsum(s.value for s in samples) for name, samples in samples_by_name(text, names).items()}


def _total(found: Mapping[str, list[Sample]], name: str | None) -> float | None:
    if name is None or name not in found:
        return None
    return math.fsum(s.value for s in found[name])


def kv_cache_ratio(found: Mapping[str, list[Sample]], selectors: Iterable[Selector]) -> float | None:
    """The first selector present; the largest of its samples (the fullest engine), or
    None when none is present or the value is outside 0..1 (not the ratio we expect).

    vLLM 0.9+ exposes both ``vllm:kv_cache_usage_perc`` and the deprecated
    ``vllm:gpu_cache_usage_perc`` with one value; the new name is listed first.
    """
    for selector in selectors:
        values = [
            s.value
            for s in found.get(selector.name, ())
            if selector.label is None or s.labels.get(selector.label[0]) == selector.label[1]
        ]
        if values:
            ratio = max(values)
            return ratio if 0.0 <= ratio <= 1.0 else None
    return None


def histogram(found: Mapping[str, list[Sample]], family: str | None) -> HistogramReading | None:
    """One histogram from all series of ``family`` (per model, per engine), or None.

    Series are grouped by their labels other than ``le``; the merged histogram keeps the
    bounds every series has and adds their counts there (cumulative counts add up), so
    two engines with 3 and 4 observations <= 0.5 s give 7. A series without ``+Inf``, or
    with counts that fall as the bound rises, is not a histogram and drops out.
    """
    if family is None or f"{family}_bucket" not in found:
        return None
    series: dict[tuple[tuple[str, str], ...], dict[float, float]] = {}
    for s in found[f"{family}_bucket"]:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        try:
            bound = float(s.labels.get("le", ""))
        except ValueError:
            continue
        series.setdefault(key, {})[bound] = s.value
    sums = {tuple(sorted(s.labels.items())): s.value for s in found.get(f"{family}_sum", ())}
    merged: dict[float, float] | None = None
    total = 0.0
    for key, buckets in series.items():
        counts = [buckets[b] for b in sorted(buckets)]
        if math.inf not in buckets or any(b < a for a, b in zip(counts, counts[1:], strict=False)):
            continue
        total += sums.get(key, 0.0)
        if merged is None:
            merged = dict(buckets)
        else:
            merged = {b: merged[b] + buckets[b] for b in merged.keys() & buckets.keys()}
    if not merged:
        return None
    return HistogramReading(tuple(sorted(merged.items())), total)


def reading_from_text(target: QueueTarget, text: str) -> QueueReading:
    """The target's :class:`QueueReading` from its metrics text; raises ``queue_parse``
    when the queue metric is not there. Every other series is optional: a server that
    lacks one (an older vLLM without a TTFT histogram) still publishes the rest."""
    found = samples_by_name(text, wanted_names(target))
    metrics: ServerMetrics | None = target.metrics
    if metrics is None:
        metrics = next((m for m in SERVERS.values() if m.queue in found), None)
        if metrics is None:
            raise TargetError(
                "queue_parse", f"no known queue metric ({', '.join(sorted(m.queue for m in SERVERS.values()))})"
            )
    queue = _total(found, metrics.queue)
    if queue is None:
        raise TargetError("queue_parse", f"metric {metrics.queue} not exposed")
    return QueueReading(
        target.namespace,
        target.pod,
        queue,
        _total(found, metrics.running),
        prompt_tokens_total=_total(found, metrics.prompt_tokens),
        generation_tokens_total=_total(found, metrics.generation_tokens),
        kv_cache_usage_ratio=kv_cache_ratio(found, metrics.kv_cache),
        time_to_first_token=histogram(found, metrics.ttft),
        queue_time=histogram(found, metrics.queue_time),
    )


def fetch_text(url: str, timeout_s: float) -> str:
    """GET ``url`` within ``timeout_s`` overall (connect, headers and a body read in
    chunks against one deadline), at most :data:`MAX_BODY_BYTES`.

    ``http.client`` directly rather than ``urllib.request``: no proxy from the
    environment (pod IPs must not go through one), no redirects, and about half the
    CPU per request. (urllib also builds handler names per call, ``"http" +
    "_response"``, which CPython's type-attribute cache keeps alive: bounded, but it
    shows up as slow growth in the benchmark's memory figures.)
    """
    deadline = time.monotonic() + timeout_s
    parts = urllib.parse.urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection = connection_class(parts.hostname or "", parts.port, timeout=timeout_s)
        try:
            connection.request("GET", path, headers={"Accept": "text/plain;version=0.0.4"})
            response = connection.getresponse()
            if response.status != 200:
                raise TargetError("queue_fetch", f"HTTP {response.status} {response.reason}")
            chunks, size = [], 0
            while True:
                if time.monotonic() > deadline:
                    raise TargetError("queue_fetch", f"timed out after {timeout_s:g}s")
                chunk = response.read1(65536)  # what has arrived; read() would wait for 64 KiB
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise TargetError("queue_fetch", f"body larger than {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as exc:
        raise TargetError("queue_fetch", f"{type(exc).__name__}: {exc}") from None
    return b"".join(chunks).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class QueueResults:
    """One round over the targets: readings of those that answered, error counts by
    kind, and what went wrong per target (``serving/llm-0 (http://...)`` -> reason)."""

    readings: tuple[QueueReading, ...] = ()
    errors: Mapping[str, int] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)


@dataclass
class PendingRound:
    """Fetches in flight; :meth:`QueueReader.finish` collects them."""

    futures: list[tuple[QueueTarget, Future[QueueReading]]]
    deadline: float


class QueueReader:
    """Reads targets concurrently. ``start`` submits a round and returns at once, so
    the sampler reads NVML and the kubelet while model servers answer."""

    def __init__(self, *, timeout_s: float = 1.0, max_workers: int = 16) -> None:
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="queue-target")

    def _read(self, target: QueueTarget) -> QueueReading:
        return reading_from_text(target, fetch_text(target.url, self.timeout_s))

    def start(self, targets: Iterable[QueueTarget]) -> PendingRound:
        futures = [(t, self._pool.submit(self._read, t)) for t in targets]
        # A little grace over the per-target timeout for thread scheduling.
        return PendingRound(futures, time.monotonic() + self.timeout_s + 0.25)

    def finish(self, pending: PendingRound) -> QueueResults:
        wait_futures([f for _, f in pending.futures], timeout=max(0.0, pending.deadline - time.monotonic()))
        readings: list[QueueReading] = []
        errors: Counter[str] = Counter()
        problems: dict[str, str] = {}
        for target, future in pending.futures:
            if not future.done():
                future.cancel()
                errors["queue_fetch"] += 1
                problems[target.describe()] = f"timed out after {self.timeout_s:g}s"
                continue
            exc = future.exception()
            if exc is None:
                readings.append(future.result())
            elif isinstance(exc, TargetError):
                errors[exc.kind] += 1
                problems[target.describe()] = str(exc)
            else:  # a bug of ours must not take the other targets down; counted and shown
                errors["queue_parse"] += 1
                problems[target.describe()] = f"{type(exc).__name__}: {exc}"
        return QueueResults(tuple(readings), dict(errors), problems)

    def read(self, targets: Iterable[QueueTarget]) -> QueueResults:
        return self.finish(self.start(targets))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
