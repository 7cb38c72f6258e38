"""Per-policy results: latency distribution, SLO attainment, GPU-hours, scale actions.

Latencies go into a log-spaced histogram (200 bins a decade from 1 ms to 10^5 s, so a
percentile is within 1.2 % of the exact one) weighted by request counts; the SLO share
and the mean waits are counted exactly.

Two SLOs are counted. The fixed one: latency <= ``threshold_s``. The scaled one, for
long prompts (a 60k-token prompt takes 6 s to prefill on an idle replica, so no
capacity meets 2 s): latency <= ``max(threshold_s, k x unloaded)``, with ``unloaded``
the request's own latency on an idle replica (TTFT: its prefill plus one decode step at
batch 1; end to end: its prefill plus its output at batch 1) and ``k`` the scenario's
``slo.scaledFactor`` (5). With the default model a 2,000-token prompt's unloaded TTFT is
0.2 + 0.012 = 0.21 s, so its bound stays 2 s; a 60,000-token one gets 5 x 6.01 = 30 s.

Per-step fleet state is kept at step resolution and binned for plots at the end.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from simulations.fleet import Admitted, latencies

HIST_LO, HIST_HI, PER_DECADE = 1e-3, 1e5, 200
HIST_EDGES = np.logspace(math.log10(HIST_LO), math.log10(HIST_HI), int(math.log10(HIST_HI / HIST_LO)) * PER_DECADE + 1)
SERIES_EDGES = np.logspace(-2, 4, 6 * 8 + 1)  # coarse, for per-bin p95 in plots
FLUSH_EVERY = 512


def _log_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """0: below edges[0]; i: [edges[i-1], edges[i]); len(edges): at or above the top.

    The edges are log-spaced, so the bin comes from a logarithm rather than a search."""
    lo = float(edges[0])
    per = (edges.shape[0] - 1) / math.log10(float(edges[-1]) / lo)
    with np.errstate(divide="ignore"):
        x = np.log10(np.maximum(values, 0.0))
    x -= math.log10(lo)
    x *= per
    x += 1.0 + 1e-9
    np.clip(x, 0.0, float(edges.shape[0]), out=x)
    bins: np.ndarray = x.astype(np.int64)
    return bins


def percentile(hist: np.ndarray, edges: np.ndarray, q: float) -> float:
    """The ``q`` quantile (0..1) of a histogram from :func:`_bin`, interpolated geometrically in its bin."""
    total = float(hist.sum())
    if total <= 0:
        return math.nan
    cum = np.cumsum(hist)
    i = int(np.searchsorted(cum, q * total, side="left"))
    before = float(cum[i - 1]) if i > 0 else 0.0
    frac = (q * total - before) / float(hist[i]) if hist[i] > 0 else 0.0
    if i == 0:
        return float(edges[0]) * frac
    if i >= edges.shape[0]:
        return float(edges[-1])
    lo, hi = float(edges[i - 1]), float(edges[i])
    return float(lo * (hi / lo) ** frac)


@dataclass
class Series:
    """Time series for plots, one value per bin of ``bin_s`` seconds from ``origin``."""

    origin: float
    bin_s: float
    arrivals: np.ndarray  # requests arriving in the bin
    replicas: np.ndarray  # mean target replicas
    gpus: np.ndarray  # mean GPUs held (loading + ready + draining)
    waiting: np.ndarray  # mean front-queue length
    latency_p95: np.ndarray  # p95 of the SLO latency of requests arriving in the bin
    slo_attainment: np.ndarray


class Recorder:
    """Collects what one run produced; :meth:`result` turns it into a :class:`PolicyResult`."""

    def __init__(
        self,
        origin: float,
        end: float,
        step_s: float,
        horizon_s: float,
        slo_latency: str,
        threshold_s: float,
        bin_s: float,
        scaled_factor: float = 5.0,
        one_decode_step_s: float = 0.0,
    ):
        self.origin = origin
        self.end = end
        self.step_s = step_s
        self.slo_latency = slo_latency
        self.threshold = threshold_s
        self.bin_s = bin_s
        self.scaled_factor = scaled_factor
        self.one_decode_step_s = one_decode_step_s
        self.within_scaled = 0.0
        self.n_bins = max(1, int(math.ceil((end - origin) / bin_s)))
        n_steps = int(math.ceil(horizon_s / step_s)) + 2
        self.target = np.zeros(n_steps, dtype=np.float32)
        self.held = np.zeros(n_steps, dtype=np.float32)
        self.waiting = np.zeros(n_steps, dtype=np.float32)
        self.in_system = np.zeros(n_steps)
        self.steps = 0
        self.hist = np.zeros(HIST_EDGES.shape[0] + 1)
        self.hist_e2e = np.zeros(HIST_EDGES.shape[0] + 1)
        self.series_hist = np.zeros((self.n_bins, SERIES_EDGES.shape[0] + 1))
        self.requests = 0.0
        self.within = 0.0
        self.sum_wait = 0.0
        self.sum_ttft = 0.0
        self.sum_e2e = 0.0
        self.unserved = 0.0
        self._buf: list[Admitted] = []
        self.scale_actions = 0
        self.arrivals_series = np.zeros(self.n_bins)
        self.within_series = np.zeros(self.n_bins)

    def admitted(self, a: Admitted | None) -> None:
        if a is not None:
            self._buf.append(a)
            if len(self._buf) >= FLUSH_EVERY:
                self.flush()

    def tick(self, target: int, held: int, waiting: float, request_seconds: float) -> None:
        """One step: the fleet's state, and the integral over the step of the requests in the system."""
        i = self.steps
        self.target[i] = target
        self.held[i] = held
        self.waiting[i] = waiting
        self.in_system[i] = request_seconds
        self.steps = i + 1

    def flush(self) -> None:
        if not self._buf:
            return
        parts = self._buf
        self._buf = []
        a = Admitted(*(np.concatenate(col) for col in zip(*parts, strict=False)))
        ttft, e2e = latencies(a)
        decode = self.one_decode_step_s if self.slo_latency == "ttft" else a.output * self.one_decode_step_s
        self._add(a.arrival, ttft, e2e, a.size, a.start - a.arrival, a.unit + decode)

    def _add(
        self,
        arrival: np.ndarray,
        ttft: np.ndarray,
        e2e: np.ndarray,
        count: np.ndarray,
        wait: np.ndarray,
        unloaded: np.ndarray | float,
    ) -> None:
        lat = ttft if self.slo_latency == "ttft" else e2e
        self.within_scaled += float(count[lat <= np.maximum(self.threshold, self.scaled_factor * unloaded)].sum())
        nb = HIST_EDGES.shape[0] + 1
        self.hist += np.bincount(_log_bins(lat, HIST_EDGES), weights=count, minlength=nb)
        self.hist_e2e += np.bincount(_log_bins(e2e, HIST_EDGES), weights=count, minlength=nb)
        self.requests += float(count.sum())
        self.within += float(count[lat <= self.threshold].sum())
        self.sum_wait += float((wait * count).sum())
        self.sum_ttft += float((ttft * count).sum())
        self.sum_e2e += float((e2e * count).sum())
        b = np.clip(((arrival - self.origin) // self.bin_s).astype(np.int64), 0, self.n_bins - 1)
        ns = SERIES_EDGES.shape[0] + 1
        flat = b * ns + _log_bins(lat, SERIES_EDGES)
        self.series_hist += np.bincount(flat, weights=count, minlength=self.n_bins * ns).reshape(self.n_bins, ns)
        self.arrivals_series += np.bincount(b, weights=count, minlength=self.n_bins)
        self.within_series += np.bincount(b, weights=count * (lat <= self.threshold), minlength=self.n_bins)

    def unserved_at_end(self, arrival: np.ndarray, count: np.ndarray, now: float) -> None:
        """Requests still queued when the drain limit ran out: counted, as misses, with their wait so far."""
        if arrival.shape[0]:
            waited = now - arrival
            self.unserved += float(count.sum())
            self._add(arrival, waited, waited, count, waited, 0.0)  # their tokens are not known here

    def result(self, policy: str, max_replicas_bound: int) -> PolicyResult:
        self.flush()
        dt = self.step_s
        n_span = min(self.steps, int(round((self.end - self.origin) / dt)))
        held = self.held[:n_span].astype(float)
        target = self.target[: self.steps].astype(float)
        hours = (self.end - self.origin) / 3600.0
        at_max = float((self.target[:n_span] >= max_replicas_bound).sum()) * dt
        sim_time = self.steps * dt
        little_l = float(self.in_system[: self.steps].sum()) / sim_time if self.steps else 0.0
        lam = self.requests / sim_time if sim_time else 0.0
        mean_e2e = self.sum_e2e / self.requests if self.requests else math.nan
        return PolicyResult(
            policy=policy,
            requests=int(round(self.requests)),
            slo_attainment=self.within / self.requests if self.requests else math.nan,
            slo_attainment_scaled=self.within_scaled / self.requests if self.requests else math.nan,
            p50_latency_s=percentile(self.hist, HIST_EDGES, 0.50),
            p95_latency_s=percentile(self.hist, HIST_EDGES, 0.95),
            p99_latency_s=percentile(self.hist, HIST_EDGES, 0.99),
            gpu_hours=float(held.sum()) * dt / 3600.0,
            scale_actions_per_hour=self.scale_actions / hours if hours else 0.0,
            max_replicas=int(target.max()) if target.shape[0] else 0,
            time_at_max_replicas_s=at_max,
            mean_replicas=float(self.target[:n_span].mean()) if n_span else 0.0,
            mean_queue_wait_s=self.sum_wait / self.requests if self.requests else math.nan,
            mean_ttft_s=self.sum_ttft / self.requests if self.requests else math.nan,
            p95_e2e_s=percentile(self.hist_e2e, HIST_EDGES, 0.95),
            unserved_requests=int(round(self.unserved)),
            littles_law=LittlesLaw(mean_in_system=little_l, arrival_rate=lam, mean_time_in_system_s=mean_e2e),
            series=self.series(),
        )

    def series(self) -> Series:
        spb = max(1, int(round(self.bin_s / self.step_s)))
        n_span = min(self.steps, self.n_bins * spb)

        def binned(x: np.ndarray) -> np.ndarray:
            v = x[:n_span].astype(float)
            pad = (-v.shape[0]) % spb
            v = np.concatenate((v, np.full(pad, np.nan)))
            return np.nanmean(v.reshape(-1, spb), axis=1) if v.shape[0] else v

        p95 = np.array([percentile(h, SERIES_EDGES, 0.95) if h.sum() else math.nan for h in self.series_hist])
        tot = self.arrivals_series
        att = np.where(tot > 0, self.within_series / np.where(tot > 0, tot, 1), np.nan)
        return Series(
            origin=self.origin,
            bin_s=self.bin_s,
            arrivals=self.arrivals_series.copy(),
            replicas=binned(self.target),
            gpus=binned(self.held),
            waiting=binned(self.waiting),
            latency_p95=p95,
            slo_attainment=att,
        )


@dataclass(frozen=True)
class LittlesLaw:
    """Little's law on one run: L, the time-average number of requests in the system (the
    exact integral from the fleet's books), against lambda W, the arrival rate times the mean
    time in system (from the requests' own latencies). A run that starts and ends empty
    satisfies L = lambda W exactly, so any gap is a bookkeeping error."""

    mean_in_system: float
    arrival_rate: float
    mean_time_in_system_s: float

    @property
    def relative_error(self) -> float:
        lw = self.arrival_rate * self.mean_time_in_system_s
        if lw <= 0:
            return 0.0 if self.mean_in_system <= 0 else math.inf
        return abs(self.mean_in_system - lw) / lw


CONTRACT_FIELDS = (
    "policy",
    "requests",
    "slo_attainment",
    "p50_latency_s",
    "p95_latency_s",
    "p99_latency_s",
    "gpu_hours",
    "scale_actions_per_hour",
    "max_replicas",
)


@dataclass
class PolicyResult:
    policy: str
    requests: int
    slo_attainment: float
    #: share within the scaled SLO, ``latency <= max(threshold, k x unloaded latency)`` (module docstring)
    slo_attainment_scaled: float
    p50_latency_s: float
    p95_latency_s: float
    p99_latency_s: float
    gpu_hours: float
    scale_actions_per_hour: float
    max_replicas: int
    time_at_max_replicas_s: float
    mean_replicas: float
    mean_queue_wait_s: float
    mean_ttft_s: float
    p95_e2e_s: float
    unserved_requests: int
    littles_law: LittlesLaw
    series: Series = field(repr=False)

    def to_json(self) -> dict[str, object]:
        """Contract 5's fields first, then ours; no NaN (JSON has none): null instead."""
        d = asdict(self)
        d.pop("series")
        d["littles_law_relative_error"] = self.littles_law.relative_error
        d.pop("littles_law")
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}
