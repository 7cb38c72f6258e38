"""``--trace``: a file path or a bundled trace name, with options after a colon.

    TRACE[:OPTION=VALUE[,OPTION=VALUE...]]

``TRACE`` is a path, or one of the bundled names, resolved against the traces folder
beside the clone (``../shared/traces``; the environment variable
``GPU_AUTOSCALER_TRACES`` overrides it):

=========================  ================================================================
``azure_llm_2023_code``    azure_llm_2023_code.csv (per request)
``azure_llm_2023_conv``    azure_llm_2023_conv.csv (per request)
``servegen_m_large``       servegen_m_large_clients.csv.gz (per client, fitted gaps)
``servegen_m_large_10min`` servegen_m_large_10min.csv (window counts, uniform arrivals)
``poisson``                synthetic; needs ``rate`` and ``duration``
``synthetic``              a generated held-out workload; needs ``kind``
                           (:mod:`simulations.traces.workloads`)
=========================  ================================================================

Options: ``scale=K`` (rate factor), ``day=N`` (day N of the trace's clock, 1-based),
``days=A-B`` (days A to B inclusive), ``start=T`` / ``end=T`` (``T`` in seconds, or with
a unit: ``90m``, ``6h``, ``2d``; on the trace's clock), ``seed=N``, ``jitter=T`` (spread
of the copies made by ``scale`` on per-request traces), ``tokens=PATH`` (ServeGen's token
distribution; default ``azure_llm_2023_conv.csv`` next to it), and for ``poisson``:
``rate``, ``duration``, ``prompt``, ``output``, ``dist=fixed|exponential``; for ``synthetic``:
``kind`` (one of :data:`~simulations.traces.workloads.KINDS`), ``seed``, ``duration`` (default
2 h), ``scale``.

Examples: ``servegen_m_large:day=1,scale=0.5``, ``azure_llm_2023_code:scale=8``,
``poisson:rate=20,duration=2h,dist=exponential``, ``synthetic:kind=onoff_mixed,seed=2``.
"""

from __future__ import annotations

import csv
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoscaler.times import parse_duration as parse_duration
from simulations.errors import SimulationInputError
from simulations.traces.base import Trace
from simulations.traces.requests import load_request_csv
from simulations.traces.servegen import TokenSource, load_servegen
from simulations.traces.synthetic import TOKEN_DISTS, PoissonTrace
from simulations.traces.workloads import DEFAULT_DURATION_S, KINDS, MAX_DURATION_S, WorkloadTrace

BUNDLED = {
    "azure_llm_2023_code": "azure_llm_2023_code.csv",
    "azure_llm_2023_conv": "azure_llm_2023_conv.csv",
    "servegen_m_large": "servegen_m_large_clients.csv.gz",
    "servegen_m_large_10min": "servegen_m_large_10min.csv",
}
TOKEN_FILE = "azure_llm_2023_conv.csv"
OPTIONS = (
    "scale",
    "day",
    "days",
    "start",
    "end",
    "seed",
    "jitter",
    "tokens",
    "rate",
    "duration",
    "prompt",
    "output",
    "dist",
    "kind",
)
DAY_S = 86400.0


