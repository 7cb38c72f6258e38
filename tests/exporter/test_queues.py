"""Queue depth, token work, KV-cache use and latency histograms from real HTTP model
servers on 127.0.0.1 (simulations/cluster/model_servers.py), each serving its real names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.errors import TargetError
from exporter.queues import QueueReader, histogram, reading_from_text, samples_by_name, select_lines, sums_by_name
from exporter.snapshot import HistogramReading, QueueReading
from exporter.targets import SERVERS, QueueTarget, parse_target
from simulations.cluster.model_servers import ModelServer, Work


def work() -> Work:
    """1,200 prompt and 300 generated tokens so far, a quarter of the KV cache in use,
    three first tokens after 0.05, 0.3 and 4 s, two waits of 0.2 and 0.9 s."""
    return Work(
        prompt_tokens=1200, generation_tokens=300, kv_cache_usage=0.25, ttft_s=[0.05, 0.3, 4.0], queue_time_s=[0.2, 0.9]
    )


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, ModelServer]]:
    """One of each kind, 7 waiting and 3 running, with the same work (:data:`WORK`)."""
    started = {
        k: ModelServer(k, waiting=7, running=3, work=work()).start()
        for k in ("vllm", "vllm-v0", "tgi", "triton", "sglang", "custom", "garbage")
    }
    started["error"] = ModelServer("vllm", status=500).start()
    yield started
    for s in started.values():
        s.stop()


@pytest.fixture(scope="module")
def reader() -> Iterator[QueueReader]:
    r = QueueReader(timeout_s=1.0)
    yield r
    r.close()


@pytest.mark.parametrize(
    "kind, fragment, depth, running",
    [
        pytest.param("vllm", "#vllm", 7.0, 3.0, id="vllm"),
        pytest.param("tgi", "#tgi", 7.0, 3.0, id="tgi-queue-and-batch"),
        pytest.param("triton", "#triton", 7.0, None, id="triton-summed-over-models-no-running"),  # 5 + 2 = 7
        pytest.param("sglang", "#sglang", 7.0, 3.0, id="sglang"),
        pytest.param("custom", "#my_app_pending_requests", 7.0, None, id="custom-metric-not-its-_bucket"),
        pytest.param("vllm", "", 7.0, 3.0, id="vllm-detected"),
        pytest.param("tgi", "", 7.0, 3.0, id="tgi-detected"),
        pytest.param("triton", "", 7.0, None, id="triton-detected"),
        pytest.param("sglang", "", 7.0, 3.0, id="sglang-detected"),
    ],
)
def test_each_server_type(
    servers: dict[str, ModelServer], reader: QueueReader, kind: str, fragment: str, depth: float, running: float | None
) -> None:
    result = reader.read([parse_target(f"serving/{kind}-0={servers[kind].url}{fragment}")])
    assert result.errors == {}, result.problems
    (reading,) = result.readings
    assert (reading.namespace, reading.pod, reading.queue_depth, reading.running_requests) == (
        "serving",
        f"{kind}-0",
        depth,
        running,
    )


def le(h: HistogramReading | None, bound: float) -> float:
    """The cumulative count at the server's first bound >= ``bound`` (TGI's bounds are
    0.00015 x 1.5^i, so 1.0 reads its 1.12 bucket)."""
    assert h is not None
    return next(n for b, n in h.buckets if b >= bound)


@pytest.mark.parametrize(
    "kind, fragment, prompt, generation, kv, has_ttft, has_queue_time",
    [
        pytest.param("vllm", "#vllm", 1200.0, 300.0, 0.25, True, True, id="vllm-v1"),
        pytest.param("vllm", "", 1200.0, 300.0, 0.25, True, True, id="vllm-detected"),
        pytest.param("vllm-v0", "#vllm", 1200.0, 300.0, 0.25, True, True, id="vllm-old-gpu_cache_usage_perc"),
        # TGI: tokens from the _sum of its per-request token histograms; no KV gauge, no TTFT
        pytest.param("tgi", "#tgi", 1200.0, 300.0, None, False, True, id="tgi-token-histogram-sums"),
        # Triton: KV from kv_cache_block_type="fraction" only (used=1560 blocks is not a ratio)
        pytest.param("triton", "#triton", None, None, 0.25, False, False, id="triton-kv-fraction-only"),
        pytest.param("sglang", "#sglang", 1200.0, 300.0, 0.25, True, True, id="sglang"),
        pytest.param("custom", "#my_app_pending_requests", None, None, None, False, False, id="custom-queue-only"),
    ],
)
def test_work_signals_of_each_server_type(
    servers: dict[str, ModelServer],
    reader: QueueReader,
    kind: str,
    fragment: str,
    prompt: float | None,
    generation: float | None,
    kv: float | None,
    has_ttft: bool,
    has_queue_time: bool,
) -> None:
    result = reader.read([parse_target(f"serving/p={servers[kind].url}{fragment}")])
    assert result.errors == {}, result.problems
    (r,) = result.readings
    assert (r.prompt_tokens_total, r.generation_tokens_total, r.kv_cache_usage_ratio) == (prompt, generation, kv)
    assert (r.time_to_first_token is not None, r.queue_time is not None) == (has_ttft, has_queue_time)
    if has_ttft:  # first tokens at 0.05, 0.3 and 4 s; the server's own bounds
        assert (le(r.time_to_first_token, 0.1), le(r.time_to_first_token, 0.5), le(r.time_to_first_token, 5.0)) == (
            1.0,
            2.0,
            3.0,
        )
        assert r.time_to_first_token is not None and r.time_to_first_token.sum == pytest.approx(4.35)
    if has_queue_time:  # waits of 0.2 and 0.9 s
        assert r.queue_time is not None and r.queue_time.count == 2.0
        assert r.queue_time.sum == pytest.approx(1.1)
        assert le(r.queue_time, 1.0) == 2.0


def test_a_restarted_server_reports_its_counter_from_zero(servers: dict[str, ModelServer], reader: QueueReader) -> None:
    """The exporter passes the server's total on as it is: after a restart (1,200 -> 40)
    the reading is 40, not a difference and not held at 1,200; ``rate()`` treats the
    drop as a counter reset."""
    server = ModelServer("vllm", work=Work(prompt_tokens=1200)).start()
    try:
        target = parse_target(f"serving/p={server.url}#vllm")
        assert reader.read([target]).readings[0].prompt_tokens_total == 1200.0
        server.work = Work(prompt_tokens=40)
        assert reader.read([target]).readings[0].prompt_tokens_total == 40.0
    finally:
        server.stop()


@pytest.mark.parametrize(
    "kind, fragment, error, words",
    [
        pytest.param("garbage", "", "queue_parse", "not Prometheus text", id="garbage-body"),
        pytest.param("error", "#vllm", "queue_fetch", "HTTP 500", id="http-500"),
        pytest.param("vllm", "#tgi", "queue_parse", "tgi_queue_size not exposed", id="wrong-server-type"),
        pytest.param("custom", "", "queue_parse", "no known queue metric", id="nothing-to-detect"),
    ],
)
def test_broken_targets_count_their_error(
    servers: dict[str, ModelServer], reader: QueueReader, kind: str, fragment: str, error: str, words: str
) -> None:
    target = parse_target(f"serving/p={servers[kind].url}{fragment}")
    result = reader.read([target])
    assert result.readings == ()
    assert result.errors == {error: 1}
    assert words in result.problems[target.describe()]


def test_closed_port_is_a_fetch_error(reader: QueueReader) -> None:
    from simulations.cluster.prometheus import free_port

    result = reader.read([parse_target(f"serving/p=http://127.0.0.1:{free_port()}/metrics")])
    assert result.errors == {"queue_fetch": 1} and "Connection refused" in next(iter(result.problems.values()))


def test_a_slow_target_loses_only_its_own_series(servers: dict[str, ModelServer]) -> None:
    """The round returns with the fast targets' readings while the slow server is still
    holding its response: we did not wait for it beyond our timeout."""
    slow = ModelServer("vllm", waiting=99, delay_s=5.0).start()
    responded: list[int] = []
    reader = QueueReader(timeout_s=0.3)
    try:
        targets = [parse_target(f"serving/{k}={servers[k].url}") for k in ("vllm", "tgi", "sglang")]
        targets.append(parse_target(f"serving/slow={slow.url}#vllm"))
        result = reader.read(targets)
        responded.append(slow.requests)
        assert sorted(r.pod for r in result.readings) == ["sglang", "tgi", "vllm"]
        assert result.errors == {"queue_fetch": 1}
        assert "timed out" in result.problems[targets[-1].describe()]
        assert responded == [1]  # the slow server got the request and was still sleeping
    finally:
        reader.close()
        slow.stop()


def test_values_follow_the_server(servers: dict[str, ModelServer], reader: QueueReader) -> None:
    server = ModelServer("vllm", waiting=0, running=0).start()
    try:
        target = parse_target(f"serving/p={server.url}")
        assert reader.read([target]).readings[0].queue_depth == 0.0  # an empty queue is a real 0
        server.waiting, server.running = 12, 5
        (reading,) = reader.read([target]).readings
        assert (reading.queue_depth, reading.running_requests) == (12.0, 5.0)
    finally:
        server.stop()


# -- parsing without HTTP --------------------------------------------------------------
def test_select_lines_keeps_only_the_wanted_names() -> None:
    text = '# TYPE foo gauge\nfoo 1\nfoo_bucket{le="1"} 9\nfoo{a="x"} 2\nfoobar 5\n# HELP foobar x\nbar 3\n'
    assert select_lines(text, ["foo"]) == '# TYPE foo gauge\nfoo 1\nfoo{a="x"} 2\n'


def test_sums_drop_nan_samples() -> None:
    assert sums_by_name('q{m="a"} 3\nq{m="b"} NaN\nq{m="c"} 2\n', ["q"]) == {"q": 5.0}


def test_reading_from_text_with_running_absent() -> None:
    target = QueueTarget("s", "p", "http://x/metrics", None)
    assert reading_from_text(target, "vllm:num_requests_waiting 4\n") == QueueReading("s", "p", 4.0, None)
    with pytest.raises(TargetError) as err:
        reading_from_text(target, "")
    assert err.value.kind == "queue_parse"


def test_every_server_row_reads_only_names_it_declares() -> None:
    """The vLLM row: the V1 KV gauge first, the pre-0.9 name as the fallback."""
    assert [sel.name for sel in SERVERS["vllm"].kv_cache] == ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"]
    assert SERVERS["tgi"].kv_cache == () and SERVERS["triton"].prompt_tokens is None


V1_TWO_ENGINES = """\
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 2.0
vllm:num_requests_waiting{engine="1",model_name="m"} 1.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.9
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.3
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="m"} 1000.0
vllm:prompt_tokens_total{engine="1",model_name="m"} 500.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="m"} 3.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="1.0",model_name="m"} 3.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 4.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 6.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.5",model_name="m"} 4.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="+Inf",model_name="m"} 5.0
vllm:time_to_first_token_seconds_sum{engine="1",model_name="m"} 2.5
"""


def test_two_engines_make_one_pod() -> None:
    """Counts and counters add up over engines (2 + 1 waiting; 1,000 + 500 tokens), the
    KV ratio is the fuller engine's (0.9, not 1.2), and the histograms merge on the
    bounds both have (0.5 and +Inf: 3 + 4 and 4 + 5; 1.0 only engine 0 has)."""
    r = reading_from_text(QueueTarget("s", "p", "http://x/metrics", SERVERS["vllm"]), V1_TWO_ENGINES)
    assert (r.queue_depth, r.prompt_tokens_total, r.kv_cache_usage_ratio) == (3.0, 1500.0, 0.9)
    assert r.time_to_first_token == HistogramReading(((0.5, 7.0), (float("inf"), 9.0)), 8.5)
    assert r.generation_tokens_total is None and r.queue_time is None  # not in the text: absent, not 0


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(
            'h_bucket{le="1"} 2\nh_bucket{le="+Inf"} 3\nh_sum 4\n',
            HistogramReading(((1.0, 2.0), (float("inf"), 3.0)), 4.0),
            id="plain",
        ),
        pytest.param('h_bucket{le="1"} 2\nh_sum 4\n', None, id="no-+Inf-is-no-histogram"),
        pytest.param('h_bucket{le="1"} 5\nh_bucket{le="+Inf"} 3\n', None, id="falling-counts-drop-out"),
        pytest.param("h_sum 4\n", None, id="no-buckets"),
    ],
)
def test_histogram_shapes(text: str, expected: HistogramReading | None) -> None:
    assert histogram(samples_by_name(text, ["h_bucket", "h_sum"]), "h") == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("0.0", 0.0, id="empty-cache-is-a-real-0"),
        pytest.param("1.0", 1.0, id="full"),
        pytest.param("42.0", None, id="a-percent-is-not-our-ratio"),
        pytest.param("NaN", None, id="nan-drops-out"),
    ],
)
def test_kv_cache_ratio_range(value: str, expected: float | None) -> None:
    text = f"sglang:num_queue_reqs 0\nsglang:token_usage {value}\n"
    assert (
        reading_from_text(QueueTarget("s", "p", "http://x/metrics", SERVERS["sglang"]), text).kv_cache_usage_ratio
        == expected
    )
