"""``gpu-autoscaler run``: exit 2 with a message naming the option on bad input, 1 on a
runtime failure. (SIGTERM -> 0 and a released lease: test_e2e.py, on a real process.)"""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoscaler.cli import main
from simulations.cluster.prometheus import free_port
from tests.controller.harness import write_kubeconfig

OK = ["--prometheus-url", "http://127.0.0.1:9090"]


@pytest.mark.parametrize("args, message", [
    pytest.param(["--prometheus-url", "prometheus:9090"], "--prometheus-url: expected an http://", id="url-scheme"),
    pytest.param([*OK, "--metrics-address", "8080"], "--metrics-address: expected HOST:PORT", id="address"),
    pytest.param([*OK, "--metrics-address", ":99999"], "--metrics-address", id="port-range"),
    pytest.param([*OK, "--namespace", "Team_A"], "--namespace: namespace 'Team_A'", id="namespace-name"),
    pytest.param([*OK, "--signal-source", "prometheus"], "'prometheus' is not one of", id="signal-source"),
    pytest.param([*OK, "--leader-elect-lease-duration", "5", "--leader-elect-renew-deadline", "8"],
                 "lease_duration must exceed renew_deadline", id="lease-shorter-than-renew"),
    pytest.param([*OK, "--kubeconfig", "/nonexistent/kubeconfig"], "does not exist", id="kubeconfig-missing"),
    pytest.param([*OK, "--log-level", "loud"], "'loud' is not one of", id="log-level"),
    pytest.param([], "Missing option '--prometheus-url'", id="prometheus-required"),
])
def test_bad_options_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["run", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_malformed_kubeconfig_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    result = CliRunner().invoke(main, ["run", *OK, "--kubeconfig", str(bad), "--metrics-address",
                                       f"127.0.0.1:{free_port()}"])
    assert result.exit_code == 2, result.output
    assert "cannot load Kubernetes configuration" in result.output


def test_port_in_use_exit_1(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{free_port()}")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["run", *OK, "--kubeconfig", str(kubeconfig), "--metrics-address",
                                           f"127.0.0.1:{port}"])
    assert result.exit_code == 1, result.output
    assert f"cannot serve on 127.0.0.1:{port}" in result.output
