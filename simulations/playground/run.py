"""``gpu-autoscaler playground``: the whole loop on one machine, in a few minutes.

    trace (ramp and drop) -> fleet model (simulations.fleet, on the wall clock)
        -> model servers' /metrics (one per replica) and simulated GPUs (fake NVML)
        -> gpu-exporter (the real one) -> Prometheus (the real one)
        -> gpu-autoscaler run (the real controller, a child process)
        -> API emulator: the Deployment's spec.replicas -> back to the fleet

Once every part is up, the trace clock starts on the controller's tick grid (see
:func:`_drive`), so the controller polls where the twin simulation does. One line a
polling interval; at the end the summary, the twin check
(:mod:`simulations.playground.twin`) and ``out/playground.png``.

Ctrl-C or SIGTERM stops it between two steps: everything started is stopped, last
started first (further signals are ignored until that is done), and the exit code is
130 (143 for SIGTERM).
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from simulations.playground.config import NAME, NAMESPACE, Settings
from simulations.playground.fleet import PlaygroundFleet, ScaleChange, StepView
from simulations.playground.stack import Stack, StartError
from simulations.playground.twin import TwinReport, compare_twin
from simulations.policies import Plan
from simulations.stats import PolicyResult

Echo = Callable[[str], None]

#: The controller's scheduling tick (autoscaler.loop.LoopSettings.tick_seconds).
TICK_S = 1.0
#: A step computed this late may miss the poll it was meant for: counted and reported.
LATE_S = 0.2


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; ``code`` is the exit code to leave with."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.code = 128 + signum


@dataclass
class Outcome:
    """What a playground run leaves: its result, its timeline and the twin's verdict."""

    result: PolicyResult
    steps: list[StepView]
    changes: list[ScaleChange]
    twin: TwinReport
    plot: Path | None
    lines: list[str] = field(default_factory=list)
    late_steps: int = 0  # steps computed more than LATE_S after their time (a busy machine)


@contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread while the run lasts."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _reason(status: dict[str, Any]) -> str:
    """The controller's why, from the GPUScaler's status: the AbleToScale condition (and
    ScalingLimited when it holds), as ``kubectl describe`` would show them."""
    conditions = {c.get("type"): c for c in status.get("conditions", []) if isinstance(c, dict)}
    able = conditions.get("AbleToScale") or conditions.get("ScalingActive") or {}
    text = f"{able.get('reason', '')}: {able.get('message', '')}".strip(": ")
    limited = conditions.get("ScalingLimited") or {}
    if limited.get("status") == "True":
        text += f" [{limited.get('reason', '')}]"
    return text or "(no status yet)"


def _seen(status: dict[str, Any]) -> str:
    """What the controller read at its last poll, each metric's value over its target
    (``queue_depth`` per pod, then the concurrency in all): ``"3.5/10 96/36"``."""
    parts = [
        f"{float(m['value']):.4g}/{float(m.get('target', 0)):g}"
        for m in status.get("currentMetrics", [])
        if isinstance(m, dict) and "value" in m
    ]
    return " ".join(parts) or "-"


def run_playground(
    settings: Settings, out_dir: Path, echo: Echo, *, plot: bool = True, start_timeout_s: float = 60.0
) -> Outcome:
    """Start everything, run the trace, stop everything; raises :class:`Interrupted` on a signal."""
    scenario = settings.scenario()
    trace = settings.trace()
    initial = Plan(trace, scenario).at(trace.start_s)  # the twin's warm start: the same fleet
    stack = Stack(settings)
    fleet: PlaygroundFleet | None = None
    with _signals_raise():
        try:
            echo(f"playground: {trace.describe()}")
            stack.start_cluster(initial)
            echo(f"API emulator   {stack.api.url}   (kubectl --server {stack.api.url} -n {NAMESPACE} get gsc)")
            fleet = PlaygroundFleet(stack.api, NAMESPACE, NAME, scenario, trace, initial, stack.gpus)
            stack.start_pipeline()
            assert stack.exporter is not None and stack.prometheus is not None and stack.controller is not None
            echo(f"exporter       {stack.exporter.url}")
            echo(f"prometheus     {stack.prometheus.url}   (pid {stack.prometheus.pid})")
            echo(f"controller     http://127.0.0.1:{stack.controller.port}/metrics   (pid {stack.controller.pid})")
            stack.wait("the exporter's queue depth in Prometheus", stack.queue_seen, start_timeout_s)
            stack.wait("the controller to be ready", stack.controller.ready, start_timeout_s)
            outcome = _drive(settings, stack, fleet, echo)
        finally:
            for s in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the clean-up short
                signal.signal(s, signal.SIG_IGN)
            stack.stop()  # the exporter first, so it never scrapes a stopped model server
            if fleet is not None:
                fleet.stop()
    for line in summary_lines(settings, outcome):
        echo(line)
    outcome.twin = compare_twin(settings, outcome.result, outcome.changes)
    for line in outcome.twin.lines():
        echo(line)
    if plot:
        from simulations.playground.plot import plot_playground

        out_dir.mkdir(parents=True, exist_ok=True)
        outcome.plot = plot_playground(outcome, settings, out_dir / "playground.png")
        echo(f"plot: {outcome.plot}")
    return outcome


