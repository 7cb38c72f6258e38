"""Per-request traces: ``TIMESTAMP,ContextTokens,GeneratedTokens`` (DESIGN.md Contract 5).

The Azure LLM inference traces (2023, code and conversation; ../shared/traces/README.md)
are in this format. ``TIMESTAMP`` is ``YYYY-MM-DD HH:MM:SS[.fffffff]`` (any ISO 8601 date
and time, taken as UTC when it has no offset) or plain seconds; the clock starts at the
first arrival. Rows need not be sorted.

Rate scaling (``scale``): each request is kept ``floor(k)`` times, and once more with
probability ``k - floor(k)`` (so ``k < 1`` thins the trace). The first copy keeps its
time; the others are shifted by a uniform jitter in ``[-jitter_s/2, jitter_s/2)``
(default 10 s). The trace keeps its shape at every time scale above the jitter (the code
trace's bursts and idle minutes stay where they are), while inside it the copies spread
out as a k times larger population of users would (without the jitter, ``scale=16``
would turn every second's arrivals into 16 simultaneous ones).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

import numpy as np

from autoscaler.times import parse_time
from simulations.errors import InputProblem, SimulationInputError
from simulations.traces.base import Arrivals

COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class RequestTrace:
    name: str
    start_s: float
    end_s: float
    data: Arrivals
    epoch_s: float = 0.0  # Unix time of the clock's 0, when the file had dates

    def arrivals(self, t0: float, t1: float) -> Arrivals:
        i, j = np.searchsorted(self.data.time, [t0, t1], side="left")
        return self.data.take(slice(int(i), int(j)))

    def describe(self) -> str:
        n = len(self.data)
        return f"{self.name}: {n:,} requests over {self.end_s - self.start_s:,.0f} s"

    def sliced(self, start: float | None, end: float | None) -> RequestTrace:
        s = self.start_s if start is None else max(self.start_s, start)
        e = self.end_s if end is None else min(self.end_s, end)
        return replace(self, start_s=s, end_s=max(s, e), data=self.arrivals(s, max(s, e)))

    def scaled(self, k: float, seed: int, jitter_s: float = 10.0) -> RequestTrace:
        if k == 1.0:
            return self
        d = self.data
        rng = np.random.default_rng([seed, 0x5CA1E])
        whole = math.floor(k)
        copies = np.full(len(d), whole, dtype=np.int64) + (rng.random(len(d)) < k - whole)
        idx = np.repeat(np.arange(len(d)), copies)
        starts = np.cumsum(copies) - copies
        first = np.zeros(idx.shape[0], dtype=bool)
        first[starts[copies > 0]] = True
        shift = np.where(first, 0.0, (rng.random(idx.shape[0]) - 0.5) * jitter_s)
        t = d.time[idx] + shift
        order = np.argsort(t, kind="stable")
        t = t[order]
        keep = (t >= self.start_s) & (t < self.end_s)
        data = Arrivals(t[keep], d.prompt[idx][order][keep], d.output[idx][order][keep], d.count[idx][order][keep])
        return replace(self, name=self.name, data=data)


def _tokens(text: str) -> float:
    v = float(text)
    if not math.isfinite(v) or v < 0 or v != int(v):
        raise ValueError(text)
    return v


def _parse_row(
    source: str, line_no: int, row: list[str], it: int, ip: int, io: int, problems: list[InputProblem]
) -> tuple[float, float, float] | None:
    ok = True
    try:
        t = parse_time(row[it])
    except ValueError as e:  # the one rule of autoscaler.times: no zone means UTC
        problems.append(
            InputProblem(
                source, line_no, "TIMESTAMP", f"expected a date and time (YYYY-MM-DD HH:MM:SS.f) or seconds ({e})"
            )
        )
        ok = False
    tokens = []
    for col, idx in (("ContextTokens", ip), ("GeneratedTokens", io)):
        try:
            tokens.append(_tokens(row[idx]))
        except ValueError:
            problems.append(InputProblem(source, line_no, col, f"expected a whole number >= 0, got {row[idx]!r}"))
            ok = False
    return (t, tokens[0], tokens[1]) if ok else None


def _read_rows(fh: TextIO, source: str) -> tuple[list[float], list[float], list[float]]:
    problems: list[InputProblem] = []
    times: list[float] = []
    prompts: list[float] = []
    outputs: list[float] = []
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration:
        raise SimulationInputError.one(
            source, 1, "header", f"empty file; expected the header {','.join(COLUMNS)}"
        ) from None
    except (csv.Error, UnicodeDecodeError) as e:
        raise SimulationInputError.one(source, 1, "header", f"not a CSV file: {e}") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise SimulationInputError.one(
            source,
            1,
            "header",
            f"missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}, got {','.join(header)}",
        )
    it, ip, io = (header.index(c) for c in COLUMNS)
    width = len(header)
    try:
        for row in reader:
            line_no = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                problems.append(InputProblem(source, line_no, "row", f"expected {width} fields, got {len(row)}"))
            else:
                parsed = _parse_row(source, line_no, row, it, ip, io, problems)
                if parsed is not None:
                    times.append(parsed[0])
                    prompts.append(parsed[1])
                    outputs.append(parsed[2])
            if len(problems) >= MAX_PROBLEMS:
                break
    except (csv.Error, UnicodeDecodeError) as e:
        problems.append(InputProblem(source, reader.line_num, "row", f"not valid CSV: {e}"))
    if problems:
        raise SimulationInputError(problems)
    if not times:
        raise SimulationInputError.one(source, 2, "rows", "no requests; expected at least one row after the header")
    return times, prompts, outputs


def load_request_csv(path: str | Path, name: str | None = None) -> RequestTrace:
    """Read a per-request CSV; every bad row is reported as ``FILE:LINE: field: problem``."""
    source = str(path)
    try:
        with open(path, newline="") as fh:
            times, prompts, outputs = _read_rows(fh, source)
    except OSError as e:
        raise SimulationInputError.one(source, 0, "file", f"cannot read: {e.strerror or e}") from None
    t = np.asarray(times, dtype=float)
    order = np.argsort(t, kind="stable")
    epoch = float(t[order[0]])
    t = t[order] - epoch
    data = Arrivals.of(t, np.asarray(prompts)[order], np.asarray(outputs)[order])
    end = float(math.floor(t[-1]) + 1.0)
    return RequestTrace(name=name or Path(source).stem, start_s=0.0, end_s=end, data=data, epoch_s=epoch)
