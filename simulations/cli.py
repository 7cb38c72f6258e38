"""``gpu-autoscaler simulate``: replay a trace through the modelled fleet under each policy.

Thin: parse, call :func:`simulations.compare.compare`, print; bad traces or scenarios exit 2
with ``FILE:LINE: field: what is wrong``; a plot path that is not a regular file, in a missing
folder or with an extension other than .png, .svg, .pdf exits 2, a failed write exits 1.
"""

from __future__ import annotations

import json
import sys

import click

from simulations.compare import compare, format_table, parse_policies
from simulations.errors import SimulationInputError
from simulations.policies import POLICY_NAMES
from simulations.scenario import Scenario
from simulations.traces import Trace

LONG_RUN_S = 6 * 3600.0


@click.command("simulate")
@click.option(
    "--trace",
    "trace_spec",
    required=True,
    metavar="TRACE",
    help="A per-request CSV or ServeGen file, or a bundled name (azure_llm_2023_code, azure_llm_2023_conv, "
    "servegen_m_large, servegen_m_large_10min, poisson), with options after a colon: "
    "e.g. servegen_m_large:day=1,scale=0.5. See docs/simulation.md.",
)
@click.option(
    "--scenario",
    "scenario_spec",
    default="default",
    show_default=True,
    metavar="SCENARIO",
    help="A scenario YAML file, or the name of a bundled one.",
)
@click.option(
    "--policy",
    "policy",
    default="all",
    show_default=True,
    help=f"all, or a comma-separated list of: {', '.join(POLICY_NAMES)}.",
)
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a PNG of load, replicas and latency over time.",
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress on stderr (default: on for traces longer than 6 hours)."
)
def simulate(
    trace_spec: str, scenario_spec: str, policy: str, output: str, plot_path: str | None, progress: bool | None
) -> None:
    """Compare autoscaling policies on a request trace (DESIGN.md Contract 5)."""
    try:
        names = parse_policies(policy)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--policy") from None
    reporter = _Reporter(progress)
    try:
        result = compare(trace_spec, scenario_spec, names, progress=reporter, on_trace=reporter.start)
    except SimulationInputError as e:
        for p in e.problems:
            click.echo(str(p), err=True)
        sys.exit(2)
    reporter.done()
    if output == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(f"{result.trace.describe()}\nscenario {result.scenario.name} ({result.scenario.source})\n")
        click.echo(format_table(result))
    if plot_path:
        from autoscaler.safe_output import PLOT_EXTENSIONS, OutputRefused, replacing
        from simulations.plot import plot

        try:  # only over a regular file or nothing, and as the extension says (.png, .svg, .pdf)
            with replacing(plot_path, PLOT_EXTENSIONS) as tmp:
                plot(result, tmp)
        except OutputRefused as e:
            click.echo(f"error: cannot write the plot: {e}", err=True)
            sys.exit(2)
        except OSError as e:
            click.echo(f"{plot_path}: cannot write the plot: {e.strerror or e}", err=True)
            sys.exit(1)


class _Reporter:
    """Progress lines on stderr, at most one per policy per 10 %."""

    def __init__(self, wanted: bool | None):
        self.wanted = wanted
        self.on = bool(wanted)
        self.last: dict[str, int] = {}

    def start(self, trace: Trace, scenario: Scenario) -> None:
        if self.wanted is None:
            self.on = trace.end_s - trace.start_s >= LONG_RUN_S
        if self.on:
            click.echo(f"simulating {trace.describe()}", err=True)

    def __call__(self, policy: str, fraction: float) -> None:
        if not self.on:
            return
        tenth = int(fraction * 10)
        if self.last.get(policy, -1) < tenth:
            self.last[policy] = tenth
            click.echo(f"  {policy}: {tenth * 10:3d} %", err=True)

    def done(self) -> None:
        if self.on:
            click.echo("done", err=True)