def controller_tick(stack: Stack, initial: int, timeout: float = 10.0) -> float:
    """A moment (``time.monotonic()``) at which the controller's 1 s scheduling tick runs.

    The controller polls a scaler at its ticks only (``autoscaler.loop``: a tick every
    second from its own start; a scaler first seen at a tick is polled then and every
    ``pollingIntervalSeconds`` after). To learn the ticks' phase, a probe GPUScaler
    pinned at ``initial`` replicas is created; the controller's first poll of it reads
    the Deployment's scale (from its watch, or a GET of ``/scale``) and ends with the
    probe's first status write (a new scaler's status always changes), seen in the
    emulator's request log a few ms after the tick; the probe is then deleted, so the
    real scaler starts with an empty memory."""
    probe = stack.settings.scaler()
    probe["spec"].update(minReplicas=initial, maxReplicas=initial)
    seen = len(stack.api.requests)
    stack.api.add_gpuscaler(probe)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            log = stack.api.requests
            if any(
                r.user_agent.startswith("gpu-autoscaler")
                and (
                    (r.verb == "get" and r.resource == "deployments" and r.subresource == "scale")
                    or (r.verb in ("update", "patch") and r.resource == "gpuscalers" and r.subresource == "status")
                )
                for r in log[seen:]
            ):
                return time.monotonic()
            seen = len(log)
            time.sleep(0.005)
        raise StartError(
            f"the controller did not poll a new GPUScaler within {timeout:g} s\n"
            f"--- controller log ---\n{stack.controller.log_tail() if stack.controller else ''}"
        )
    finally:
        stack.api.delete("gpuautoscaler.io", "gpuscalers", NAMESPACE, NAME)


def _drive(settings: Settings, stack: Stack, fleet: PlaygroundFleet, echo: Echo) -> Outcome:
    """Step the fleet on the wall clock, its trace clock aligned with the controller's ticks.

    The GPUScaler is created half a tick before the tick at ``t0 + interval - lead``
    (:attr:`Settings.poll_lead_s`), so the controller polls it at ``t0 + k x interval - lead``
    (k >= 1), its scale PATCH lands just before the step boundary ``t0 + k x interval``
    where the fleet takes it, as the twin's polls do, and its memory starts empty at the
    first poll, as the twin's does."""
    tick = controller_tick(stack, fleet.fleet.target)
    interval, lead = settings.polling_s, settings.poll_lead_s
    now = time.monotonic()
    # The first poll: a tick late enough that the trace starts after now and the
    # GPUScaler can be created half a tick before it.
    first_poll = tick + TICK_S * math.ceil((max(now + interval - lead, now + TICK_S) - tick) / TICK_S)
    mono0 = first_poll - (interval - lead)
    wall0 = time.time() + (mono0 - time.monotonic()) - fleet.t0
    fleet.wall_of = lambda t: wall0 + t
    creator = threading.Timer(first_poll - TICK_S / 2 - time.monotonic(), stack.add_scaler)
    creator.daemon = True
    creator.start()
    try:
        return _steps(settings, stack, fleet, echo, mono0)
    finally:
        creator.cancel()


def _steps(settings: Settings, stack: Stack, fleet: PlaygroundFleet, echo: Echo, mono0: float) -> Outcome:
    dt = fleet.dt
    time.sleep(max(0.0, mono0 - time.monotonic()))
    steps: list[StepView] = []
    poll = settings.polling_s
    arrived_since = 0.0
    late = 0
    echo(f"{'time':>6} {'load':>7} {'queue':>5} {'replicas':>8} {'ready':>5}  {'controller saw':<16} reason")
    lines: list[str] = []
    while not fleet.done:
        target = mono0 + (fleet.step_index + 1) * dt
        pause = target - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        late += pause < -LATE_S
        view = fleet.step()
        steps.append(view)
        arrived_since += view.arrivals
        fleet.follow(view.t)
        if round(view.t - fleet.t0, 6) % poll < 1e-6:
            status = (stack.api.gpuscaler(NAMESPACE, NAME) or {}).get("status", {})
            desired = status.get("desiredReplicas", "-")
            line = (
                f"{view.t - fleet.t0:5.0f}s {arrived_since / poll:5.1f}/s {view.queue:5.0f} "
                f"{desired!s:>4}/{fleet.fleet.target:<3} {view.ready:5d}  {_seen(status):<16} {_reason(status)}"
            )
            arrived_since = 0.0
            lines.append(line)
            echo(line)
    return Outcome(fleet.result(), steps, list(fleet.changes), TwinReport.empty(), None, lines=lines, late_steps=late)


def summary_lines(settings: Settings, outcome: Outcome) -> list[str]:
    r = outcome.result
    ups = sum(1 for c in outcome.changes if c.new > c.old)
    downs = sum(1 for c in outcome.changes if c.new < c.old)
    slo = "-" if not math.isfinite(r.slo_attainment) else f"{100 * r.slo_attainment:.1f} %"
    return [
        f"summary: {r.requests:,} requests, SLO met (TTFT <= {settings.scenario().slo.threshold_s:g} s) {slo}, "
        f"p95 TTFT {r.p95_latency_s:.2f} s, GPU-hours {r.gpu_hours:.4f}, scale actions {ups} up / {downs} down, "
        f"max replicas {r.max_replicas}"
    ] + (
        [
            f"note: {outcome.late_steps} steps ran more than {LATE_S:g} s late (a busy machine): the controller's "
            "polls may have met other steps than the twin's"
        ]
        if outcome.late_steps
        else []
    )
