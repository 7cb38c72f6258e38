"""The Prometheus source against a real Prometheus scraping a real HTTP target.

What is checked is what a fake could not tell us: that Prometheus parses our queries,
that the batched value/timestamp union survives its evaluation, that a frozen sample
really comes back with its old timestamp, and that every failure is an error, never 0.
"""
from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from autoscaler.metrics.gpu_utilization import SM_ACTIVE, UTILIZATION
from autoscaler.metrics.queue_depth import QUEUE_DEPTH
from autoscaler.sources import promql
from autoscaler.sources.base import MetricsError, observe_value
from autoscaler.sources.prometheus import PrometheusSettings, PrometheusSource
from autoscaler.sources.signals import series_for
from simulations.cluster.prometheus import free_port
from tests.sources.conftest import World

FAST = {"timeout_seconds": 2.0, "retries": 0, "backoff_seconds": 0.0}


def source(world: World, kind: str = "ours") -> PrometheusSource:
    return PrometheusSource(PrometheusSettings(world.prometheus.url, **FAST), series_for(kind))  # type: ignore[arg-type]


def until(world: World, query: str, n: int) -> None:
    world.prometheus.wait_for(query, timeout=15, predicate=lambda r: len(r) >= n)


def test_one_query_per_signal_joins_values_per_pod(world: World) -> None:
    e = world.exposition
    e.set("inference_queue_depth", {"namespace": "join", "pod": "p1"}, 3)
    e.set("inference_queue_depth", {"namespace": "join", "pod": "p2"}, 9)
    e.set("inference_queue_depth", {"namespace": "other", "pod": "p9"}, 5)
    # Two GPUs of p1 at 0.30 and 0.50: avg 0.40 -> 40 %.
    e.set("gpu_sm_active_ratio", {"namespace": "join", "pod": "p1", "gpu": "0"}, 0.30)
    e.set("gpu_sm_active_ratio", {"namespace": "join", "pod": "p1", "gpu": "1"}, 0.50)
    e.set("gpu_sm_active_ratio", {"gpu": "7"}, 0.9)  # unallocated GPU: no pod, must not show
    e.set("gpu_utilization_ratio", {"namespace": "join", "pod": "p1", "gpu": "0"}, 0.17)
    until(world, 'gpu_sm_active_ratio{namespace="join"}', 2)
    until(world, 'inference_queue_depth{namespace=~"join|other"}', 3)
    until(world, 'gpu_utilization_ratio{namespace="join"}', 1)
    src = source(world)
    before = src.queries
    now = time.time()
    snaps = src.fetch_signals([QUEUE_DEPTH, SM_ACTIVE, UTILIZATION], ["join"])
    assert src.queries - before == 3  # one per signal, whatever the number of pods
    assert snaps[QUEUE_DEPTH].for_pods("join", ["p1", "p2"], 30, now).per_pod == {"p1": 3, "p2": 9}
    assert ("other", "p9") not in snaps[QUEUE_DEPTH].samples  # filtered to the namespaces in play
    assert snaps[SM_ACTIVE].for_pods("join", ["p1"], 30, now).per_pod == {"p1": pytest.approx(40.0)}
    assert snaps[UTILIZATION].for_pods("join", ["p1"], 30, now).per_pod == {"p1": pytest.approx(17.0)}
    assert all(ns for ns, _ in snaps[SM_ACTIVE].samples)
    sample = snaps[QUEUE_DEPTH].samples[("join", "p1")]
    assert now - 5 < sample.timestamp <= now + 1  # the scrape time, via timestamp()


