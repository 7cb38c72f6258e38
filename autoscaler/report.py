"""Rendering a dry-run: a table for people, JSON Lines and CSV for programs, a plot.

Contract 4: one line per evaluation tick with time, current, desired, action and the
reason in words; ``--output json`` writes JSON Lines with at least ``timestamp``,
``current_replicas``, ``desired_replicas``, ``action``, ``reason`` and ``metrics``
(key -> {value, target}).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, TextIO

from autoscaler.dryrun import Tick
from autoscaler.spec import GPUScalerSpec
from autoscaler.times import format_time


def tick_record(tick: Tick) -> dict[str, Any]:
    d = tick.decision
    metrics: dict[str, dict[str, Any]] = {}
    for p in d.proposals:
        metrics[p.key] = {
            "value": None if p.usage is None or not math.isfinite(p.usage) else p.usage,
            "target": p.target,
            "proposal": p.replicas,
        }
        if p.error is not None:
            metrics[p.key]["error"] = p.error
    return {
        "timestamp": format_time(tick.timestamp),
        "unix_time": tick.timestamp,
        "current_replicas": d.current_replicas,
        "desired_replicas": d.desired_replicas,
        "action": d.action,
        "reason_code": d.reason_code,
        "reason": d.reason,
        "limits": [lim.name for lim in d.limits],
        "metrics": metrics,
    }


def write_json(ticks: Iterable[Tick], out: TextIO) -> None:
    for tick in ticks:
        out.write(json.dumps(tick_record(tick), allow_nan=False) + "\n")


CSV_FIELDS = ("timestamp", "current_replicas", "desired_replicas", "action", "reason_code", "reason")


def write_csv(ticks: Iterable[Tick], out: TextIO) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for tick in ticks:
        r = tick_record(tick)
        w.writerow([r[f] for f in CSV_FIELDS])


def write_table(ticks: Iterable[Tick], out: TextIO, *, changes_only: bool = False) -> None:
    """A fixed-width table, streamed; ``changes_only`` prints the ticks whose action is
    not hold, plus the first and the last."""
    out.write(f"{'time':<20}  {'current':>7}  {'desired':>7}  {'action':<10}  reason\n")
    last: Tick | None = None
    printed = False
    for i, tick in enumerate(ticks):
        last = tick
        printed = not changes_only or i == 0 or tick.decision.action != "hold"
        if printed:
            out.write(_table_row(tick))
    if last is not None and not printed:
        out.write(_table_row(last))


def _table_row(tick: Tick) -> str:
    d = tick.decision
    return (
        f"{format_time(tick.timestamp):<20}  {d.current_replicas:>7}  {d.desired_replicas:>7}  "
        f"{d.action:<10}  {d.reason_code}: {d.reason}\n"
    )


class PlotPoint(NamedTuple):
    """What the plot needs of one tick: a few numbers, not the tick's observation (a
    large recording's 20,160 ticks of 100 pods would hold every per-pod sample)."""

    timestamp: float
    current_replicas: int
    desired_replicas: int
    usage: tuple[float, ...]  # per metric of the spec, in its order; NaN when missing


def plot_point(spec: GPUScalerSpec, tick: Tick) -> PlotPoint:
    usage = []
    for metric in spec.metrics:
        p = next((p for p in tick.decision.proposals if p.key == metric.key), None)
        usage.append(math.nan if p is None or p.usage is None else p.usage)
    d = tick.decision
    return PlotPoint(tick.timestamp, d.current_replicas, d.desired_replicas, tuple(usage))


def plot(spec: GPUScalerSpec, ticks: Sequence[Tick | PlotPoint], path: str, title: str = "") -> None:
    """Each metric against its target, and current vs desired replicas, over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [t if isinstance(t, PlotPoint) else plot_point(spec, t) for t in ticks]
    t0 = points[0].timestamp if points else 0.0
    minutes = [(t.timestamp - t0) / 60 for t in points]
    n = len(spec.metrics) + 1
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.6 * n), sharex=True, squeeze=False)
    for i, (ax, metric) in enumerate(zip(axes[:-1, 0], spec.metrics, strict=True)):
        values = [t.usage[i] for t in points]
        unit = {"averageValue": "per replica", "averageUtilization": "% average", "value": "total"}[metric.target.kind]
        ax.plot(minutes, values, color="tab:blue", lw=1.4, label=f"{metric.key} ({unit})")
        ax.axhline(metric.target.amount, color="tab:red", ls="--", lw=1.2, label=f"target {metric.target.amount:g}")
        ax.set_ylabel(metric.key)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    ax = axes[-1, 0]
    ax.step(
        minutes, [t.current_replicas for t in points], where="post", color="tab:gray", lw=2, label="current replicas"
    )
    ax.step(
        minutes, [t.desired_replicas for t in points], where="post", color="tab:green", lw=1.4, label="desired replicas"
    )
    ax.axhline(spec.max_replicas, color="black", ls=":", lw=1, label=f"max {spec.max_replicas}")
    ax.set_ylabel("replicas")
    ax.set_xlabel("minutes since the start of the recording")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.suptitle(title or "gpu-autoscaler dry-run")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
