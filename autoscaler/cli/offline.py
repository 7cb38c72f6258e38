"""``gpu-autoscaler validate`` and ``gpu-autoscaler dry-run``: parse, call, map errors.

Exit codes (Contract 4): 0 success, 1 runtime failure, 2 bad input with a message
naming the file, the field and what was expected — never a traceback.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from typing import NoReturn

import click

from autoscaler.dryrun import Tick, replay
from autoscaler.recording.reader import RecordingError, load_recording
from autoscaler.report import plot, write_csv, write_json, write_table
from autoscaler.spec import GPUScaler, SpecError, load_scaler


def load_scaler_or_exit(path: str) -> GPUScaler:
    """The GPUScaler in ``path``, or every error on stderr and exit 2."""
    try:
        return load_scaler(path)
    except SpecError as e:
        for err in e.errors:
            click.echo(f"error: {err}", err=True)
        sys.exit(2)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.command()
@click.argument("scaler_file", metavar="SCALER.yaml", type=click.Path(dir_okay=False))
def validate(scaler_file: str) -> None:
    """Check a GPUScaler file; print OK or every error (exit 0 or 2)."""
    scaler = load_scaler_or_exit(scaler_file)
    click.echo(f"OK: {scaler_file}: GPUScaler {scaler.namespace}/{scaler.name} "
               f"({len(scaler.spec.metrics)} metric(s), "
               f"replicas {scaler.spec.min_replicas}..{scaler.spec.max_replicas})")


@click.command("dry-run")
@click.argument("scaler_file", metavar="SCALER.yaml", type=click.Path(dir_okay=False))
@click.argument("metrics_file", metavar="METRICS.csv", type=click.Path(dir_okay=False))
@click.option("--output", "output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="table for people; json (JSON Lines) or csv for programs")
@click.option("--plot", "plot_file", metavar="FILE.png", type=click.Path(dir_okay=False),
              help="also write a plot of each metric against its target and the replicas")
@click.option("--changes-only", is_flag=True, help="table: print only the ticks that scale (and the first/last)")
def dry_run(scaler_file: str, metrics_file: str, output: str, plot_file: str | None, changes_only: bool) -> None:
    """Replay recorded metrics (Contract 3) through the decision core, one line per tick.

    Open-loop when the recording has `replicas` rows (recommend against what really
    ran), closed-loop otherwise (the replay's own decisions take effect).
    """
    scaler = load_scaler_or_exit(scaler_file)
    try:
        recording = load_recording(metrics_file, scaler.spec)
    except RecordingError as e:
        _fail(str(e), 2)
    kept: list[Tick] = []
    counts = {"scale_up": 0, "scale_down": 0, "hold": 0}

    def stream() -> Iterator[Tick]:
        # Output is written tick by tick; ticks are kept only when a plot needs them.
        for tick in replay(scaler.spec, recording):
            counts[tick.decision.action] += 1
            if plot_file:
                kept.append(tick)
            yield tick

    if output == "json":
        write_json(stream(), sys.stdout)
    elif output == "csv":
        write_csv(stream(), sys.stdout)
    else:
        write_table(stream(), sys.stdout, changes_only=changes_only)
        ups, downs = counts["scale_up"], counts["scale_down"]
        mode = "open loop (recommendations against the recorded replicas)" if recording.open_loop \
            else "closed loop (the replay's decisions take effect)"
        click.echo(f"{sum(counts.values())} ticks, {ups} scale-up and {downs} scale-down decisions; {mode}")
    if plot_file:
        directory = os.path.dirname(os.path.abspath(plot_file))
        try:
            fd, tmp = tempfile.mkstemp(suffix=".png", dir=directory)
        except OSError as e:
            _fail(f"{plot_file}: cannot write the plot: {e.strerror or e}", 2)
        os.close(fd)
        try:
            plot(scaler.spec, kept, tmp, title=f"dry-run of {scaler.namespace}/{scaler.name} on {metrics_file}")
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a plot is not
            os.replace(tmp, plot_file)
        except OSError as e:
            os.unlink(tmp)
            _fail(f"{plot_file}: cannot write the plot: {e.strerror or e}", 1)
        if output == "table":
            click.echo(f"plot written to {plot_file}")
