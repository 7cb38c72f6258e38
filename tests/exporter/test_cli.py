"""``gpu-exporter``: exit codes, and a real process that starts, serves and stops on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from exporter.cli import main
from exporter.gpus import probe
from exporter.nvml import load_pynvml
from exporter.server import parse_listen
from simulations.cluster.model_servers import ModelServer
from simulations.cluster.prometheus import free_port


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("0.0.0.0:9400", ("0.0.0.0", 9400), id="default"),
        pytest.param("127.0.0.1:19400", ("127.0.0.1", 19400), id="loopback"),
        pytest.param(":9400", ("0.0.0.0", 9400), id="port-only"),
        pytest.param("[::]:9400", ("::", 9400), id="ipv6"),
        pytest.param("[::1]:9400", ("::1", 9400), id="ipv6-loopback"),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    "args, env, message",
    [
        pytest.param(["--listen", "nope"], {}, "--listen 'nope': expected HOST:PORT", id="listen-no-port"),
        pytest.param(["--listen", "127.0.0.1:0"], {}, "port 1..65535", id="listen-port-0"),
        pytest.param(["--listen", "[::1:9400"], {}, "an IPv6 host in brackets", id="listen-unclosed-bracket"),
        pytest.param(["--listen", "1:2:9400"], {}, "an IPv6 host in brackets", id="listen-not-ipv6"),
        pytest.param(
            ["--interval", "0"], {}, "--interval: 0 is not a number of seconds from 0.1 to 3600", id="interval-zero"
        ),
        pytest.param(["--interval", "-5"], {}, "--interval: -5 is not a number", id="interval-negative"),
        pytest.param(["--interval", "inf"], {}, "--interval: inf is not a number of seconds", id="interval-inf"),
        pytest.param(["--interval", "nan"], {}, "--interval: nan is not a number of seconds", id="interval-nan"),
        pytest.param(
            ["--interval", "3601"], {}, "--interval: 3601 is not a number of seconds", id="interval-over-an-hour"
        ),
        pytest.param(["--interval", "1e-300"], {}, "--interval: 1e-300 is not a number", id="interval-tiny"),
        pytest.param(["--interval", "soon"], {}, "'soon' is not a valid float", id="interval-not-a-number"),
        pytest.param(["--target", "llm-0=http://h:1/m"], {}, "namespace/pod before '='", id="target-no-namespace"),
        pytest.param(
            ["--target", "s/p=http://h:1/m", "--target", "s/p=http://h:2/m"],
            {},
            "two targets for pod s/p",
            id="duplicate-target",
        ),
        pytest.param(["--targets-file", "/nonexistent/targets.txt"], {}, "does not exist", id="targets-file-missing"),
        pytest.param(["--discover"], {"NODE_NAME": ""}, "--discover needs the node name", id="discover-without-node"),
        pytest.param(["--target-timeout", "-1"], {}, "--target-timeout", id="negative-timeout"),
        pytest.param(["--target-timeout", "inf"], {}, "--target-timeout: inf is not", id="timeout-inf"),
        pytest.param(["--discover-interval", "inf"], {}, "--discover-interval: inf is not", id="discover-interval-inf"),
        pytest.param(["--discover-interval", "0"], {}, "--discover-interval: 0 is not", id="discover-interval-zero"),
        pytest.param(["--frobnicate"], {}, "No such option", id="unknown-option"),
    ],
)
def test_bad_options_exit_2_with_a_message(args: list[str], env: dict[str, str], message: str) -> None:
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_help_exits_0() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "--kubelet-socket" in result.output


def _command() -> list[str]:
    script = Path(sys.executable).with_name("gpu-exporter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "exporter"]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_real_process_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """With the real pynvml: on a machine without a GPU (CI) /healthz is 503 with NVML's
    reason and the log says so at start; with a GPU it is 200. Either way SIGTERM ends
    the process with exit code 0."""
    no_gpu_reason = probe(load_pynvml())
    port = free_port()
    env = {**os.environ, "NODE_NAME": "test-node", "PYTHONWARNINGS": "error"}
    with ModelServer("tgi", waiting=5, running=2) as tgi:
        args = [
            "--listen",
            f"127.0.0.1:{port}",
            "--interval",
            "0.5",
            "--kubelet-socket",
            str(tmp_path / "absent.sock"),
            "--target",
            f"serving/tgi-0={tgi.url}",
        ]
        proc = subprocess.Popen(_command() + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        try:
            health = None
            for _ in range(100):  # up to ~10 s for start-up
                try:
                    health = _get(f"http://127.0.0.1:{port}/healthz")
                    break
                except OSError:
                    if proc.poll() is not None:
                        break
                    time.sleep(0.1)
            assert health is not None, proc.communicate(timeout=5)
            if no_gpu_reason:
                assert health == (503, no_gpu_reason + "\n")
            else:
                assert health[0] == 200
            status, text = _get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200
            assert 'inference_queue_depth{namespace="serving",node="test-node",pod="tgi-0"} 5.0' in text
            assert 'gpu_exporter_errors_total{kind="podresources",node="test-node"}' in text
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert "received SIGTERM, shutting down" in err and "stopped" in err
    assert "Traceback" not in err
    if no_gpu_reason:
        assert f"ERROR exporter: {no_gpu_reason}; serving without GPU metrics" in err


def test_port_in_use_exits_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            _command() + ["--listen", f"127.0.0.1:{port}", "--no-attribution"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "NODE_NAME": "n"},
        )
    assert result.returncode == 1
    assert f"gpu-exporter: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_console_script_is_installed() -> None:
    assert shutil.which("gpu-exporter", path=str(Path(sys.executable).parent)) is not None


def test_a_dead_sampler_thread_ends_the_process_with_1(tmp_path: Path) -> None:
    """The CLI refuses ``--interval inf``; a config that gets past it anyway (here built
    by hand) kills the sampling thread at its first wait. The process must not go on
    serving: it logs why and exits 1 so that the kubelet restarts it."""
    script = (
        "import math, sys\n"
        "from exporter.cli import run\n"
        "from exporter.config import ExporterConfig\n"
        "sys.exit(run(ExporterConfig(listen_host='127.0.0.1', listen_port=0, interval_s=math.inf, node='n',"
        " kubelet_socket=None)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "sampler thread died: OverflowError" in result.stderr
    assert "exiting with 1 so that the exporter is restarted" in result.stderr
    assert "Traceback" not in result.stderr
