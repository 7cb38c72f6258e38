"""autoscaler/times.py: the one reader, formatter and duration parser, as tables."""
from __future__ import annotations

import pytest

from autoscaler.times import TimeFormatError, format_time, parse_duration, parse_time, parse_time_from

T = 1_795_932_000  # 2026-11-29T06:00:00Z


@pytest.mark.parametrize("text, seconds", [
    pytest.param("1795932000", T, id="unix-seconds"),
    pytest.param(" 1795932000.25 ", T + 0.25, id="unix-fraction"),
    pytest.param("1.795932e9", T, id="unix-exponent"),
    pytest.param("2026-11-29T06:00:00Z", T, id="rfc3339-z"),
    pytest.param("2026-11-29T07:00:00+01:00", T, id="rfc3339-offset"),
    pytest.param("2026-11-29T06:00:00", T, id="no-zone-is-utc"),
    pytest.param("2026-11-29 06:00:00.0000000", T, id="azure-trace-seven-digits"),
    pytest.param("2026-11-29T06:00:00.250000Z", T + 0.25, id="micro"),
    pytest.param("0", 0, id="epoch"),
    pytest.param("9999-12-31T23:59:59Z", 253_402_300_799, id="last-second"),
])
def test_parse_time(text: str, seconds: float) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text, complaint", [
    pytest.param("1795932000000", "milliseconds", id="milliseconds"),
    pytest.param("253402300800", "no later than 9999", id="year-10000-unix"),
    pytest.param("10000-01-01T00:00:00Z", "expected Unix seconds or an RFC 3339", id="year-10000-iso"),
    pytest.param("9999-12-31T23:59:59-01:00", "no later than 9999", id="year-10000-by-offset"),
    pytest.param("9" * 5000, "(5000 characters)", id="5000-digits"),
    pytest.param("-1", "no earlier than 1970", id="before-1970"),
    pytest.param("inf", "expected Unix seconds", id="inf"),
    pytest.param("nan", "expected Unix seconds", id="nan"),
    pytest.param("1e400", "finite", id="overflow"),
    pytest.param("yesterday", "expected Unix seconds", id="word"),
    pytest.param("", "expected Unix seconds", id="empty"),
])
def test_parse_time_refuses(text: str, complaint: str) -> None:
    with pytest.raises(TimeFormatError) as e:
        parse_time(text)
    assert complaint in str(e.value)
    assert len(str(e.value)) < 200  # a 5,000-digit input is not echoed whole


@pytest.mark.parametrize("t, text", [
    pytest.param(T, "2026-11-29T06:00:00Z", id="whole"),
    pytest.param(T + 0.25, "2026-11-29T06:00:00.250000Z", id="fraction"),
])
def test_format_time_round_trips(t: float, text: str) -> None:
    assert format_time(t) == text
    assert parse_time(text) == t


@pytest.mark.parametrize("text, seconds", [
    ("30", 30), ("15s", 15), ("1m", 60), ("90m", 5400), ("90min", 5400), ("1.5h", 5400), ("2d", 172800),
    ("250ms", 0.25), (" 6h ", 21600),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5s", "5 weeks", "1e3s", "inf", "101y", "40000d", "9" * 5000])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_duration(text)


def test_relative_times_read_the_clock_given() -> None:
    assert parse_time_from("now", T) == T
    assert parse_time_from("now-1h", T) == T - 3600
    with pytest.raises(TimeFormatError):
        parse_time_from("now-100y", T)  # before 1970
