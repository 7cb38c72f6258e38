"""Odd but plausible input through the CLI: each is exit 1 or 2 with a message naming the
file or option, never a traceback; outputs are written only over regular files."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import EXAMPLE_CSV, EXAMPLE_SCALER, SCALER, run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def scaler(tmp_path: Path) -> Path:
    p = tmp_path / "scaler.yaml"
    p.write_text(SCALER)
    return p


def _cli(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    code = "import sys; from autoscaler.cli import main; sys.argv = ['gpu-autoscaler', *sys.argv[1:]]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


# ---------------------------------------------------------------- outputs not ours


def _symlink(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "plot.png"
    link.symlink_to(victim)
    return link


def _fifo(tmp_path: Path) -> Path:
    p = tmp_path / "plot.png"
    os.mkfifo(p)
    return p


@pytest.mark.parametrize("make, complaint", [
    pytest.param(_symlink, "is a symbolic link", id="symlink"),
    pytest.param(_fifo, "is a FIFO", id="fifo"),
    pytest.param(lambda tmp: Path("/dev/null"), "expected a file name ending in", id="device-node-no-extension"),
    pytest.param(lambda tmp: tmp / "plot.jpeg", "expected a file name ending in .png, .svg, .pdf", id="jpeg"),
    pytest.param(lambda tmp: tmp / "plot", "got no extension", id="no-extension"),
])
def test_dry_run_plot_refuses_what_is_not_a_regular_file(tmp_path: Path, make, complaint: str) -> None:
    target = make(tmp_path)
    code, out, err = run("dry-run", str(EXAMPLE_SCALER), str(EXAMPLE_CSV), "--plot", str(target))
    assert code == 2 and complaint in err, err
    assert out == ""  # refused before the replay
    if target.is_symlink():
        assert target.resolve().read_text() == "keep me" and target.is_symlink()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make a device node")
def test_dry_run_plot_refuses_a_device_node(tmp_path: Path) -> None:
    dev = tmp_path / "disk.png"
    os.mknod(dev, 0o600 | 0o020000, os.makedev(1, 3))  # a character device, as /dev/null
    code, _, err = run("dry-run", str(EXAMPLE_SCALER), str(EXAMPLE_CSV), "--plot", str(dev))
    assert code == 2 and "is a device node" in err
    assert os.path.exists(dev) and not dev.is_file()


@pytest.mark.parametrize("ext, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_dry_run_plot_is_written_as_its_extension_says(tmp_path: Path, ext: str, magic: bytes) -> None:
    target = tmp_path / f"plot{ext}"
    target.write_text("old")  # a regular file is replaced
    code, _, err = run("dry-run", str(EXAMPLE_SCALER), str(EXAMPLE_CSV), "--plot", str(target))
    assert code == 0, err
    assert target.read_bytes().startswith(magic)


def test_record_refuses_a_symlink_output_before_any_query(tmp_path: Path, scaler: Path) -> None:
    victim = tmp_path / "victim.csv"
    victim.write_text("keep me")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    code, _, err = run("record", "--prometheus", "http://127.0.0.1:9", "--scaler", str(scaler),
                       "--start", "now-1h", "-o", str(link))
    assert code == 2 and "is a symbolic link" in err
    assert victim.read_text() == "keep me"


def test_simulate_plot_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path)
    code, _, err = run("simulate", "--trace", "poisson:rate=1,duration=60", "--policy", "ours", "--plot", str(fifo))
    assert code == 2 and "is a FIFO" in err, err


# ---------------------------------------------------------------- option and file oddities


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999", "ftp://127.0.0.1", "http://", "127.0.0.1:9090",
                                 "http://127.0.0.1 :9090"])
def test_bad_prometheus_urls_exit_2(tmp_path: Path, scaler: Path, url: str) -> None:
    code, _, err = run("record", "--prometheus", url, "--scaler", str(scaler), "--start", "now-1h",
                       "-o", str(tmp_path / "o.csv"))
    assert code == 2 and "--prometheus: expected an http:// or https:// URL" in err, err
    code, _, err = run("run", "--prometheus-url", url, "--kubeconfig", str(scaler))
    assert code == 2 and "--prometheus-url: expected an http:// or https:// URL" in err, err


@pytest.mark.parametrize("timeout", ["inf", "nan", "1e309", "-1", "0"])
def test_record_timeout_must_be_finite_seconds(tmp_path: Path, scaler: Path, timeout: str) -> None:
    code, _, err = run("record", "--prometheus", "http://127.0.0.1:9", "--scaler", str(scaler), "--start", "now-1h",
                       "-o", str(tmp_path / "o.csv"), "--timeout", timeout)
    assert code == 2 and "--timeout" in err, err


@pytest.mark.parametrize("content, complaint", [
    pytest.param(b"clusters: [\n", "not valid YAML", id="not-yaml"),
    pytest.param(b"- a\n- b\n", "expected a kubeconfig", id="a-list"),
    pytest.param(b"apiVersion: v1\nkind: Config\nx: \xff\n", "line 3: not UTF-8", id="not-utf8"),
])
def test_run_with_a_kubeconfig_that_is_not_one_exits_2(tmp_path: Path, content: bytes, complaint: str) -> None:
    kc = tmp_path / "kubeconfig"
    kc.write_bytes(content)
    code, _, err = run("run", "--prometheus-url", "http://127.0.0.1:9", "--kubeconfig", str(kc))
    assert code == 2 and str(kc) in err and complaint in err, err


def test_record_beyond_the_cap_says_what_and_refuses_without_force(tmp_path: Path, scaler: Path) -> None:
    # --start 0 --step 1s: ~1.8 billion points a series; refused before any query is sent
    code, _, err = run("record", "--prometheus", "http://127.0.0.1:9", "--scaler", str(scaler), "--start", "0",
                       "--end", "1800000000", "--step", "1s", "-o", str(tmp_path / "o.csv"))
    assert code == 2, err
    # ceil(1,800,000,001 / 10,000) = 180,001 chunks x 3 queries (queue depth, replicas, ready) = 540,003
    assert "1,800,000,001 points per series" in err and "540,003 range queries" in err
    assert "--force" in err
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("content", [
    pytest.param(b"name: x\n\xfe\xff\n", id="not-utf8"),
    pytest.param(b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"b{i}: &a{i} [{', '.join(['*a' if i == 0 else f'*a{i - 1}'] * 9)}]\n".encode() for i in range(8)),
        id="billion-laughs"),
    pytest.param(b"name: x\nname: y\n", id="duplicate-key"),
])
def test_simulate_scenario_oddities_exit_2_with_file_and_line(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "scenario.yaml"
    p.write_bytes(content)
    code, _, err = run("simulate", "--trace", "poisson:rate=1,duration=60", "--scenario", str(p), "--policy", "ours")
    assert code == 2, err
    assert err.startswith(f"{p}:"), err


def test_dry_run_to_a_full_disk_exits_1_without_a_traceback() -> None:
    with open("/dev/full", "w") as full:
        proc = _cli("dry-run", str(EXAMPLE_SCALER), str(EXAMPLE_CSV), stdout=full.fileno())
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == "error: cannot write the output: No space left on device\n"


def test_validate_to_a_closed_pipe_exits_1_without_a_traceback(scaler: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = _cli("validate", str(scaler), stdout=full.fileno())
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr


def test_exporter_targets_file_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    from exporter.errors import ConfigError
    from exporter.targets import read_targets_file

    p = tmp_path / "targets.txt"
    p.write_bytes(b"# targets\nns/pod=http://127.0.0.1:8000/metrics\nns/p\xffd=http://127.0.0.1:8001/metrics\n")
    with pytest.raises(ConfigError) as e:
        read_targets_file(p)
    assert str(e.value) == f"targets file {p}, line 3: not UTF-8 text"
