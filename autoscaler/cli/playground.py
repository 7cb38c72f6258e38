"""``gpu-autoscaler playground``: parse, call :func:`simulations.playground.run.run_playground`, map exits.

Exit codes: 0 the run finished (the twin check's verdict is printed, not an exit code
unless ``--check-twin``), 1 a part failed to start or the twin differs under
``--check-twin``, 2 bad options, 130/143 interrupted (everything started is stopped).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from simulations.cluster.prometheus import prometheus_available
from simulations.playground.config import Settings
from simulations.playground.run import Interrupted, run_playground
from simulations.playground.stack import StartError


@click.command("playground")
@click.option(
    "--duration",
    type=click.FloatRange(min=10),
    default=240,
    show_default=True,
    metavar="SECONDS",
    help="length of the trace slice (a ramp and a drop)",
)
@click.option("--low", "low_rate", type=click.FloatRange(min=0), default=4, show_default=True, help="req/s at the ends")
@click.option(
    "--high", "high_rate", type=click.FloatRange(min=0), default=36, show_default=True, help="req/s at the peak"
)
@click.option(
    "--polling",
    "polling_s",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="the GPUScaler's pollingIntervalSeconds",
)
@click.option(
    "--startup",
    "startup_s",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="seconds a new replica loads (startupSeconds, and the fleet's)",
)
@click.option(
    "--scale-down-window",
    "scale_down_window_s",
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help="behavior.scaleDown.stabilizationWindowSeconds",
)
@click.option(
    "--drain",
    "drain_s",
    type=click.FloatRange(min=0),
    default=30,
    show_default=True,
    metavar="SECONDS",
    help="after the trace, at most this long for the requests in flight to finish",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="out",
    show_default=True,
    help="where playground.png goes",
)
@click.option("--check-twin", is_flag=True, help="exit 1 when the twin simulation differs beyond the tolerances")
def playground(
    duration: float,
    low_rate: float,
    high_rate: float,
    polling_s: int,
    startup_s: int,
    scale_down_window_s: int,
    drain_s: float,
    out_dir: str,
    check_twin: bool,
) -> None:
    """Run the real exporter, Prometheus and controller on a simulated GPU fleet (127.0.0.1)."""
    if not prometheus_available():
        click.echo("error: prometheus is not installed: `make playground` installs Debian's package", err=True)
        sys.exit(1)
    try:
        settings = Settings(
            duration_s=duration,
            low_rate=low_rate,
            high_rate=high_rate,
            polling_s=polling_s,
            startup_s=startup_s,
            scale_down_window_s=scale_down_window_s,
            drain_s=drain_s,
        )
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    try:
        outcome = run_playground(settings, Path(out_dir), lambda line: click.echo(line))
    except Interrupted as e:
        click.echo(f"\ninterrupted ({e}): every part stopped", err=True)
        sys.exit(e.code)
    except StartError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    if check_twin and not outcome.twin.agrees:
        sys.exit(1)
