"""The ``gpu-autoscaler`` command: thin. Each command parses its options, calls one
library function and maps errors to exit codes (0 success, 1 runtime failure, 2 bad
input with a message naming the file, the field and what was expected)."""

from __future__ import annotations

import click

from autoscaler.cli.common import Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gpu-autoscaler")
def main() -> None:
    """GPU-aware autoscaler for ML inference on Kubernetes."""


# Commands live beside the code they drive and register here.
from autoscaler.cli.offline import dry_run, validate  # commands register after the group (E402: ruff.toml)

main.add_command(validate)
main.add_command(dry_run)
from autoscaler.cli.cluster import record, run

main.add_command(run)
main.add_command(record)
from simulations.cli import simulate

main.add_command(simulate)
from autoscaler.cli.playground import playground

main.add_command(playground)
