"""Fixtures for the Prometheus-backed deploy tests: one server per module, scraping one
swappable source of Contract 2 metrics."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.synthetic import SyntheticFleet
from tests.support.prometheus import PrometheusServer, ScrapeJob, prometheus_available


@pytest.fixture(scope="module")
def fleet_jobs() -> Iterator[list[ScrapeJob]]:
    """The scrape jobs behind the dashboards and alerts: job "gpu-exporter" and job
    "gpu-autoscaler", as deploy/monitoring names them.

    Today a synthetic fleet (tests/deploy/synthetic.py). To test against the real
    programs, yield jobs pointing at the real exporter (faked NVML) and controller
    (API emulator) instead, in the same unhealthy state; nothing else changes."""
    fleet = SyntheticFleet()
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
