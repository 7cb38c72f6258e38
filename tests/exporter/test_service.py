"""The whole exporter in-process: fake NVML module, real kubelet gRPC on a unix socket,
real model servers, scraped over real HTTP. Ticks are driven by hand (interval 1 h)
so every assertion sees a known snapshot."""

from __future__ import annotations

import http.client
import itertools
import logging
import math
import select
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import ExporterConfig
from exporter.service import Exporter
from exporter.targets import parse_target
from simulations.cluster.model_servers import ModelServer
from simulations.cluster.nvml import FakeNvml, h200s
from tests.fakes.kubelet import FakeKubelet, gpu_pod

UUID = "GPU-00000000-0000-0000-0000-0000000000{:02d}"


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def series(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples
    }


def value(text: str, name: str, **labels: str) -> list[float]:
    return [v for (n, ls), v in series(text).items() if n == name and labels.items() <= dict(ls).items()]


@pytest.fixture
def kubelet(tmp_path: Path) -> Iterator[FakeKubelet]:
    with FakeKubelet(tmp_path / "kubelet.sock") as k:
        yield k


@pytest.fixture
def vllm() -> Iterator[ModelServer]:
    with ModelServer("vllm", waiting=7, running=3) as s:
        yield s


def config(kubelet: FakeKubelet, *urls: str) -> ExporterConfig:
    return ExporterConfig(
        listen_host="127.0.0.1", listen_port=0, interval_s=3600.0, node="gpu-node-1",
        kubelet_socket=kubelet.socket_path, targets=tuple(parse_target(u) for u in urls),
    )  # fmt: skip


def test_metrics_and_health_over_http(kubelet: FakeKubelet, vllm: ModelServer) -> None:
    fake = FakeNvml(h200s(2))
    fake.gpus[0].utilization, fake.gpus[0].sm_util = 97, 78.0
    kubelet.pods = [gpu_pod("serving", "llm-0", UUID.format(0), container="vllm")]
    with Exporter(config(kubelet, f"serving/llm-0={vllm.url}"), nvml_lib=fake) as ex:
        ex.thread.tick_once()  # a second tick: GPM has its two samples
        status, text = get(ex.url + "/metrics")
        assert status == 200
        assert value(
            text,
            "gpu_utilization_ratio",
            gpu="0",
            pod="llm-0",
            namespace="serving",
            container="vllm",
            node="gpu-node-1",
        ) == [0.97]
        assert value(text, "gpu_sm_active_ratio", gpu="0", uuid=UUID.format(0), model="NVIDIA H200") == [0.78]
        assert value(text, "gpu_up", gpu="1", pod="") == [1.0]  # unallocated: empty pod labels
        assert value(text, "inference_queue_depth", namespace="serving", pod="llm-0") == [7.0]
        assert value(text, "inference_running_requests", namespace="serving", pod="llm-0") == [3.0]
        assert get(ex.url + "/healthz") == (200, "ok: 2 GPU devices, 1 queue targets\n")
        assert get(ex.url + "/nope")[0] == 404


def test_kubelet_down_gpu_metrics_flow_without_pod_labels(kubelet: FakeKubelet) -> None:
    kubelet.pods = [gpu_pod("serving", "llm-0", UUID.format(0))]
    kubelet.failing = True
    with Exporter(config(kubelet), nvml_lib=FakeNvml(h200s(1))) as ex:
        _, text = get(ex.url + "/metrics")
        assert value(text, "gpu_up", gpu="0") == [1.0]
        assert value(text, "gpu_up", pod="llm-0") == []
        assert value(text, "gpu_exporter_errors_total", kind="podresources") == [1.0]
        kubelet.failing = False
        ex.thread.tick_once()
        _, text = get(ex.url + "/metrics")
        assert value(text, "gpu_up", pod="llm-0") == [1.0]  # labels back on the next tick
        assert value(text, "gpu_exporter_errors_total", kind="podresources") == [1.0]  # counter kept


