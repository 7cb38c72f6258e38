"""Work and SLO signals against a real Prometheus scraping the servers' real names.

A feeder writes counters that grow at known rates (with explicit sample times, so the
rates are exact), a KV-cache gauge, and histogram ``_sum``/``_count``/``_bucket`` series,
by our exporter's names and by vLLM's; Prometheus scrapes them every second. What is
checked is what only Prometheus can tell: that our ``rate()`` queries parse and give the
per-pod rate, that ``or`` picks vLLM's newer KV-cache name over the older one, and that a
latency comes back as the request-weighted mean over the target's pods, live and through
``record`` into a dry-run.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from autoscaler.cli import main
from autoscaler.core.observe import observe_metric
from autoscaler.metrics.kv_cache_usage import KV_CACHE_USAGE
from autoscaler.metrics.latency import TTFT_COUNT, TTFT_SUM
from autoscaler.metrics.token_throughput import GENERATION_TOKENS_RATE, PROMPT_TOKENS_RATE
from autoscaler.recording.writer import record_rows, write_csv
from autoscaler.sources.base import read_metric, signals_of
from autoscaler.sources.prometheus import PrometheusSettings, PrometheusSource
from autoscaler.sources.signals import series_for
from autoscaler.spec import MetricSpec, MetricTarget, parse_scaler
from tests.sources.conftest import World

POD_A, POD_B = "llm-5c4bd6f7d-x2x9z", "llm-5c4bd6f7d-q8w4t"
OURS, VLLM = "work", "work-vllm"
#: Rate window for these tests: 5 s over a 1 s scrape (the default 60 s needs a minute of history).
WINDOW = 5.0

# (metric, namespace, pod, extra labels) -> growth per second
COUNTERS: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], float] = {
    ("inference_prompt_tokens_total", OURS, POD_A, ()): 1500,
    ("inference_prompt_tokens_total", OURS, POD_B, ()): 500,
    ("inference_generation_tokens_total", OURS, POD_A, ()): 100,
    ("inference_generation_tokens_total", OURS, POD_B, ()): 50,
    ("inference_time_to_first_token_seconds_sum", OURS, POD_A, ()): 5,
    ("inference_time_to_first_token_seconds_count", OURS, POD_A, ()): 10,
    ("inference_time_to_first_token_seconds_bucket", OURS, POD_A, (("le", "+Inf"),)): 10,
    ("inference_time_to_first_token_seconds_sum", OURS, POD_B, ()): 60,
    ("inference_time_to_first_token_seconds_count", OURS, POD_B, ()): 30,
    ("inference_time_to_first_token_seconds_bucket", OURS, POD_B, (("le", "+Inf"),)): 30,
    ("inference_queue_time_seconds_sum", OURS, POD_A, ()): 1,
    ("inference_queue_time_seconds_count", OURS, POD_A, ()): 10,
    ("inference_queue_time_seconds_sum", OURS, POD_B, ()): 3,
    ("inference_queue_time_seconds_count", OURS, POD_B, ()): 30,
    # vLLM: a data-parallel pod, one series per engine
    ("vllm:prompt_tokens_total", VLLM, POD_A, (("engine", "0"),)): 1000,
    ("vllm:prompt_tokens_total", VLLM, POD_A, (("engine", "1"),)): 200,
    ("vllm:time_to_first_token_seconds_sum", VLLM, POD_A, ()): 2,
    ("vllm:time_to_first_token_seconds_count", VLLM, POD_A, ()): 4,
    ("vllm:time_to_first_token_seconds_bucket", VLLM, POD_A, (("le", "0.5"),)): 3,
}
GAUGES = {
    ("inference_kv_cache_usage_ratio", OURS, POD_A): 0.42,
    ("inference_kv_cache_usage_ratio", OURS, POD_B): 0.10,
    ("vllm:kv_cache_usage_perc", VLLM, POD_A): 0.30,
    ("vllm:gpu_cache_usage_perc", VLLM, POD_A): 0.99,  # the older name too: the newer one wins
    ("vllm:gpu_cache_usage_perc", VLLM, POD_B): 0.60,  # only the older name: read
}


@pytest.fixture(scope="module")
def fed(world: World) -> Iterator[World]:
    """Counters growing at their rates, every 0.25 s, until the module ends (at most 600 s)."""
    stop = threading.Event()
    start = time.time()

    def feed() -> None:
        while not stop.is_set() and time.time() < start + 600:
            now = time.time()
            for (metric, ns, pod, extra), rate in COUNTERS.items():
                world.exposition.set(metric, {"namespace": ns, "pod": pod, **dict(extra)},
                                     1_000_000 + rate * (now - start), timestamp=now)
            stop.wait(0.25)

    for (metric, ns, pod), value in GAUGES.items():
        world.exposition.set(metric, {"namespace": ns, "pod": pod}, value)
    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        # 12 s of history: a 5 s window back from each of record's 4 s of points
        world.prometheus.wait_for(f'count_over_time(inference_prompt_tokens_total{{namespace="{OURS}"}}[30s]) >= 12',
                                  timeout=40, predicate=lambda r: len(r) == 2)
        yield world
    finally:
        stop.set()
        thread.join(timeout=5)


def source(world: World, kind: str) -> PrometheusSource:
    settings = PrometheusSettings(world.prometheus.url, timeout_seconds=10.0, retries=0, backoff_seconds=0.0,
                                  rate_window_seconds=WINDOW)
    return PrometheusSource(settings, series_for(kind))


def test_counters_come_back_as_per_pod_rates(fed: World) -> None:
    src = source(fed, "ours")
    before = src.queries
    snaps = src.fetch_signals([PROMPT_TOKENS_RATE, GENERATION_TOKENS_RATE, KV_CACHE_USAGE], [OURS])
    assert src.queries - before == 3  # one per signal, counters included
    now = time.time()
    prompt = snaps[PROMPT_TOKENS_RATE].for_pods(OURS, [POD_A, POD_B], 30, now).per_pod
    assert prompt == {POD_A: pytest.approx(1500, rel=0.03), POD_B: pytest.approx(500, rel=0.03)}
    generation = snaps[GENERATION_TOKENS_RATE].for_pods(OURS, [POD_A, POD_B], 30, now).per_pod
    assert generation == {POD_A: pytest.approx(100, rel=0.03), POD_B: pytest.approx(50, rel=0.03)}
    kv = snaps[KV_CACHE_USAGE].for_pods(OURS, [POD_A, POD_B], 30, now).per_pod
    assert kv == {POD_A: pytest.approx(42), POD_B: pytest.approx(10)}
    # the sample time is the counter's last scrape, not the evaluation time of rate()
    assert now - 5 < snaps[PROMPT_TOKENS_RATE].samples[(OURS, POD_A)].timestamp <= now + 1


@pytest.mark.parametrize("signal, mean", [
    # (5 + 60) / (10 + 30) = 1.625 s, weighted by requests
    pytest.param("ttft", 1.625, id="ttft"),
    # (1 + 3) / (10 + 30) = 0.1 s
    pytest.param("queueTime", 0.1, id="queue-time"),
])
def test_a_latency_is_the_mean_over_the_targets_pods(fed: World, signal: str, mean: float) -> None:
    metric = MetricSpec(type="Latency", signal=signal, target=MetricTarget(value=1.0))
    src = source(fed, "ours")
    snaps = src.fetch_signals(signals_of(metric), [OURS])
    reading = read_metric(metric, snaps, src, OURS, [POD_A, POD_B])
    got = observe_metric(metric, reading, [POD_A, POD_B], 30, time.time())
    assert got.error is None and got.value == pytest.approx(mean, rel=0.03)


def test_vllm_names_sum_engines_and_prefer_the_newer_kv_cache_name(fed: World) -> None:
    src = source(fed, "vllm")
    snaps = src.fetch_signals([PROMPT_TOKENS_RATE, KV_CACHE_USAGE, TTFT_SUM, TTFT_COUNT], [VLLM])
    now = time.time()
    # engines 0 and 1 of one pod: 1,000 + 200 = 1,200 tokens/s
    assert snaps[PROMPT_TOKENS_RATE].for_pods(VLLM, [POD_A], 30, now).per_pod == \
        {POD_A: pytest.approx(1200, rel=0.03)}
    assert snaps[KV_CACHE_USAGE].for_pods(VLLM, [POD_A, POD_B], 30, now).per_pod == \
        {POD_A: pytest.approx(30), POD_B: pytest.approx(60)}
    metric = MetricSpec(type="Latency", signal="ttft", target=MetricTarget(value=1.0))
    got = observe_metric(metric, read_metric(metric, snaps, src, VLLM, [POD_A]), [POD_A], 30, now)
    assert got.value == pytest.approx(0.5, rel=0.03)  # 2 / 4


SCALER = f"""\
apiVersion: gpuautoscaler.io/v1alpha1
kind: GPUScaler
metadata: {{name: llm, namespace: {OURS}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: llm}}
  maxReplicas: 8
  pollingIntervalSeconds: 1
  metrics:
    - type: TokenThroughput
      signal: prompt
      target: {{averageValue: 450}}
    - type: KVCacheUsage
      target: {{averageUtilization: 80}}
    - type: Latency
      signal: ttft
      target: {{value: 1}}
