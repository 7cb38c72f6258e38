"""``gpu-exporter``: parse options, run the exporter until SIGTERM/SIGINT.

Exit codes (Contract 4): 0 after a clean shutdown, 1 on a runtime failure (cannot
listen, cannot configure the Kubernetes client, or the sampling or HTTP thread died),
2 on bad options, with a message and never a traceback.

Never dying quietly: if the sampling thread or the HTTP thread ends on its own (a bug;
an ``--interval`` of inf used to do it), ``/healthz`` answers 503 with the reason at
once and within a second the process logs it and exits 1, so the kubelet restarts the
container and its restart count shows it. Restarting the thread in-process would hide
a bug that recurs.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from exporter.attribution import DEFAULT_GPU_RESOURCES, DEFAULT_SOCKET
from exporter.config import ExporterConfig
from exporter.errors import ConfigError, DiscoveryError
from exporter.server import parse_listen
from exporter.targets import parse_target, read_targets_file, unique

log = logging.getLogger("exporter")


def build_config(
    *,
    listen: str,
    interval: float,
    node_name: str | None,
    kubelet_socket: str,
    no_attribution: bool,
    gpu_resources: tuple[str, ...],
    targets: tuple[str, ...],
    targets_file: Path | None,
    discover: bool,
    kubeconfig: str | None,
    discover_interval: float,
    target_timeout: float,
    no_gpm: bool,
) -> ExporterConfig:
    """Options -> a validated :class:`ExporterConfig`; raises :class:`ConfigError`."""
    host, port = parse_listen(listen)
    parsed = tuple(parse_target(t) for t in targets)
    if targets_file is not None:
        parsed += read_targets_file(targets_file)
    if discover and not node_name:
        raise ConfigError("--discover needs the node name: set --node-name or NODE_NAME")
    return ExporterConfig(
        listen_host=host,
        listen_port=port,
        interval_s=interval,
        node=node_name or socket.gethostname(),
        kubelet_socket=None if no_attribution else kubelet_socket,
        gpu_resources=gpu_resources or DEFAULT_GPU_RESOURCES,
        targets=unique(parsed),
        discover=discover,
        kubeconfig=kubeconfig,
        discover_interval_s=discover_interval,
        target_timeout_s=target_timeout,
        gpm=not no_gpm,
    ).validate()


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--listen", default="0.0.0.0:9400", show_default=True, help="host:port to serve /metrics and /healthz on."
)
@click.option(
    "--interval",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between samples (also the GPM window), 0.1 to 3600.",
)
@click.option(
    "--node-name",
    envvar="NODE_NAME",
    default=None,
    help="Node label and discovery filter [default: $NODE_NAME, else the host name].",
)
@click.option(
    "--kubelet-socket",
    default=DEFAULT_SOCKET,
    show_default=True,
    help="Kubelet PodResources socket, for GPU-to-pod labels.",
)
@click.option("--no-attribution", is_flag=True, help="Do not ask the kubelet who holds each GPU.")
@click.option(
    "--gpu-resource",
    "gpu_resources",
    multiple=True,
    help="Resource name whose devices are GPUs; repeatable; '*' suffix = prefix "
    "[default: nvidia.com/gpu, nvidia.com/mig-*].",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NS/POD=URL[#SERVER|#METRIC]",
    help="A model-server metrics endpoint; SERVER is vllm|tgi|triton|sglang, anything else a queue metric name; "
    "none: detect. Repeatable.",
)
@click.option(
    "--targets-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File of targets, one per line as for --target; '#' lines are comments.",
)
@click.option(
    "--discover/--no-discover",
    default=False,
    show_default=True,
    help="Find annotated model-server pods on this node through the Kubernetes API.",
)
@click.option(
    "--kubeconfig", type=click.Path(exists=True, dir_okay=False), help="Kubeconfig for --discover outside a cluster."
)
@click.option("--discover-interval", type=float, default=30.0, show_default=True, help="Seconds between pod listings.")
@click.option("--target-timeout", type=float, default=1.0, show_default=True, help="Per-target timeout, seconds.")
@click.option("--no-gpm", is_flag=True, help="Do not read GPM metrics (SM activity etc.).")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.pass_context
def main(ctx: click.Context, /, log_level: str, **options: object) -> None:
    """Per-node GPU exporter: NVML/GPM GPU metrics labelled with the pods that hold them,
    and model-server queue depth, served for Prometheus."""
    logging.basicConfig(
        level=log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = build_config(**options)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    ctx.exit(run(config))


def run(config: ExporterConfig) -> int:
    """Run until SIGTERM or SIGINT; the exit code."""
    from exporter.service import Exporter

    log.info(
        "gpu-exporter starting: node=%s listen=%s:%d interval=%gs kubelet=%s targets=%d discover=%s",
        config.node,
        config.listen_host,
        config.listen_port,
        config.interval_s,
        config.kubelet_socket or "off",
        len(config.targets),
        config.discover,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    # Installed first, so a SIGTERM during start-up still ends in a clean exit 0;
    # restored at the end, so run() called in-process leaves no handlers behind.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            exporter = Exporter(config)
        except OSError as exc:
            click.echo(
                f"gpu-exporter: cannot listen on {config.listen_host}:{config.listen_port}: {exc.strerror or exc}",
                err=True,
            )
            return 1
        except DiscoveryError as exc:
            click.echo(f"gpu-exporter: {exc}", err=True)
            return 1
        exporter.start()
        while not stop.wait(1.0):
            failure = exporter.failure()
            if failure is not None:
                log.error("%s; exiting with 1 so that the exporter is restarted", failure)
                exporter.stop()
                return 1
        exporter.stop()
        log.info("stopped")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":  # pragma: no cover
    main()
