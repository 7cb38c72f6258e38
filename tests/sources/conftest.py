"""One real Prometheus for tests/sources, scraping one real HTTP target every second.

Prometheus needs ~5 s before its first sample (toolchain-facts §2), so the tests of
the package share it; each test writes its own namespace's series, so they do not meet.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from simulations.cluster.exposition import Exposition
from simulations.cluster.prometheus import PrometheusServer, ScrapeJob, prometheus_available


@dataclass
class World:
    exposition: Exposition
    prometheus: PrometheusServer


@pytest.fixture(scope="package")
def world() -> Iterator[World]:
    if not prometheus_available():
        pytest.skip("prometheus is not installed (make test installs it)")
    exposition = Exposition().start()
    exposition.set("sentinel", {"namespace": "sentinel", "pod": "s"}, 1)
    server = PrometheusServer([ScrapeJob("exposition", [exposition.target])])
    server.start()
    try:
        server.wait_for("sentinel", timeout=30)
        yield World(exposition, server)
    finally:
        server.cleanup()
        exposition.stop()
