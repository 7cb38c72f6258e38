"""/metrics, /healthz and /readyz on one port, and the address parser, as tables."""
from __future__ import annotations

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
