"""The Prometheus adapter: the only module that imports ``prometheus_api_client``.

Per tick, :meth:`PrometheusSource.fetch_signals` sends one query per built-in signal
for every scaler together (:func:`autoscaler.sources.promql.batched`), so 1,000 scalers
cost the same 1-3 queries as one. Custom queries go through :meth:`query_value`, at most
``max_concurrent_queries`` at a time, whatever the number of loop workers.

Failure is never zero: a connection error, timeout, HTTP error or malformed answer
becomes :class:`~autoscaler.sources.base.MetricsError` (or a snapshot with ``error``).
Retries: ``retries`` more attempts on connection errors and on 429/502/503/504, with
urllib3's exponential backoff — with ``backoff_seconds=0.25`` the waits are 0 s, 0.5 s
(urllib3 sleeps ``factor * 2**(n-1)`` from the second retry on), so with the defaults a
dead Prometheus costs ``3 * timeout`` at worst and a refused port about 0.5 s.
"""

from __future__ import annotations

import ast
import json
import re
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
import urllib3
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from autoscaler.sources import promql
from autoscaler.sources.base import MetricsError, Sample, Signal, SignalSnapshot
from autoscaler.sources.signals import OURS, SeriesSpec

#: Above this many namespaces the batched query drops its namespace filter and the
#: join in Python does the filtering: a 1,000-way regex costs Prometheus more than
#: the extra rows cost us, and keeps the URL short.
MAX_NAMESPACES_IN_QUERY = 200


@dataclass(frozen=True)
class PrometheusSettings:
    """How to reach Prometheus."""

    url: str
    #: Seconds one HTTP attempt may take (connect + read).
    timeout_seconds: float = 5.0
    #: Extra attempts after a connection error or a 429/502/503/504.
    retries: int = 2
    #: urllib3 backoff factor (see the module docstring for the waits it gives).
    backoff_seconds: float = 0.25
    #: Custom queries in flight at once, across all loop workers.
    max_concurrent_queries: int = 8
    #: The window of a counter's ``rate()`` (token counters, latency histograms):
    #: ``max(60, 4 x scrape interval)`` (:data:`autoscaler.sources.promql.DEFAULT_RATE_WINDOW_SECONDS`).
    rate_window_seconds: float = promql.DEFAULT_RATE_WINDOW_SECONDS


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and ``(unix time, value)`` points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


