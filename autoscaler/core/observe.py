"""The one observe step: what a source found -> the :class:`Observation` the core decides on.

The controller (Prometheus), the dry-run (a recording), ``record``'s replay and the
simulator (its fleet) each hand over :class:`Reading`s, and the same rule turns them into
numbers, so that "missing" means the same everywhere. Missing data is never a number:

* a sample ``max_age`` old or older (two polling intervals: 30 s with a 15 s poll) is
  missing: taken at t=100, it counts at t=129.9 and is missing at t=130. (The dry-run
  always drew the line there; the controller used to keep it at exactly t=130 too: with
  one rule, a sample two intervals old is as missing live as in a replay.)
* NaN, ±Inf and negative samples are missing;
* a per-pod sample counts only for a pod of the target;
* a per-pod metric with pods but no usable sample is an error that says why
  ("3 at least 30 s old, 1 NaN or Inf"), never an empty map read as zero load; one with no
  pods at all is left to the core ("no pods of the scale target").

Counters (token totals, a histogram's ``_sum`` and ``_count``) are observed as per-pod
rates per second, never as totals. Prometheus computes the rate itself
(``rate(NAME[W])``, :mod:`autoscaler.sources.promql`); a recording holds the rate as its
sample; a source that sees only raw totals (the simulator) takes :func:`counter_rates`
between its previous poll and this one, where a pod without a previous value is missing,
not zero. A target-wide mean of two counters (a latency: ``rate(_sum) / rate(_count)``)
is :func:`mean_of_rates` over the target's pods, here and in ``record`` alike.

Pure: ``now`` comes in; no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple, TypeVar

from autoscaler.core.types import MetricObservation, Observation, PodState
from autoscaler.spec import GPUScalerSpec, MetricSpec


class Sample(NamedTuple):
    """One value and the Unix time of the newest sample it was computed from (a tuple:
    the dry-run builds one per pod per tick)."""

    value: float
    timestamp: float


class Reading(NamedTuple):
    """What a source found for one metric of one target: samples per pod, one
    target-wide sample, or the error that made the metric unavailable. A per-pod sample
    may be a plain ``(value, timestamp)`` tuple, and a Reading is a named tuple too: the
    dry-run builds 2 and 16 of them a tick (a frozen dataclass costs ~1 us each).

    For a target-wide mean of two per-pod rates (a latency), ``per_pod`` holds the
    numerator's rates and ``counts`` the denominator's; the value is
    :func:`mean_of_rates` of the two over the target's usable pods."""

    per_pod: Mapping[str, tuple[float, float]] | None = None
    value: Sample | None = None
    error: str | None = None
    counts: Mapping[str, tuple[float, float]] | None = None


Age = TypeVar("Age")


def is_fresh(age: Age, max_age: float) -> Age:
    """The staleness rule: a sample ``age`` seconds old counts while ``age < max_age``.
    Works on a float and, elementwise, on a numpy array (the dry-run's vectorised path)."""
    return age < max_age  # type: ignore[operator, return-value]


def is_usable(value: Age, age: Age, max_age: float) -> Age:
    """The per-pod sample rule: a number >= 0 (not NaN, not infinite) and fresh. Works on
    floats and, elementwise, on numpy arrays: the dry-run checks a block of ticks at once
    and takes a tick whose pods all pass straight into the observation, which is then
    exactly what :func:`observe_per_pod` (which inlines this rule) returns for it."""
    return (value >= 0) & (value < math.inf) & is_fresh(age, max_age)  # type: ignore[operator, no-any-return]


def observe_per_pod(reading: Reading, pods: Sequence[str], max_age: float, now: float, label: str) -> MetricObservation:
    """A per-pod metric for the target's ``pods``: usable samples only, or an error."""
    if reading.error is not None:
        return MetricObservation.failed(reading.error)
    samples = reading.per_pod or {}
    inf, get = math.inf, samples.get  # locals: read once per pod
    # A pod's sample counts when it is a number >= 0 and fresh: is_fresh(now - stamp,
    # max_age), inlined (one comprehension, not a loop calling it for each pod: this
    # step was a fifth of a week's replay in ``python -m benchmarks.dryrun``).
    per_pod = {
        pod: sample[0]
        for pod in pods
        if (sample := get(pod)) is not None and 0 <= sample[0] < inf and now - sample[1] < max_age
    }
    if pods and not per_pod:  # every pod's sample was rejected: say why
        rejected = [get(pod) for pod in pods]
        absent = sum(1 for r in rejected if r is None)
        bad = sum(1 for r in rejected if r is not None and not math.isfinite(r[0]))
        negative = sum(1 for r in rejected if r is not None and math.isfinite(r[0]) and r[0] < 0)
        stale = len(rejected) - absent - bad - negative
        parts = [
            f"{n} {what}"
            for n, what in (
                (stale, f"at least {max_age:g} s old"),
                (bad, "NaN or Inf"),
                (negative, "negative"),
                (absent, "without samples"),
            )
            if n
        ]
        return MetricObservation.failed(f"no usable {label} samples for the {len(pods)} pods ({', '.join(parts)})")
    return MetricObservation.sampled(per_pod)