def test_a_frozen_sample_counts_as_missing(world: World) -> None:
    """A value exported with a 60 s old timestamp is still returned by an instant query
    (Prometheus looks back 5 min); with a 15 s poll it is older than 2 x 15 = 30 s."""
    e = world.exposition
    now = time.time()
    e.set("inference_queue_depth", {"namespace": "stale", "pod": "old"}, 7, timestamp=now - 60)
    e.set("inference_queue_depth", {"namespace": "stale", "pod": "new"}, 2)
    until(world, 'inference_queue_depth{namespace="stale"}', 2)
    snap = source(world).fetch_signals([QUEUE_DEPTH], ["stale"])[QUEUE_DEPTH]
    assert snap.samples[("stale", "old")].value == 7  # Prometheus did return it ...
    now = time.time()
    assert snap.for_pods("stale", ["old", "new"], 30, now).per_pod == {"new": 2}  # ... but it drops out
    only_old = snap.for_pods("stale", ["old"], 30, now)
    assert only_old.per_pod == {} and only_old.error is not None and "at least 30 s old" in only_old.error


def test_nan_and_inf_are_missing_not_numbers(world: World) -> None:
    e = world.exposition
    e.set("inference_queue_depth", {"namespace": "nan", "pod": "a"}, math.nan)
    e.set("inference_queue_depth", {"namespace": "nan", "pod": "b"}, math.inf)
    e.set("inference_queue_depth", {"namespace": "nan", "pod": "c"}, 4)
    until(world, 'inference_queue_depth{namespace="nan"}', 3)
    snap = source(world).fetch_signals([QUEUE_DEPTH], ["nan"])[QUEUE_DEPTH]
    now = time.time()
    assert snap.for_pods("nan", ["a", "b", "c"], 30, now).per_pod == {"c": 4}
    obs = snap.for_pods("nan", ["a", "b"], 30, now)
    assert obs.error is not None and "2 NaN or Inf" in obs.error


@pytest.mark.parametrize("kind", ["dcgm", "vllm"])
def test_other_exporters_give_the_same_units(world: World, kind: str) -> None:
    """dcgm: SM_ACTIVE 0.4 (ratio) -> 40 %, GPU_UTIL 55 (percent) -> 55 %; vLLM: two
    engines waiting 2 + 3 -> a queue of 5 for the pod."""
    e, ns = world.exposition, f"src-{kind}"
    e.set("DCGM_FI_PROF_SM_ACTIVE", {"namespace": ns, "pod": "p", "gpu": "0"}, 0.4)
    e.set("DCGM_FI_DEV_GPU_UTIL", {"namespace": ns, "pod": "p", "gpu": "0"}, 55)
    e.set("vllm:num_requests_waiting", {"namespace": ns, "pod": "p", "engine": "0"}, 2)
    e.set("vllm:num_requests_waiting", {"namespace": ns, "pod": "p", "engine": "1"}, 3)
    e.set("inference_queue_depth", {"namespace": ns, "pod": "p"}, 11)
    e.set("gpu_sm_active_ratio", {"namespace": ns, "pod": "p", "gpu": "0"}, 0.9)
    e.set("gpu_utilization_ratio", {"namespace": ns, "pod": "p", "gpu": "0"}, 0.25)
    until(world, f'{{namespace="{ns}"}}', 7)
    signals = (QUEUE_DEPTH, SM_ACTIVE, UTILIZATION)  # the work signals: test_work_series.py
    snaps = source(world, kind).fetch_signals(signals, [ns])
    now = time.time()
    got = {s: snaps[s].for_pods(ns, ["p"], 30, now).per_pod["p"] for s in signals}
    if kind == "dcgm":
        assert got == {SM_ACTIVE: pytest.approx(40.0), UTILIZATION: pytest.approx(55.0),
                       QUEUE_DEPTH: 11}
    else:  # vLLM replaces only the queue; the GPU signals stay ours
        assert got == {QUEUE_DEPTH: 5, SM_ACTIVE: pytest.approx(90.0),
                       UTILIZATION: pytest.approx(25.0)}