def test_one_lost_gpu(kubelet: FakeKubelet) -> None:
    fake = FakeNvml(h200s(3))
    with Exporter(config(kubelet), nvml_lib=fake) as ex:
        fake.fail("nvmlDeviceGetUtilizationRates", gpu=2)
        ex.thread.tick_once()
        _, text = get(ex.url + "/metrics")
        assert [value(text, "gpu_up", gpu=str(i))[0] for i in range(3)] == [1.0, 1.0, 0.0]
        assert value(text, "gpu_utilization_ratio", gpu="2") == []
        assert value(text, "gpu_exporter_errors_total", kind="nvml") == [1.0]
        assert get(ex.url + "/healthz")[0] == 200  # one GPU down is a metric, not an unhealthy exporter


def test_no_nvml_healthz_fails_with_the_reason(kubelet: FakeKubelet) -> None:
    with Exporter(config(kubelet), nvml_lib=FakeNvml([], library_missing=True)) as ex:
        assert get(ex.url + "/healthz") == (503, "NVML unavailable: NVML Shared Library Not Found (NVML error 12)\n")
        status, text = get(ex.url + "/metrics")
        assert status == 200 and value(text, "gpu_up") == []
        assert value(text, "gpu_exporter_errors_total", kind="nvml") == [0.0]


def test_a_stalled_sampler_fails_healthz_and_drops_gpu_series(kubelet: FakeKubelet) -> None:
    clock = Clock()
    cfg = replace(config(kubelet), interval_s=5.0)  # max age max(3 x 5, 15) = 15 s
    with Exporter(cfg, nvml_lib=FakeNvml(h200s(1)), clock=clock) as ex:
        assert get(ex.url + "/healthz")[0] == 200
        clock.t += 16  # no tick for 16 s
        status, reason = get(ex.url + "/healthz")
        assert status == 503 and reason.startswith("sampler stalled: last sample 16s ago")
        _, text = get(ex.url + "/metrics")
        assert value(text, "gpu_up") == [] and value(text, "gpu_exporter_errors_total", kind="nvml") == [0.0]


# --- The HTTP server under clients that misbehave (real sockets on 127.0.0.1) ---------


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def closed_by_server_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes (EOF or reset) before ``seconds`` pass."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


def served_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("gpu-exporter-http-"))


def test_head_answers_like_get_without_a_body(kubelet: FakeKubelet) -> None:
    with Exporter(config(kubelet), nvml_lib=FakeNvml(h200s(2))) as ex:
        for path in ("/metrics", "/healthz", "/nope"):
            conn = http.client.HTTPConnection(ex.url.removeprefix("http://"), timeout=5)
            conn.request("GET", path)
            got = conn.getresponse()
            body = got.read()
            conn.request("HEAD", path)  # the same connection: HEAD must not break keep-alive
            head = conn.getresponse()
            assert (head.status, head.read()) == (got.status, b"")
            assert head.getheader("Content-Length") == str(len(body))
            assert head.getheader("Content-Type") == got.getheader("Content-Type")
            conn.close()


def test_an_idle_connection_is_closed_after_the_idle_timeout(kubelet: FakeKubelet) -> None:
    cfg = replace(config(kubelet), http_idle_timeout_s=0.5)
    with Exporter(cfg, nvml_lib=FakeNvml(h200s(1))) as ex:
        with connect(ex.url) as idle:
            assert closed_by_server_within(idle, 5.0)
        # a connection in use is not cut: two requests 0.3 s apart on one connection
        conn = http.client.HTTPConnection(ex.url.removeprefix("http://"), timeout=5)
        for _ in range(2):
            conn.request("GET", "/healthz")
            assert conn.getresponse().read() == b"ok: 1 GPU devices, 0 queue targets\n"
            time.sleep(0.3)
        conn.close()


def test_a_request_trickled_byte_by_byte_is_cut_at_the_idle_timeout(kubelet: FakeKubelet) -> None:
    """Each byte arrives well inside the timeout, yet the request as a whole must arrive
    within it: 0.5 s, checked every 0.2 s, so the server hangs up by about 0.7 s."""
    cfg = replace(config(kubelet), http_idle_timeout_s=0.5)
    with Exporter(cfg, nvml_lib=FakeNvml(h200s(1))) as ex, connect(ex.url) as slow:
        t0 = time.monotonic()
        cut = False
        for byte in itertools.islice(itertools.cycle(b"GET /metrics HTTP/1.1\r\nX-Slow: yes\r\n"), 50):  # 5 s
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                cut = True
                break
            if select.select([slow], [], [], 0.1)[0]:  # the server spoke or hung up
                cut = closed_by_server_within(slow, 1.0)
                break
        assert cut and time.monotonic() - t0 < 3.0


