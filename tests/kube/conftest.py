"""Fixtures for the Kubernetes adapters: the API emulator over HTTP and a client for it.

The client settings are the production ones scaled down (timeouts of a second or two,
backoff from 50 ms) so that fault tests run in well under a second each.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from autoscaler.kube.client import ClientSettings, KubeClient, connect
from simulations.cluster.apiserver import ApiServer

FAST = ClientSettings(connect_timeout=1.0, read_timeout=1.0, attempts=4, backoff_base=0.05, backoff_max=0.2)


@pytest.fixture
def apiserver() -> Iterator[ApiServer]:
    server = ApiServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_client(apiserver: ApiServer) -> Iterator[Callable[..., KubeClient]]:
    """``make_client(**settings)``: a KubeClient for the emulator; closed after the test."""
    clients: list[KubeClient] = []

    def make(**overrides: object) -> KubeClient:
        settings = ClientSettings(**{**FAST.__dict__, **overrides})  # type: ignore[arg-type]
        client = connect(host=apiserver.url, settings=settings)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def kube(make_client: Callable[..., KubeClient]) -> KubeClient:
    return make_client()
