"""A metric's points over recent polls, shared by the averaging window
(:mod:`autoscaler.core.window`) and the look-ahead (:mod:`autoscaler.core.lookahead`):
one bounded series type, the cut to an age, the append, and what counts as a usable value.

Pure: ``now`` comes in; no clock, no I/O.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from typing import NamedTuple

#: The most points one series keeps (a pod's samples of one metric, a target-wide metric's
#: values, or a look-ahead's totals): 1,024 polls is 4 h 16 min at 15 s, beyond any
#: ``window`` or ``lookAhead.over`` (1 h at most).
MAX_POINTS = 1024


class Series(NamedTuple):
    """One series' points, oldest first, each at the time of the poll that saw it. Two
    tuples of floats, so that a mean is one ``fsum`` and the cut two ``bisect``s: 16 series
    of 240 points (1 h at 15 s) cost ~120 us a poll where a tuple of points cost ~370 us
    (``python -m benchmarks.window``)."""

    times: tuple[float, ...] = ()
    values: tuple[float, ...] = ()


NO_POINTS = Series()


def recent(series: Series, now: float, span: float) -> Series:
    """The points of earlier polls still within ``span`` (``0 < age < span``)."""
    times = series.times
    first = bisect_right(times, now - span)
    end = bisect_left(times, now)
    if first == 0 and end == len(times):
        return series  # the common case: nothing aged out
    return Series(times[first:end], series.values[first:end])


def add(series: Series, value: float, now: float) -> Series:
    """``series`` with ``value`` at ``now`` appended, keeping the last :data:`MAX_POINTS`."""
    times, values = series.times + (now,), series.values + (value,)
    if len(times) > MAX_POINTS:
        return Series(times[-MAX_POINTS:], values[-MAX_POINTS:])
    return Series(times, values)


def usable(value: float | None) -> bool:
    """A sample that can count: present, finite and not negative (NaN compares false)."""
    return value is not None and 0 <= value < math.inf