def test_connections_beyond_the_cap_are_refused_and_threads_stay_bounded(
    kubelet: FakeKubelet, caplog: pytest.LogCaptureFixture
) -> None:
    """200 idle sockets held 203 threads before; now at most ``http_max_connections``
    are served at once, one more is answered 503 and closed, and the refusals cost one
    log line a minute, not one each."""
    cfg = replace(config(kubelet), http_max_connections=4, http_idle_timeout_s=30.0)
    with Exporter(cfg, nvml_lib=FakeNvml(h200s(1))) as ex:
        idle = [connect(ex.url) for _ in range(40)]
        try:
            time.sleep(0.5)  # let the server accept them all
            assert served_threads() <= 4
            with connect(ex.url) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                try:
                    answer = extra.recv(100)
                except ConnectionError:
                    answer = b""  # refused by a reset: also not served
                assert not answer.startswith(b"HTTP/1.1 200")
                assert answer == b"" or answer.startswith(b"HTTP/1.1 503")
        finally:
            for s in idle:
                s.close()
        deadline = time.monotonic() + 5
        while get(ex.url + "/healthz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)  # the slots come back as the server notices the closed sockets
        assert get(ex.url + "/healthz")[0] == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "HTTP" in r.getMessage()]
    assert warnings == ["HTTP: at the limit of 4 connections, answering 503; 1 refused since this line was last logged"]


def test_clients_that_hang_up_early_leave_no_traceback(
    kubelet: FakeKubelet, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with Exporter(config(kubelet), nvml_lib=FakeNvml(h200s(8))) as ex:
        for _ in range(30):
            s = connect(ex.url)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # a reset, before the answer is read
        assert get(ex.url + "/healthz")[0] == 200
        time.sleep(0.2)
    assert "Traceback" not in capfd.readouterr().err
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


class Broken:
    """A collector that fails, as a bug in one would: a real error, one line each time."""

    def collect(self) -> Iterator[object]:
        raise RuntimeError("collector bug")


def test_a_failing_scrape_is_a_500_and_one_log_line(
    kubelet: FakeKubelet, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with Exporter(config(kubelet), nvml_lib=FakeNvml(h200s(1))) as ex:
        ex.registry.register(Broken())  # type: ignore[arg-type]
        caplog.clear()
        assert get(ex.url + "/metrics")[0] == 500
        assert get(ex.url + "/healthz")[0] == 200
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["GET /metrics failed: RuntimeError: collector bug"]
    assert all(r.exc_info is None for r in errors)
    assert "Traceback" not in capfd.readouterr().err


def test_a_dead_sampler_thread_fails_healthz(kubelet: FakeKubelet, caplog: pytest.LogCaptureFixture) -> None:
    """An interval of inf (refused by the CLI, but say a config got past it) ends the
    sampling thread at its first wait; the server must not go on answering 200."""
    cfg = replace(config(kubelet), interval_s=math.inf)
    with Exporter(cfg, nvml_lib=FakeNvml(h200s(1)), clock=Clock()) as ex:
        deadline = time.monotonic() + 5
        while ex.failure() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        status, reason = get(ex.url + "/healthz")
        assert status == 503 and reason.startswith("sampler thread died: OverflowError"), reason
    assert any("sampler thread died" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_dual_stack_on_the_ipv6_wildcard_serves_ipv4_loopback_too(kubelet: FakeKubelet) -> None:
    cfg = replace(config(kubelet), listen_host="::")
    with Exporter(cfg, nvml_lib=FakeNvml(h200s(1))) as ex:
        port = ex.server.address[1]
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert get(f"http://[::1]:{port}/healthz")[0] == 200
        assert ex.url == f"http://[::1]:{port}"
