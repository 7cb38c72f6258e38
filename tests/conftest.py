"""Shared fixtures. Test-only helpers live in tests/support (a real Prometheus) and
tests/fakes (fakes at the layer just below our code)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulations.cluster.prometheus import PrometheusServer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def prometheus() -> Iterator[PrometheusServer]:
    """A fresh, running Prometheus with no scrape jobs; add them with ``set_jobs``."""
    server = PrometheusServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()
