"""Fixtures for the Prometheus-backed deploy tests: one server per module, scraping one
swappable source of Contract 2 metrics."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulations.cluster.prometheus import PrometheusServer, ScrapeJob, prometheus_available
from tests.deploy.fleet import Fleet


@pytest.fixture(scope="module")
def fleet_jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ScrapeJob]]:
    """The scrape jobs behind the dashboards and alerts: job "gpu-exporter" and job
    "gpu-autoscaler", as deploy/monitoring names them.

    The real exporter (fake NVML, kubelet and model servers) and the controller's
    telemetry, in an unhealthy state (tests/deploy/fleet.py). This is the one place
    to swap the source (e.g. for the whole controller against the API emulator)."""
    fleet = Fleet(tmp_path_factory.mktemp("fleet"))
    try:
        yield fleet.start()
    finally:
        fleet.stop()


@pytest.fixture(scope="module")
def fleet_prometheus(fleet_jobs: list[ScrapeJob]) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping ``fleet_jobs`` every second."""
    if not prometheus_available():
        pytest.skip("prometheus is not installed: run `make test` (Debian's package)")
    server = PrometheusServer(fleet_jobs)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()
