"""``gpu-autoscaler validate`` and ``gpu-autoscaler dry-run``: parse, call, map errors.

Exit codes (Contract 4): 0 success, 1 runtime failure, 2 bad input with a message
naming the file, the field and what was expected — never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import click

from autoscaler.cli.common import fail, load_scaler_or_exit, output_file
from autoscaler.dryrun import Tick, replay
from autoscaler.recording.reader import RecordingError, load_recording
from autoscaler.report import PlotPoint, plot, plot_point, write_csv, write_json, write_table
from autoscaler.safe_output import PLOT_EXTENSIONS, OutputRefused, check_output


@click.command()
@click.argument("scaler_file", metavar="SCALER.yaml", type=click.Path(dir_okay=False))
def validate(scaler_file: str) -> None:
    """Check a GPUScaler file; print OK or every error (exit 0 or 2)."""
    scaler = load_scaler_or_exit(scaler_file)
    formula = scaler.spec.formula
    combined = f", formula {formula.expression!r} in place of max" if formula is not None else ""
    click.echo(
        f"OK: {scaler_file}: GPUScaler {scaler.namespace}/{scaler.name} "
        f"({len(scaler.spec.metrics)} metric(s){combined}, "
        f"replicas {scaler.spec.min_replicas}..{scaler.spec.max_replicas})"
    )


@click.command("dry-run")
@click.argument("scaler_file", metavar="SCALER.yaml", type=click.Path(dir_okay=False))
@click.argument("metrics_file", metavar="METRICS.csv", type=click.Path(dir_okay=False))
@click.option(
    "--output",
    "output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people; json (JSON Lines) or csv for programs",
)
@click.option(
    "--plot",
    "plot_file",
    metavar="FILE.png",
    help="also write a plot of each metric against its target and the replicas (.png, .svg or .pdf; "
    "only over a regular file)",
)
@click.option("--changes-only", is_flag=True, help="table: print only the ticks that scale (and the first/last)")
def dry_run(scaler_file: str, metrics_file: str, output: str, plot_file: str | None, changes_only: bool) -> None:
    """Replay recorded metrics (Contract 3) through the decision core, one line per tick.

    Open-loop when the recording has `replicas` rows (recommend against what really
    ran), closed-loop otherwise (the replay's own decisions take effect).
    """
    scaler = load_scaler_or_exit(scaler_file)
    if plot_file:
        try:  # refused before the replay runs, not after
            check_output(plot_file, PLOT_EXTENSIONS)
        except OutputRefused as e:
            fail(f"cannot write the plot: {e}", 2)
    try:
        recording = load_recording(metrics_file, scaler.spec)
    except RecordingError as e:
        fail(str(e), 2)
    kept: list[PlotPoint] = []
    counts = {"scale_up": 0, "scale_down": 0, "hold": 0}

    def stream() -> Iterator[Tick]:
        # Output is written tick by tick; a few numbers a tick are kept when a plot needs them.
        for tick in replay(scaler.spec, recording):
            counts[tick.decision.action] += 1
            if plot_file:
                kept.append(plot_point(scaler.spec, tick))
            yield tick

    try:  # the replay reads the file again (a large one): it may have changed since it was checked
        if output == "json":
            write_json(stream(), sys.stdout)
        elif output == "csv":
            write_csv(stream(), sys.stdout)
        else:
            write_table(stream(), sys.stdout, changes_only=changes_only)
    except RecordingError as e:
        sys.stdout.flush()
        fail(str(e), 2)
    if output == "table":
        ups, downs = counts["scale_up"], counts["scale_down"]
        mode = (
            "open loop (recommendations against the recorded replicas)"
            if recording.open_loop
            else "closed loop (the replay's decisions take effect)"
        )
        click.echo(f"{sum(counts.values())} ticks, {ups} scale-up and {downs} scale-down decisions; {mode}")
    if plot_file:
        with output_file(plot_file, PLOT_EXTENSIONS, "the plot") as tmp:
            plot(scaler.spec, kept, tmp, title=f"dry-run of {scaler.namespace}/{scaler.name} on {metrics_file}")
        if output == "table":
            click.echo(f"plot written to {plot_file}")