def traces_dir() -> Path:
    """The bundled traces: ``$GPU_AUTOSCALER_TRACES``, else ``shared/traces`` beside the clone."""
    env = os.environ.get("GPU_AUTOSCALER_TRACES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "traces"


@dataclass(frozen=True)
class TraceRequest:
    target: str
    options: dict[str, str]


def split_spec(spec: str) -> TraceRequest:
    target, options = spec, {}
    head, sep, tail = spec.rpartition(":")
    if sep and "=" in tail and head:
        target = head
        for part in tail.split(","):
            key, eq, value = part.partition("=")
            if not eq or not key.strip():
                raise SimulationInputError.one("--trace", 0, part or "option", "expected OPTION=VALUE")
            options[key.strip()] = value.strip()
    return TraceRequest(target, options)


def load_trace(spec: str) -> Trace:
    """The trace ``spec`` names, sliced and scaled as its options say."""
    req = split_spec(spec)
    src = "--trace"
    for k in req.options:
        if k not in OPTIONS:
            raise SimulationInputError.one(src, 0, k, f"unknown option; expected one of {', '.join(OPTIONS)}")
    opts = _Options(req.options, src)
    if req.target == "poisson":
        trace: Trace = PoissonTrace(
            rate=opts.number("rate", None, positive=True),
            duration_s=opts.duration("duration", None),
            prompt=opts.number("prompt", 1000.0),
            output=opts.number("output", 200.0),
            dist=opts.choice("dist", "fixed", TOKEN_DISTS),
            seed=opts.integer("seed", 1),
        )
        return trace
    if req.target == "synthetic":
        return _workload(req, opts)
    path = _resolve_path(req.target)
    kind = _sniff(path)
    scale = opts.number("scale", 1.0, positive=True)
    seed = opts.integer("seed", 1)
    if kind == "requests":
        rt = load_request_csv(path, name=req.target if req.target in BUNDLED else None)
        rt = rt.scaled(scale, seed, jitter_s=opts.duration("jitter", 10.0))
        start, end = opts.window(rt.start_s, rt.end_s, str(path))
        return rt.sliced(start, end)
    tokens_path = Path(req.options["tokens"]) if "tokens" in req.options else _token_file(path)
    sg = load_servegen(path, token_source(str(tokens_path)), name=req.target if req.target in BUNDLED else None)
    sg = sg.with_options(scale=scale, seed=seed)
    start, end = opts.window(sg.start_s, sg.end_s, str(path))
    return sg.sliced(start, end)


def _workload(req: TraceRequest, opts: _Options) -> Trace:
    allowed = ("kind", "seed", "duration", "scale")
    for k in req.options:
        if k not in allowed:
            raise SimulationInputError.one(
                "--trace", 0, k, f"not an option of synthetic; expected {', '.join(allowed)}"
            )
    if "kind" not in req.options:
        raise SimulationInputError.one("--trace", 0, "kind", f"is required; expected one of {', '.join(KINDS)}")
    duration = opts.duration("duration", DEFAULT_DURATION_S)
    if not 0 < duration <= MAX_DURATION_S:
        raise opts._fail("duration", "expected a duration above 0 and at most 31 days")
    return WorkloadTrace(
        kind=opts.choice("kind", "", KINDS),
        duration_s=duration,
        seed=opts.integer("seed", 1),
        scale=opts.number("scale", 1.0, positive=True),
    )


def _resolve_path(target: str) -> Path:
    p = Path(target)
    if p.exists():
        return p
    if target in BUNDLED:
        bundled = traces_dir() / BUNDLED[target]
        if not bundled.exists():
            raise SimulationInputError.one(
                str(bundled),
                0,
                "file",
                f"bundled trace {target!r} not found; expected "
                "the shared traces folder beside the clone or $GPU_AUTOSCALER_TRACES",
            )
        return bundled
    if (traces_dir() / target).exists():
        return traces_dir() / target
    raise SimulationInputError.one(
        target,
        0,
        "file",
        f"no such file; expected a path or one of {', '.join(list(BUNDLED) + ['poisson', 'synthetic'])}",
    )


def _sniff(path: Path) -> str:
    if path.suffix == ".gz":
        return "servegen"
    try:
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise SimulationInputError.one(str(path), 0, "file", f"cannot read: {e}") from None
    return "servegen" if "window_start_s" in [h.strip() for h in header] else "requests"


def _token_file(path: Path) -> Path:
    beside = path.parent / TOKEN_FILE
    return beside if beside.exists() else traces_dir() / TOKEN_FILE


@functools.lru_cache(maxsize=4)
def token_source(path: str) -> TokenSource:
    """The (prompt, output) pairs of a per-request trace, as an empirical distribution."""
    rt = load_request_csv(path)
    return TokenSource(name=Path(path).name, prompt=rt.data.prompt.copy(), output=rt.data.output.copy())


class _Options:
    def __init__(self, raw: dict[str, str], source: str):
        self.raw = raw
        self.source = source

    def _fail(self, key: str, what: str) -> SimulationInputError:
        return SimulationInputError.one(self.source, 0, key, f"{what}, got {self.raw.get(key)!r}")

    def number(self, key: str, default: float | None, positive: bool = False) -> float:
        if key not in self.raw:
            if default is None:
                raise SimulationInputError.one(self.source, 0, key, "is required")
            return default
        try:
            v = float(self.raw[key])
        except ValueError:
            raise self._fail(key, "expected a number") from None
        if not np.isfinite(v) or v < 0 or (positive and v == 0):
            raise self._fail(key, "expected a number > 0" if positive else "expected a number >= 0")
        return v

    def integer(self, key: str, default: int) -> int:
        if key not in self.raw:
            return default
        try:
            v = int(self.raw[key])
        except ValueError:
            raise self._fail(key, "expected a whole number") from None
        if v < 0:
            raise self._fail(key, "expected a whole number >= 0")
        return v

    def duration(self, key: str, default: float | None) -> float:
        if key not in self.raw:
            if default is None:
                raise SimulationInputError.one(self.source, 0, key, "is required (seconds, or e.g. 90m, 6h, 2d)")
            return default
        try:
            return parse_duration(self.raw[key])
        except ValueError:
            raise self._fail(key, "expected a duration (seconds, or e.g. 90m, 6h, 2d)") from None

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        v = self.raw.get(key, default)
        if v not in choices:
            raise self._fail(key, f"expected one of {', '.join(choices)}")
        return v

    def window(self, lo: float, hi: float, source: str) -> tuple[float | None, float | None]:
        """The slice [start, end) the options ask for, checked against the trace's span."""
        given = [k for k in ("day", "days") if k in self.raw]
        if len(given) > 1 or (given and ("start" in self.raw or "end" in self.raw)):
            raise SimulationInputError.one(self.source, 0, given[0], "use one of day, days, or start/end")
        last_day = max(1, int(np.ceil((hi - 1e-9) / DAY_S)))
        start = end = None
        if "day" in self.raw:
            try:
                d = int(self.raw["day"])
            except ValueError:
                raise self._fail("day", f"expected a day number 1..{last_day}") from None
            if not 1 <= d <= last_day:
                raise self._fail("day", f"expected a day number 1..{last_day}")
            start, end = (d - 1) * DAY_S, d * DAY_S
        elif "days" in self.raw:
            m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", self.raw["days"])
            if not m or not 1 <= int(m.group(1)) <= int(m.group(2)) <= last_day:
                raise self._fail("days", f"expected A-B with 1 <= A <= B <= {last_day}")
            start, end = (int(m.group(1)) - 1) * DAY_S, int(m.group(2)) * DAY_S
        else:
            if "start" in self.raw:
                start = self.duration("start", 0.0)
            if "end" in self.raw:
                end = self.duration("end", 0.0)
        s = lo if start is None else max(lo, start)
        e = hi if end is None else min(hi, end)
        if e <= s:
            raise SimulationInputError.one(
                source, 0, "start/end", f"the slice [{s:g}, {e:g}) s is empty; the trace covers [{lo:g}, {hi:g}) s"
            )
        return start, end