def observe_value(reading: Reading, max_age: float, now: float) -> MetricObservation:
    """A target-wide metric: its value, or the error in words."""
    if reading.error is not None:
        return MetricObservation.failed(reading.error)
    sample = reading.value
    if sample is None:
        return MetricObservation.failed(f"no sample in the last {max_age:g} s")
    if not math.isfinite(sample.value) or sample.value < 0:
        return MetricObservation.failed(f"query returned {sample.value}")
    age = now - sample.timestamp
    if not is_fresh(age, max_age):
        return MetricObservation.failed(f"query result is {age:.0f} s old ({max_age:g} s or more)")
    return MetricObservation(value=sample.value)


def counter_rates(
    previous: Mapping[str, tuple[float, float]], current: Mapping[str, tuple[float, float]]
) -> dict[str, Sample]:
    """Per-pod rates per second of a counter between two readings of its totals.

    A pod at 1,200,000 prompt tokens at t=100 and 1,222,500 at t=115 reads 22,500 / 15 =
    1,500 tokens/s, stamped 115. A pod without a previous value (new since the last poll)
    is missing, not 0: it may be serving at full speed. A total that went down is a
    restarted server: its counter began again at 0, so the increase is the new total, as
    Prometheus's ``rate()`` reads a reset (100 -> 30 over 15 s: 30 / 15 = 2/s). A pair
    without time between them, or with a NaN or negative total, is missing.
    """
    out: dict[str, Sample] = {}
    for pod, (total, stamp) in current.items():
        before = previous.get(pod)
        if before is None:
            continue
        old, old_stamp = before
        elapsed = stamp - old_stamp
        if not elapsed > 0 or not (0 <= total < math.inf and 0 <= old < math.inf):
            continue
        out[pod] = Sample((total - old if total >= old else total) / elapsed, stamp)
    return out


def mean_of_rates(numerator: Mapping[str, float], denominator: Mapping[str, float]) -> float | None:
    """A target-wide mean from two per-pod rates, over the pods that have both: the sum
    of one over the sum of the other. TTFT sums rising 5 and 60 s/s over 10 and 30 first
    tokens/s read (5 + 60) / (10 + 30) = 1.625 s. No pod with both: None (missing). No
    first token in the window (denominators all 0): 0.0, nothing waited (and never a
    division by zero); a latency guard reads that as "at or below target".
    """
    pods = numerator.keys() & denominator.keys()
    if not pods:
        return None
    total = sum(denominator[p] for p in pods)
    return sum(numerator[p] for p in pods) / total if total > 0 else 0.0


def observe_mean(reading: Reading, pods: Sequence[str], max_age: float, now: float, label: str) -> MetricObservation:
    """A target-wide mean of two per-pod rates (``per_pod`` over ``counts``), each through
    the per-pod rule first: a stale or NaN pod drops out of both sums."""
    if reading.error is not None:
        return MetricObservation.failed(reading.error)
    parts = [
        observe_per_pod(Reading(per_pod=part), pods, max_age, now, f"{label} {what}")
        for part, what in ((reading.per_pod, "sum"), (reading.counts, "count"))
    ]
    for part in parts:
        if part.error is not None:
            return part
    mean = mean_of_rates(parts[0].per_pod, parts[1].per_pod)
    if mean is None:
        if not pods:
            return MetricObservation.failed("no pods of the scale target")
        return MetricObservation.failed(f"no pod has both the sum and the count of {label}")
    return MetricObservation(value=mean)


def observe_metric(
    metric: MetricSpec, reading: Reading, pods: Sequence[str], max_age: float, now: float
) -> MetricObservation:
    if metric.per_pod:
        return observe_per_pod(reading, pods, max_age, now, metric.key)
    if reading.counts is not None:
        return observe_mean(reading, pods, max_age, now, metric.key)
    return observe_value(reading, max_age, now)


def max_age_of(spec: GPUScalerSpec) -> float:
    """Two polling intervals: one missed scrape is tolerated, two are an outage."""
    return 2.0 * spec.polling_interval_seconds


def observe(
    spec: GPUScalerSpec,
    readings: Mapping[str, Reading],
    *,
    current_replicas: int,
    pods: tuple[PodState, ...],
    now: float,
    status_replicas: int | None = None,
) -> Observation:
    """The observation of one target at ``now``: each metric's reading (by key) through
    the one rule; a metric without a reading is unavailable."""
    names = [p.name for p in pods]
    max_age = max_age_of(spec)
    metrics = {m.key: observe_metric(m, readings.get(m.key, _UNREAD), names, max_age, now) for m in spec.metrics}
    return Observation.of(current_replicas, pods, metrics, status_replicas)


_UNREAD = Reading(error="metric was not read")
