"""``out/playground.png``: load, queue and replicas over the run, with the twin's replicas."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from simulations.playground.config import Settings
from simulations.playground.fleet import ScaleChange

if TYPE_CHECKING:
    from simulations.playground.run import Outcome


def _staircase(changes: tuple[ScaleChange, ...], start: int, t0: float, t1: float) -> tuple[list[float], list[int]]:
    xs, ys = [t0], [start]
    for c in changes:
        xs += [c.t, c.t]
        ys += [ys[-1], c.new]
    xs.append(t1)
    ys.append(ys[-1])
    return xs, ys


def plot_playground(outcome: Outcome, settings: Settings, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = outcome.steps
    t = [s.t - settings.step_s for s in steps]  # each step's values hold from its start
    fig, (ax_load, ax_rep) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    trace = settings.trace()
    ax_load.plot(t, [float(trace.rate(x)) for x in t], color="#888888", label="offered load (req/s)")
    ax_load.plot(t, [s.queue for s in steps], color="#ff7f0e", label="waiting requests")
    ax_load.set_ylabel("req/s, requests")
    ax_load.legend(loc="upper left")
    ax_load.set_title("gpu-autoscaler playground: the real controller on a simulated fleet")
    ax_rep.step(
        t,
        [s.replicas for s in steps],
        where="post",
        color="#d62728",
        linewidth=3,
        alpha=0.6,
        label="replicas (controller)",
    )
    ax_rep.step(t, [s.ready for s in steps], where="post", color="#2ca02c", linestyle="--", label="ready")
    ax_rep.step(t, [s.held for s in steps], where="post", color="#9467bd", linestyle=":", label="GPUs held")
    if outcome.twin.twin is not None and steps:
        first = outcome.changes[0].old if outcome.changes else steps[0].replicas
        xs, ys = _staircase(outcome.twin.twin.timeline, first, trace.start_s, t[-1])
        ax_rep.plot(xs, ys, color="#1f77b4", linewidth=1.2, linestyle="-.", label="replicas (simulate --policy ours)")
    ax_rep.set_ylabel("replicas")
    ax_rep.set_xlabel("seconds")
    ax_rep.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