"""


def test_record_writes_rates_and_the_latency_mean_and_the_dry_run_replays_them(fed: World, tmp_path: Path) -> None:
    scaler = parse_scaler(yaml.safe_load(SCALER))
    src = source(fed, "ours")
    end = float(int(time.time()))
    rows = record_rows(src, scaler, dict(series_for("ours")), end - 4, end, 1, rate_window=WINDOW)
    prompt = {(r.pod, r.timestamp): r.value for r in rows if r.metric == "prompt_tokens_rate"}
    assert {pod for pod, _ in prompt} == {POD_A, POD_B}
    assert all(v == pytest.approx(1500 if pod == POD_A else 500, rel=0.05) for (pod, _), v in prompt.items()), prompt
    ttft = [r for r in rows if r.metric == "ttft_seconds"]
    assert ttft and all(r.pod == "" and r.value == pytest.approx(1.625, rel=0.05) for r in ttft)
    assert {r.value for r in rows if r.metric == "kv_cache_usage"} == {42.0, 10.0}

    spec_path, csv_path = tmp_path / "scaler.yaml", tmp_path / "rec.csv"
    spec_path.write_text(SCALER)
    write_csv(rows, csv_path)
    replay = CliRunner().invoke(main, ["dry-run", str(spec_path), str(csv_path), "--output", "json"])
    assert replay.exit_code == 0, replay.output
    last = [json.loads(line) for line in replay.output.splitlines() if line.startswith("{")][-1]
    # (1,500 + 500) / 2 = 1,000 tokens/s a pod against 450: ceil(2.22 x 2) = 5 (not on a boundary:
    # the rates come back as 1,000.04, and 400 would ask ceil(2.5001 x 2) = 6)
    assert last["metrics"]["prompt_tokens_rate"]["value"] == pytest.approx(1000, rel=0.05)
    assert last["metrics"]["ttft_seconds"]["value"] == pytest.approx(1.625, rel=0.05)
    assert last["metrics"]["kv_cache_usage"]["value"] == 26  # trunc((42 + 10) / 2)
    assert last["desired_replicas"] == 5, json.dumps([last["metrics"], last["reason"]])
