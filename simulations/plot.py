"""The comparison plot: load, replicas per policy, and latency over time (matplotlib, Agg).

The load panel shows requests/s and, for traces up to :data:`TOKENS_SPAN_S` long, prompt
tokens/s on a second axis: the prefill work, which is what a long-prompt workload changes
while the request rate stays flat (a 4,000-token swell at 30 req/s is 120k tokens/s, 12
replicas of prefill at the default 10k tokens/s). Longer traces skip it, since it would
mean generating the trace a second time (a ServeGen fortnight: 71 million requests).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulations.compare import Comparison
from simulations.policies import policy_entry
from simulations.traces import chunks

TOKENS_SPAN_S = 2 * 86400.0


def prompt_tokens_per_bin(c: Comparison, origin: float, bin_s: float, bins: int) -> np.ndarray:
    """Prompt tokens arriving in each plot bin, from the trace itself (counts included)."""
    out = np.zeros(bins)
    for _, _, a in chunks(c.trace):
        if len(a):
            idx = np.clip(((a.time - origin) // bin_s).astype(int), 0, bins - 1)
            np.add.at(out, idx, a.prompt * a.count)
    return out


def plot(c: Comparison, path: str | Path, title: str | None = None) -> None:
    """Write a PNG with three panels sharing the time axis (from the trace's start)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True, constrained_layout=True)
    first = c.results[0].series
    span = c.trace.end_s - c.trace.start_s
    unit, per = ("minutes", 60.0) if span <= 3 * 3600 else ("hours", 3600.0) if span <= 3 * 86400 else ("days", 86400.0)
    x = (first.origin - c.trace.start_s + (np.arange(first.arrivals.shape[0]) + 0.5) * first.bin_s) / per
    ax = axes[0]
    ax.plot(x, first.arrivals / first.bin_s, color="black", lw=0.8)
    ax.set_ylabel("arrivals (req/s)")
    if span <= TOKENS_SPAN_S:
        tokens = prompt_tokens_per_bin(c, first.origin, first.bin_s, first.arrivals.shape[0])
        twin = ax.twinx()
        twin.plot(x, tokens / first.bin_s / 1000, color="tab:gray", lw=0.8, alpha=0.8)
        twin.set_ylabel("prompt tokens/s (k)", color="tab:gray")
    ax.set_title(title or f"{c.trace_spec} — {c.scenario.name}", fontsize=10)
    for r in c.results:
        s = r.series
        n = min(x.shape[0], s.replicas.shape[0])
        axes[1].step(x[:n], s.replicas[:n], where="mid", lw=1.0, color=policy_entry(r.policy).color, label=r.policy)
        lat = np.where(np.isfinite(s.latency_p95), s.latency_p95, np.nan)
        axes[2].plot(x[: lat.shape[0]], lat, lw=0.8, color=policy_entry(r.policy).color, label=r.policy)
    axes[1].set_ylabel("replicas")
    axes[1].legend(loc="upper left", fontsize=8, ncol=3)
    lab = "TTFT" if c.scenario.slo.latency == "ttft" else "latency"
    axes[2].axhline(c.scenario.slo.threshold_s, color="black", ls="--", lw=0.8, label="SLO")
    axes[2].set_yscale("log")
    axes[2].set_ylabel(f"p95 {lab} (s), per {first.bin_s:g} s")
    axes[2].set_xlabel(f"{unit} from the start of the trace")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=64)
    plt.close(fig)
