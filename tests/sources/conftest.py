"""One real Prometheus for tests/sources, scraping one real HTTP target every second.

Prometheus needs ~5 s before its first sample (toolchain-facts §2), so the tests of
the package share it; each test writes its own namespace's series, so they do not meet.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoscaler.cli import main
from simulations.cluster.exposition import Exposition
from simulations.cluster.prometheus import PrometheusServer, ScrapeJob, prometheus_available


@dataclass
class World:
    exposition: Exposition
    prometheus: PrometheusServer

    def record(self, tmp_path: Path, scaler_text: str) -> tuple[Path, Path, list[list[str]]]:
        """``gpu-autoscaler record`` of the last 3 s at 1 s steps for this scaler: its file,
        the recording's file and its rows (the header first)."""
        scaler = tmp_path / "scaler.yaml"
        scaler.write_text(scaler_text)
        out = tmp_path / "rec.csv"
        result = CliRunner().invoke(main, ["record", "--prometheus", self.prometheus.url, "--scaler", str(scaler),
                                           "--start", "now-3s", "--end", "now", "--step", "1s", "-o", str(out)])
        assert result.exit_code == 0, result.output
        return scaler, out, list(csv.reader(out.open()))


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