def test_escaped_label_values_match_exactly(world: World) -> None:
    """A value with a quote, a backslash and a regex metacharacter reaches Prometheus as
    a literal: it matches its own series and nothing else."""
    e = world.exposition
    weird = 'we"ird\\x.y'
    e.set("escape_probe", {"namespace": "esc", "pod": "p", "team": weird}, 1)
    e.set("escape_probe", {"namespace": "esc", "pod": "p", "team": "wexirdxxxy"}, 2)
    until(world, 'escape_probe{namespace="esc"}', 2)
    src = source(world)
    exact = src.query_value(f"sum({promql.selector('escape_probe', [promql.matcher('team', weird)])})")
    as_regex = src.query_value(f"sum({promql.selector('escape_probe', [promql.any_of('team', [weird, 'zz'])])})")
    assert exact.value == 1 and as_regex.value == 1


@pytest.mark.parametrize("query, error", [
    pytest.param("sum(no_such_metric_anywhere)", "no data", id="empty-vector-is-no-data-not-zero"),
    pytest.param('inference_queue_depth{namespace="join"}', "series; expected one number", id="several-series"),
    pytest.param("sum(", "HTTP 400: invalid parameter", id="parse-error-in-words"),
])
def test_custom_query_errors(world: World, query: str, error: str) -> None:
    until(world, 'inference_queue_depth{namespace="join"}', 2)
    with pytest.raises(MetricsError, match=error):
        source(world).query_value(query)


def test_custom_query_value_and_scalar(world: World) -> None:
    src = source(world)
    assert src.query_value("vector(2500)").value == 2500
    assert src.query_value("scalar(vector(3))").value == 3
    now = time.time()
    assert observe_value(src, "vector(12)", 30, now).value == 12
    assert observe_value(src, "vector(0) / 0", 30, now).error == "query returned nan"


def test_prometheus_down_is_an_error_never_zero() -> None:
    src = PrometheusSource(PrometheusSettings(f"http://127.0.0.1:{free_port()}", **FAST))  # type: ignore[arg-type]
    started = time.monotonic()
    snaps = src.fetch_signals([QUEUE_DEPTH, SM_ACTIVE], ["a"])
    for snap in snaps.values():
        assert snap.samples == {} and snap.error is not None and "cannot connect to Prometheus" in snap.error
        obs = snap.for_pods("a", ["p1"], 30, time.time())
        assert obs.error is not None and obs.per_pod == {} and obs.value is None
    with pytest.raises(MetricsError, match="cannot connect"):
        src.query_value("vector(1)")
    assert time.monotonic() - started < 1.0  # refused at once, no hidden 6 s of retries


def test_a_prometheus_that_hangs_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        src = PrometheusSource(PrometheusSettings(url, timeout_seconds=0.3, retries=0))
        started = time.monotonic()
        with pytest.raises(MetricsError, match="did not answer in time"):
            src.query_value("vector(1)")
        assert 0.25 < time.monotonic() - started < 2.0


@pytest.fixture
def flaky() -> Iterator[tuple[str, list[int]]]:
    """An HTTP server answering 503 twice, then a good vector; records each hit."""
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            if len(hits) <= 2:
                body, code = b"overloaded", 503
            else:
                body = (b'{"status":"success","data":{"resultType":"vector","result":'
                        b'[{"metric":{},"value":[1700000000.0,"42"]}]}}')
                code = 200
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_503_is_retried_with_backoff(flaky: tuple[str, list[int]]) -> None:
    url, hits = flaky
    src = PrometheusSource(PrometheusSettings(url, timeout_seconds=2, retries=2, backoff_seconds=0.01))
    assert src.query_value("vector(42)").value == 42
    assert len(hits) == 3


def test_503_beyond_the_retries_is_an_error(flaky: tuple[str, list[int]]) -> None:
    url, hits = flaky
    src = PrometheusSource(PrometheusSettings(url, timeout_seconds=2, retries=1, backoff_seconds=0.01))
    with pytest.raises(MetricsError, match="HTTP 503: overloaded"):
        src.query_value("vector(42)")
    assert len(hits) == 2
