"""``gpu-autoscaler run`` and ``gpu-autoscaler record``: parse, call one function, map errors.

Exit codes (Contract 4): 0 success (``run``: stopped by SIGTERM or SIGINT), 1 runtime
failure, 2 bad input with a message naming the option or file and what was expected.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from types import FrameType

import click

from autoscaler.cli.common import check_kubeconfig, check_url, fail, finite_seconds, load_scaler_or_exit, output_file
from autoscaler.kube.errors import ConfigError
from autoscaler.safe_output import CSV_EXTENSIONS, OutputRefused, check_output
from autoscaler.sources.base import MetricsError
from autoscaler.sources.promql import PromQLError, check_namespace
from autoscaler.sources.signals import SIGNAL_SOURCES, series_for
from autoscaler.times import parse_duration, parse_time_from

#: ``record`` refuses more range queries than this without ``--force``: 400 queries
#: is about 100 days at 15 s for a scaler with two metrics (~4 queries per 10,000 points).
MAX_QUERIES = 400


@click.command()
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False),
    help="kubeconfig file; default: in-cluster service account, else $KUBECONFIG or ~/.kube/config",
)
@click.option("--prometheus-url", required=True, metavar="URL", help="e.g. http://prometheus-operated.monitoring:9090")
@click.option(
    "--leader-elect/--no-leader-elect",
    default=True,
    show_default=True,
    help="hold a Lease so that only one replica scales",
)
@click.option(
    "--leader-election-namespace",
    default=None,
    metavar="NS",
    help="namespace of the Lease (default: $POD_NAMESPACE, else gpu-autoscaler)",
)
@click.option("--leader-election-id", default="gpu-autoscaler", show_default=True, help="name of the Lease")
@click.option(
    "--leader-election-identity",
    "identity",
    default=None,
    metavar="ID",
    help="this replica's name in the Lease (default: <hostname>_<random>)",
)
@click.option(
    "--leader-elect-lease-duration",
    "lease_duration",
    type=click.IntRange(min=2),
    default=15,
    show_default=True,
    help="seconds a standby waits before taking an unrenewed lease",
)
@click.option(
    "--leader-elect-renew-deadline",
    "renew_deadline",
    type=click.IntRange(min=2),
    default=10,
    show_default=True,
    help="seconds the leader keeps retrying a renewal before it stops leading",
)
@click.option(
    "--leader-elect-retry-period",
    "retry_period",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="seconds between attempts to acquire or renew",
)
@click.option(
    "--metrics-address",
    default=":8080",
    show_default=True,
    metavar="HOST:PORT",
    help="where /metrics, /healthz and /readyz are served",
)
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    metavar="NS",
    help="watch only this namespace (repeatable; default: all)",
)
@click.option("--dry-run", is_flag=True, help="decide, log and write status, but never change a scale")
@click.option(
    "--signal-source",
    type=click.Choice(list(SIGNAL_SOURCES)),
    default="ours",
    show_default=True,
    help="series behind the built-in signals: ours (gpu-exporter), dcgm (dcgm-exporter's GPU "
    "series), vllm (vLLM's queue), dcgm+vllm",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
@click.option(
    "--workers", type=click.IntRange(min=1, max=256), default=16, show_default=True, help="scalers reconciled at once"
)
def run(
    kubeconfig: str | None,
    prometheus_url: str,
    leader_elect: bool,
    leader_election_namespace: str | None,
    leader_election_id: str,
    identity: str | None,
    lease_duration: int,
    renew_deadline: int,
    retry_period: int,
    metrics_address: str,
    namespaces: tuple[str, ...],
    dry_run: bool,
    signal_source: str,
    log_level: str,
    workers: int,
) -> None:
    """Run the controller: scale GPU Deployments by their GPUScalers until SIGTERM."""
    from autoscaler.controller import ControllerSettings, parse_address, run_controller
    from autoscaler.kube.leader import LeaderElectionSettings
    from autoscaler.telemetry import configure_logging

    try:
        parse_address(metrics_address)
    except ValueError as e:
        fail(f"--metrics-address: {e}", 2)
    check_url("--prometheus-url", prometheus_url)
    for path in (
        [kubeconfig]
        if kubeconfig
        else [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p and os.path.isfile(p)]
    ):
        check_kubeconfig(path)
    for ns in namespaces:
        try:
            check_namespace(ns)
        except PromQLError as e:
            fail(f"--namespace: {e}", 2)
    election = {"lease_duration": lease_duration, "renew_deadline": renew_deadline, "retry_period": retry_period}
    try:
        LeaderElectionSettings(**election).validate()  # type: ignore[arg-type]
    except ValueError as e:
        fail(f"--leader-elect-*: {e}", 2)
    settings = ControllerSettings(
        prometheus_url=prometheus_url,
        kubeconfig=kubeconfig,
        leader_elect=leader_elect,
        leader_election_id=leader_election_id,
        metrics_address=metrics_address,
        namespaces=tuple(dict.fromkeys(namespaces)) or None,
        dry_run=dry_run,
        signal_source=signal_source,
        workers=workers,
        lease_duration=lease_duration,
        renew_deadline=renew_deadline,
        retry_period=retry_period,
    )
    if leader_election_namespace is not None:
        settings = replace(settings, leader_election_namespace=leader_election_namespace)
    if identity is not None:
        settings = replace(settings, identity=identity)
    restore_logging = configure_logging(log_level)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = run_controller(settings, stop)
    except ConfigError as e:
        fail(str(e), 2)
    except OSError as e:
        fail(f"cannot serve on {metrics_address}: {e.strerror or e}", 1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        restore_logging()
    sys.exit(code)


@click.command()
@click.option("--prometheus", "prometheus_url", required=True, metavar="URL", help="Prometheus to read from")
@click.option(
    "--scaler",
    "scaler_file",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="the GPUScaler (YAML) whose metrics to record",
)
@click.option("--start", required=True, metavar="T", help="Unix seconds, RFC 3339 (no zone: UTC), or now-1h")
@click.option("--end", default="now", show_default=True, metavar="T", help="Unix seconds, RFC 3339, or now")
@click.option("--step", default="15s", show_default=True, metavar="S", help="whole seconds between samples (15s, 1m)")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    metavar="FILE.csv",
    help="where to write the recording (Contract 3 CSV; only over a regular file)",
)
@click.option(
    "--signal-source",
    type=click.Choice(list(SIGNAL_SOURCES)),
    default="ours",
    show_default=True,
    help="series behind the built-in signals (as for run)",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=3600),
    default=30.0,
    show_default=True,
    callback=finite_seconds,
    help="seconds one range query may take",
)
@click.option("--force", is_flag=True, help=f"record even when it takes more than {MAX_QUERIES} range queries")
def record(
    prometheus_url: str,
    scaler_file: str,
    start: str,
    end: str,
    step: str,
    output: str,
    signal_source: str,
    timeout: float,
    force: bool,
) -> None:
    """Record a GPUScaler's metrics from Prometheus as CSV that `gpu-autoscaler dry-run` replays.

    Says first how many range queries and points it will fetch, refuses more than
    MAX_QUERIES without --force, shows progress on stderr and writes rows as they come.
    """
    from autoscaler.recording.writer import Row, plan, record_chunks, write_csv
    from autoscaler.sources.prometheus import PrometheusSettings, PrometheusSource

    scaler = load_scaler_or_exit(scaler_file)
    now = time.time()
    try:
        t0, t1 = round(parse_time_from(start, now)), round(parse_time_from(end, now))
    except ValueError as e:
        fail(f"--start/--end: {e}", 2)
    try:
        dt = parse_duration(step)
    except ValueError as e:
        fail(f"--step: {e}", 2)
    if dt < 1 or dt != int(dt):
        fail(f"--step: expected whole seconds >= 1, got {step!r}", 2)
    if t1 <= t0:
        fail(f"--end must be after --start (got {start!r} .. {end!r})", 2)
    check_url("--prometheus", prometheus_url)
    try:
        check_output(output, CSV_EXTENSIONS)
    except OutputRefused as e:
        fail(f"cannot write the recording: {e}", 2)
    cost = plan(scaler, t0, t1, dt)
    click.echo(
        f"recording {scaler.namespace}/{scaler.name}: {cost.points:,} points per series every {dt:g} s, "
        f"{cost.chunks:,} chunk(s), {cost.queries:,} range queries",
        err=True,
    )
    if cost.queries > MAX_QUERIES and not force:
        fail(
            f"{cost.queries:,} range queries is more than {MAX_QUERIES}; narrow --start/--end, raise --step, "
            "or pass --force",
            2,
        )
    source = PrometheusSource(PrometheusSettings(prometheus_url, timeout_seconds=timeout))

    def rows() -> Iterator[Row]:
        every = max(1, cost.chunks // 20)  # at most ~20 progress lines
        for i, chunk in enumerate(record_chunks(source, scaler, dict(series_for(signal_source)), t0, t1, dt), 1):
            yield from chunk
            if cost.chunks > 1 and (i % every == 0 or i == cost.chunks):
                click.echo(f"  chunk {i:,}/{cost.chunks:,} ({100 * i // cost.chunks}%)", err=True)

    try:
        with output_file(output, CSV_EXTENSIONS, "the recording") as tmp:
            written = write_csv(rows(), tmp)
            if written.rows == 0:
                raise _NothingRecorded
    except (MetricsError, PromQLError) as e:
        fail(f"{prometheus_url}: {e}", 1)
    except _NothingRecorded:
        fail(f"no samples for GPUScaler {scaler.namespace}/{scaler.name} between {start} and {end}; nothing written", 1)
    finally:
        source.close()
    click.echo(f"wrote {written.rows} rows ({written.timestamps} timestamps) to {output}", err=True)


class _NothingRecorded(Exception):
    """Raised inside the output's context so that an empty recording replaces nothing."""