class PrometheusSource:
    """:class:`~autoscaler.sources.base.MetricSource` over Prometheus's HTTP API."""

    def __init__(self, settings: PrometheusSettings, series: Mapping[Signal, SeriesSpec] = OURS):
        self.settings = settings
        self.series = dict(series)
        retry = Retry(
            total=settings.retries,
            connect=settings.retries,
            read=settings.retries,
            status=settings.retries,
            backoff_factor=settings.backoff_seconds,
            status_forcelist=(429, 502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        self._conn = PrometheusConnect(url=settings.url.rstrip("/"), retry=retry, timeout=settings.timeout_seconds)
        self._slots = threading.BoundedSemaphore(max(1, settings.max_concurrent_queries))
        self._lock = threading.Lock()
        self._queries = 0

    @property
    def queries(self) -> int:
        """HTTP queries sent so far (the benchmark reports it per loop)."""
        with self._lock:
            return self._queries

    def close(self) -> None:
        self._conn.close()

    # -- built-in signals ------------------------------------------------------
    def fetch_signals(
        self, signals: Collection[Signal], namespaces: Collection[str] | None
    ) -> dict[Signal, SignalSnapshot]:
        scope = None if namespaces is None or len(set(namespaces)) > MAX_NAMESPACES_IN_QUERY else set(namespaces)
        out: dict[Signal, SignalSnapshot] = {}
        for signal in signals:
            spec = self.series[signal]
            try:
                query = promql.batched(spec, scope, self.settings.rate_window_seconds)
                rows = self._query(query)
                out[signal] = SignalSnapshot(signal, parse_batched(rows))
            except (MetricsError, promql.PromQLError) as e:
                out[signal] = SignalSnapshot(signal, error=f"{spec.metric}: {e}")
        return out

    # -- custom queries --------------------------------------------------------
    def query_value(self, query: str) -> Sample:
        with self._slots:
            result = self._query(query)
        return parse_single(result)

    # -- range queries (record) -----------------------------------------------
    def query_range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
        """A range query; raises :class:`MetricsError`. Start and end are whole seconds
        (the client rounds them)."""
        with self._lock:
            self._queries += 1
        try:
            rows = self._conn.custom_query_range(
                query, datetime.fromtimestamp(start, tz=UTC), datetime.fromtimestamp(end, tz=UTC), f"{step:g}"
            )
        except (requests.exceptions.RequestException, PrometheusApiClientException, ValueError) as e:
            raise MetricsError(describe_error(e, self.settings.url)) from None
        if not isinstance(rows, list):
            raise MetricsError(f"expected a matrix result, got {type(rows).__name__}")
        out = []
        for row in rows:
            try:
                points = tuple((float(t), float(v)) for t, v in row["values"])
                out.append(RangeSeries(dict(row.get("metric", {})), points))
            except (KeyError, TypeError, ValueError) as e:
                raise MetricsError(f"malformed range result: {e}") from None
        return out

    def _query(self, query: str) -> Any:
        with self._lock:
            self._queries += 1
        try:
            return self._conn.custom_query(query)
        except (requests.exceptions.RequestException, PrometheusApiClientException, ValueError) as e:
            raise MetricsError(describe_error(e, self.settings.url)) from None


def parse_batched(rows: Any) -> dict[tuple[str, str], Sample]:
    """Join the value and timestamp rows of :func:`promql.batched` per ``(namespace, pod)``.

    A value without a timestamp row keeps the evaluation time as its time (it cannot
    be older than the lookback anyway); a timestamp without a value is dropped.
    """
    if not isinstance(rows, list):
        raise MetricsError(f"expected a vector result, got {type(rows).__name__}")
    values: dict[tuple[str, str], tuple[float, float]] = {}
    times: dict[tuple[str, str], float] = {}
    try:
        for row in rows:
            labels = row["metric"]
            key = (labels.get("namespace", ""), labels.get("pod", ""))
            if not key[0] or not key[1]:
                continue
            t, v = row["value"]
            if labels.get(promql.FIELD_LABEL) == "timestamp":
                times[key] = float(v)
            else:
                values[key] = (float(t), float(v))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise MetricsError(f"malformed vector result: {e!r}") from None
    return {key: Sample(v, times.get(key, t)) for key, (t, v) in values.items()}


def parse_single(result: Any) -> Sample:
    """One number from an instant query: a scalar, or a vector of exactly one series.

    An empty vector is an error, not zero: ``sum(rate(x[1m]))`` over no series returns
    nothing, and "no data" must hold the scaler rather than shrink it.
    """
    try:
        if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
            t, v = result  # scalar
            return Sample(float(v), float(t))
        if not isinstance(result, list):
            raise MetricsError(f"expected a vector or scalar, got {type(result).__name__}")
        if not result:
            raise MetricsError("query returned no data")
        if len(result) > 1:
            raise MetricsError(
                f"query returned {len(result)} series; expected one number (aggregate it, e.g. sum(...))"
            )
        t, v = result[0]["value"]
        value = float(v)
    except (KeyError, TypeError, ValueError) as e:
        raise MetricsError(f"malformed query result: {e!r}") from None
    return Sample(value, float(t))


_ERROR_BODY = re.compile(r"HTTP Status Code (\d+) \((.*)\)\Z", re.DOTALL)


def describe_error(e: Exception, url: str = "") -> str:
    """A short human sentence for a failed HTTP query (no stack, no 2 KiB body).

    The client reports ``HTTP Status Code 400 (b'{"status":"error",...,"error":"..."}')``;
    we keep the status and Prometheus's own ``error`` text.
    """
    if isinstance(e, PrometheusApiClientException):
        m = _ERROR_BODY.match(str(e))
        if m is None:
            return f"Prometheus error: {str(e)[:300]}"
        detail: Any = m.group(2)
        try:
            detail = ast.literal_eval(m.group(2)) or "(empty body)"
            detail = json.loads(detail).get("error", detail)
        except (ValueError, SyntaxError, AttributeError, TypeError):
            pass
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        return f"Prometheus answered HTTP {m.group(1)}: {str(detail)[:300]}"
    if isinstance(e, requests.exceptions.Timeout) or _read_timeout(e):
        return f"Prometheus {url} did not answer in time".replace("  ", " ")
    if isinstance(e, requests.exceptions.ConnectionError):
        return f"cannot connect to Prometheus {url}".rstrip()
    if isinstance(e, ValueError):
        return "Prometheus sent a malformed answer"
    return f"Prometheus request failed: {type(e).__name__}"


def _read_timeout(e: Exception) -> bool:
    """With urllib3 retries on, a read timeout arrives as ``ConnectionError(MaxRetryError(
    reason=ReadTimeoutError))`` rather than ``requests.Timeout``."""
    inner = e.args[0] if e.args else None
    return isinstance(getattr(inner, "reason", None), urllib3.exceptions.ReadTimeoutError)
