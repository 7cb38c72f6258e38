"""Times and durations, read and written one way across the project.

One rule for every file and option we read (recordings, ``record --start``, traces,
the API server's status and pod times):

- a time is **Unix seconds** (``1795932000`` or ``1795932000.25``) or **RFC 3339 /
  ISO 8601** (``2026-11-29T06:00:00Z``, ``2026-11-29T07:00:00+01:00``, and the
  ``2023-11-16 18:17:03.9799600`` of the public Azure LLM traces);
- **a time without a zone is UTC.** The public traces carry no zone and are UTC; the
  API server always writes ``Z``. Refusing zone-less times would refuse those traces,
  and taking local time would make a replay depend on the machine it runs on;
- a time lies in ``[1970-01-01T00:00:00Z, 9999-12-31T23:59:59Z]``, i.e. Unix seconds
  ``0 .. 253,402,300,799``. Anything later is refused, with a hint when it looks like
  milliseconds (``1795932000000`` is 1,000 times too large), so a typo cannot stretch
  a replay's grid to the year 58,000.

One formatter (:func:`format_time`): RFC 3339 in UTC, whole seconds without a fraction
(``2026-11-29T06:00:00Z``), otherwise six digits (``2026-11-29T06:26:40.250000Z``),
the form Kubernetes' MicroTime uses; :func:`parse_time` reads both back exactly.

One duration reader (:func:`parse_duration`): a non-negative number with an optional
unit among ``ms``, ``s``, ``m`` (or ``min``), ``h``, ``d``; a bare number is seconds.
``90m`` = 5,400 s; ``1.5h`` = 5,400 s; ``250ms`` = 0.25 s. At most 100 years.

Every reader raises :class:`TimeFormatError` (a ``ValueError``) whose message says what
was expected and what was given; callers add the file, line and field.
Pure: standard library only, no clock (``now`` is passed in).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

#: 9999-12-31T23:59:59Z, the last second RFC 3339 (four-digit years) can write.
MAX_UNIX_SECONDS = 253_402_300_799
#: 100 years: longer than any replay, trace slice or recording window we can serve.
MAX_DURATION_SECONDS = 100 * 365 * 86_400

UNITS: dict[str, float] = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86_400.0}

_DURATION = re.compile(r"\s*([0-9]{1,20}(?:\.[0-9]{0,20})?)\s*([a-z]*)\s*")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# More than six fraction digits (the Azure traces write seven): Python keeps six.
_LONG_FRACTION = re.compile(r"(\.[0-9]{6})[0-9]+")


class TimeFormatError(ValueError):
    """A time or duration that cannot be read; the message says what was expected."""


def _check_range(seconds: float, text: str) -> float:
    if not math.isfinite(seconds):
        raise TimeFormatError(f"expected a finite time, got {_short(text)}")
    if seconds > MAX_UNIX_SECONDS:
        hint = " (milliseconds? expected seconds)" if seconds / 1000 <= MAX_UNIX_SECONDS else ""
        raise TimeFormatError(f"expected a time no later than 9999-12-31T23:59:59Z{hint}, got {_short(text)}")
    if seconds < 0:
        raise TimeFormatError(f"expected a time no earlier than 1970-01-01T00:00:00Z, got {_short(text)}")
    return seconds


def _short(text: str) -> str:
    """``text`` quoted, cut to 40 characters: a 5,000-digit number is not echoed whole."""
    t = text.strip()
    return repr(t) if len(t) <= 40 else repr(t[:37] + "...") + f" ({len(t)} characters)"


def parse_time(text: str) -> float:
    """Unix seconds or RFC 3339 (zone-less = UTC) to Unix seconds, in the range above.

    ``"1795932000"`` -> 1795932000.0; ``"2026-11-29T07:00:00+01:00"`` -> 1795932000.0;
    ``"2026-11-29 06:00:00"`` -> 1795932000.0 (UTC); ``"1795932000000"`` is refused.
    """
    t = text.strip()
    if _NUMBER.fullmatch(t):
        if len(t) > 40:
            raise TimeFormatError(f"expected Unix seconds no later than 9999-12-31T23:59:59Z, got {_short(t)}")
        return _check_range(float(t), t)
    iso = _LONG_FRACTION.sub(r"\1", t)
    if iso.endswith(("Z", "z")):
        iso = iso[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise TimeFormatError(
            f"expected Unix seconds or an RFC 3339 time such as 2026-11-29T06:00:00Z, got {_short(t)}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        seconds = dt.timestamp()
    except (OverflowError, ValueError):  # 9999-12-31T23:59:59-01:00 falls in year 10000
        raise TimeFormatError(f"expected a time no later than 9999-12-31T23:59:59Z, got {_short(t)}") from None
    return _check_range(seconds, t)


def parse_time_from(text: str, now: float) -> float:
    """:func:`parse_time`, or ``now`` / ``now-<duration>`` against the given clock reading.

    With ``now`` = 1795935600: ``"now-1h"`` -> 1795932000.0.
    """
    t = text.strip()
    if t == "now":
        return now
    if t.startswith("now-"):
        return _check_range(now - parse_duration(t[4:]), t)
    return parse_time(t)


def format_time(seconds: float, *, whole_seconds: bool = False) -> str:
    """Unix seconds to RFC 3339 UTC: ``2026-11-29T06:00:00Z``, or with a fraction
    ``2026-11-29T06:26:40.250000Z`` (six digits, as Kubernetes' MicroTime).
    ``whole_seconds`` truncates the fraction, as Kubernetes' metav1.Time holds it
    (an Event's firstTimestamp: 06:26:40.25 -> ``2026-11-29T06:26:40Z``)."""
    dt = datetime.fromtimestamp(seconds, tz=UTC)
    if whole_seconds or seconds == int(seconds):
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_duration(text: str) -> float:
    """A duration in seconds: ``15s`` -> 15, ``1m`` -> 60, ``90m`` -> 5400, ``1.5h`` -> 5400,
    ``2d`` -> 172800, ``250ms`` -> 0.25, ``30`` -> 30."""
    m = _DURATION.fullmatch(text)
    if m is None or m.group(2) not in UNITS:
        raise TimeFormatError(
            f"expected a duration such as 30, 15s, 90m, 6h or 2d (units: ms, s, m, h, d), got {_short(text)}"
        )
    seconds = float(m.group(1)) * UNITS[m.group(2)]
    if seconds > MAX_DURATION_SECONDS:
        raise TimeFormatError(f"expected a duration of at most 100 years, got {_short(text)}")
    return seconds
