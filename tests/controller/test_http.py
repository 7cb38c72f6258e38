"""/metrics, /healthz and /readyz on one port, and the address parser, as tables."""
from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from autoscaler.controller import HttpEndpoints, parse_address
from autoscaler.telemetry import ScalerView, Telemetry


@pytest.mark.parametrize("address, parsed", [
    pytest.param(":8080", ("", 8080), id="all-interfaces"),
    pytest.param("127.0.0.1:0", ("127.0.0.1", 0), id="free-port"),
    pytest.param("[::1]:9000", ("::1", 9000), id="ipv6"),
])
def test_parse_address(address: str, parsed: tuple[str, int]) -> None:
    assert parse_address(address) == parsed


@pytest.mark.parametrize("address", ["8080", "host:", ":http", ":70000"])
def test_parse_address_refuses(address: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address(address)


@pytest.fixture
def served() -> Iterator[tuple[HttpEndpoints, dict[str, bool]]]:
    state = {"healthy": True, "ready": False}
    telemetry = Telemetry()
    telemetry.record(ScalerView("serving", "llm", 2, 3, 1, 8, True))
    endpoints = HttpEndpoints("127.0.0.1:0", telemetry, lambda: state["healthy"], lambda: state["ready"])
    endpoints.start()
    yield endpoints, state
    endpoints.stop()


def _get(endpoints: HttpEndpoints, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{endpoints.port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_endpoints(served: tuple[HttpEndpoints, dict[str, bool]]) -> None:
    endpoints, state = served
    code, text = _get(endpoints, "/metrics")
    assert code == 200 and 'gpu_autoscaler_desired_replicas{namespace="serving",scaler="llm"} 3.0' in text
    assert _get(endpoints, "/healthz")[0] == 200
    assert _get(endpoints, "/readyz")[0] == 503  # not synced yet
    state.update(healthy=False, ready=True)
    assert _get(endpoints, "/healthz") == (503, "loop stalled\n")
    assert _get(endpoints, "/readyz")[0] == 200
    assert _get(endpoints, "/nothing")[0] == 404


def _status_over(family: socket.AddressFamily, host: str, port: int) -> int:
    with socket.create_connection((host, port), timeout=5) if family == socket.AF_INET else \
            socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        if family == socket.AF_INET6:
            sock.settimeout(5)
            sock.connect((host, port))
        sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        return int(sock.recv(64).split()[1])


@pytest.mark.skipif(not socket.has_ipv6, reason="this Python has no IPv6")
@pytest.mark.parametrize("address, reachable", [
    pytest.param("[::1]:0", [(socket.AF_INET6, "::1")], id="ipv6 loopback"),
    pytest.param("127.0.0.1:0", [(socket.AF_INET, "127.0.0.1")], id="ipv4 loopback"),
    pytest.param(":0", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")], id="all: dual stack"),
])
def test_endpoints_listen_where_the_address_says(address: str,
                                                 reachable: list[tuple[socket.AddressFamily, str]]) -> None:
    """The controller binds as the exporter does (exporter/listen.py): ``[::1]:9000`` is
    accepted by the flag and served, not refused at bind time."""
    endpoints = HttpEndpoints(address, Telemetry(), lambda: True, lambda: True)
    endpoints.start()
    try:
        assert [_status_over(family, host, endpoints.port) for family, host in reachable] == [200] * len(reachable)
    finally:
        endpoints.stop()
