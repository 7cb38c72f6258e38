"""``gpu-autoscaler playground`` end to end: a 24 s slice through the real exporter,
Prometheus and controller, kubectl against it while it runs, the twin check, the plot,
and no process left behind (also after SIGTERM)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulations.cluster.prometheus import prometheus_available

REPO = Path(__file__).resolve().parents[2]
SHORT = ["--duration", "24", "--polling", "2", "--startup", "4", "--scale-down-window", "6", "--drain", "8"]

pytestmark = pytest.mark.skipif(
    not prometheus_available(), reason="prometheus is not installed (make test installs it)"
)


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from autoscaler.cli import main; main()",
            "playground",
            *SHORT,
            "--out",
            str(tmp_path / "out"),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=REPO,
    )


def _read_until(proc: subprocess.Popen[str], pattern: str, lines: list[str], timeout: float = 60) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if m := re.search(pattern, line):
            return m
    raise AssertionError(f"no line matching {pattern!r}; output:\n" + "\n".join(lines))


def _stop(proc: subprocess.Popen[str]) -> None:
    """A failed test still lets the playground clean up (SIGTERM) before it is killed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes only once reaped; ours are children of the playground
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _pids(lines: list[str]) -> list[int]:
    return [int(m[1]) for line in lines if (m := re.search(r"\(pid (\d+)\)", line))]


def _kubectl(server: str, *args: str) -> str:
    done = subprocess.run(
        ["kubectl", "--server", server, "-n", "playground", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_short_playground_scales_matches_its_twin_and_leaves_nothing(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--check-twin")
    lines: list[str] = []
    try:
        server = _read_until(proc, r"API emulator\s+(http://127\.0\.0\.1:\d+)", lines)[1]
        _read_until(proc, r"controller .*\(pid \d+\)", lines)
        pids = _pids(lines)
        assert len(pids) == 2, lines  # Prometheus and the controller
        _read_until(proc, r"^\s+4s ", lines)  # two polls in: the scaler has a status
        table = _kubectl(server, "get", "gsc")
        header, row = table.splitlines()[:2]
        assert header.split() == ["NAME", "TARGET", "MIN", "MAX", "CURRENT", "DESIRED", "LEADING", "AGE"]
        assert row.split()[:4] == ["llm", "llm", "1", "8"]
        assert row.split()[6] in ("queue_depth", "inference_concurrency_total")
        described = _kubectl(server, "describe", "gsc", "llm")
        assert "Kind:         GPUScaler" in described and "Polling Interval Seconds:  2" in described
        out, _ = proc.communicate(timeout=90)
        lines += out.splitlines()
    finally:
        _stop(proc)
    text = "\n".join(lines)
    assert proc.returncode == 0, text
    polls = [line for line in lines if re.match(r"^\s+\d+s\s+[\d.]+/s", line)]
    assert len(polls) >= 12, text  # one line per 2 s poll over 24 s and the drain
    replicas = [int(re.search(r"\s(\d+)/(\d+)\s", p)[2]) for p in polls]  # type: ignore[index]
    assert max(replicas) >= 3 and replicas[-1] < max(replicas), text  # up for the ramp, down after the drop
    assert "ReadyForNewScale" in text or "ScaleDownStabilized" in text
    assert re.search(
        r"summary: [\d,]+ requests, SLO met \(TTFT <= 2 s\) [\d.]+ %, .*GPU-hours [\d.]+, "
        r"scale actions \d+ up / \d+ down",
        text,
    ), text
    assert "twin check (agrees)" in text, text
    assert (tmp_path / "out" / "playground.png").stat().st_size > 10_000
    assert not [p for p in pids if _alive(p)], f"left behind: {pids}"


def test_sigterm_stops_every_part(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    lines: list[str] = []
    try:
        _read_until(proc, r"controller .*\(pid \d+\)", lines)
        pids = _pids(lines)
        _read_until(proc, r"^\s+time\s+load", lines)  # running: the trace clock has started
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        _stop(proc)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "every part stopped" in out
    assert len(pids) == 2 and not [p for p in pids if _alive(p)], f"left behind: {pids}"
    assert not (tmp_path / "out" / "playground.png").exists()
