"""KubeClient: our timeouts, our error kinds, our retries — through the official client over HTTP."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from autoscaler.kube.client import KubeClient, connect
from autoscaler.kube.errors import (
    ConfigError,
    Forbidden,
    KubeError,
    NotFound,
    ServerError,
    TooManyRequests,
    Unavailable,
)
from autoscaler.kube.scale import KubeScaleClient
from autoscaler.spec import ScaleTargetRef
from simulations.cluster.apiserver import ApiServer

WEB = ScaleTargetRef("apps/v1", "Deployment", "web")
SCALE = r"/deployments/web/scale$"


def scale_of(kube: KubeClient) -> int:
    return KubeScaleClient(kube).get_scale("ns", WEB).replicas


@pytest.fixture(autouse=True)
def web(apiserver: ApiServer) -> None:
    apiserver.add_deployment("ns", "web", 3)


@pytest.mark.parametrize("status,error", [
    pytest.param(403, Forbidden, id="403 Forbidden"),
    pytest.param(404, NotFound, id="404 NotFound"),
    pytest.param(429, TooManyRequests, id="429 after every retry"),
    pytest.param(500, ServerError, id="500 after every retry"),
    pytest.param(503, ServerError, id="503 after every retry"),
])
def test_status_codes_become_our_errors(apiserver: ApiServer, kube: KubeClient, status: int,
                                        error: type[KubeError]) -> None:
    fault = apiserver.fail(SCALE, status=status)
    with pytest.raises(error) as raised:
        scale_of(kube)
    assert raised.value.status == status
    assert fault.hits == (4 if error.retryable else 1)  # FAST.attempts = 4; 403/404 are not retried


def test_429_retry_after_is_honoured(apiserver: ApiServer, kube: KubeClient) -> None:
    apiserver.fail(SCALE, status=429, retry_after=1, times=1)
    started = time.monotonic()
    assert scale_of(kube) == 3
    assert time.monotonic() - started >= 1.0  # Retry-After: 1, not our 50 ms backoff


@pytest.mark.parametrize("fault", [
    pytest.param({"status": 500, "times": 2}, id="500 twice"),
    pytest.param({"status": 503, "retry_after": 0.1, "times": 1}, id="503 with Retry-After"),
    pytest.param({"drop": True, "times": 2}, id="dropped connection twice"),
])
def test_transient_failures_are_retried(apiserver: ApiServer, kube: KubeClient, fault: dict[str, object]) -> None:
    rule = apiserver.fail(SCALE, **fault)  # type: ignore[arg-type]
    assert scale_of(kube) == 3
    assert rule.hits == rule.times


def test_slow_response_times_out_as_unavailable(apiserver: ApiServer, make_client: Callable[..., KubeClient]) -> None:
    kube = make_client(read_timeout=0.3, attempts=2)
    apiserver.fail(SCALE, delay=1.0)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        scale_of(kube)
    assert time.monotonic() - started < 1.5  # 2 × 0.3 s + backoff, not 2 × 1 s


def test_outage_is_unavailable_and_recovery_is_seamless(apiserver: ApiServer, kube: KubeClient) -> None:
    assert scale_of(kube) == 3  # leaves a pooled keep-alive connection
    apiserver.stop()
    with pytest.raises(Unavailable):
        scale_of(kube)
    apiserver.start()
    assert scale_of(kube) == 3


def test_kubeconfig_with_token(apiserver: ApiServer, tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "emu", "cluster": {"server": apiserver.url}}],
        "users": [{"name": "me", "user": {"token": "t0k3n"}}],
        "contexts": [{"name": "test", "context": {"cluster": "emu", "user": "me"}}]}))
    kube = connect(str(path))
    try:
        assert scale_of(kube) == 3
    finally:
        kube.close()


def test_missing_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no-such-file"):
        connect(str(tmp_path / "no-such-file"))
