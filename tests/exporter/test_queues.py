"""Queue depth from real HTTP model servers on 127.0.0.1 (tests/fakes/model_servers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.errors import TargetError
from exporter.queues import QueueReader, reading_from_text, select_lines, sums_by_name
from exporter.snapshot import QueueReading
from exporter.targets import QueueTarget, parse_target
from simulations.cluster.model_servers import ModelServer


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, ModelServer]]:
    """One of each kind, 7 waiting and 3 running."""
    started = {
        k: ModelServer(k, waiting=7, running=3).start()
        for k in ("vllm", "tgi", "triton", "sglang", "custom", "garbage")
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
    assert result.readings == (QueueReading("serving", f"{kind}-0", depth, running),)


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
        assert reader.read([target]).readings == (QueueReading("serving", "p", 12.0, 5.0),)
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
