"""ServeGen m-large: request counts per 10-minute window, arrivals generated inside.

Two files (../shared/traces/README.md): the aggregate (``window_start_s,requests,...``)
and the per-client file (``window_start_s,client_id,requests,iat_cv,iat_dist,iat_shape,
iat_scale``). Neither holds single requests, so each window's arrivals are generated:

* per client (the clients file): the client's inter-arrival gaps are drawn from its fitted
  distribution (``Gamma``: numpy's ``standard_gamma(shape)``; ``Weibull``:
  ``weibull(shape)``) and rescaled so the window holds exactly its request count, as
  ServeGen's own generator does: ``n + 1`` gaps ``g``, arrival ``i`` at
  ``start + 600 * (g_1 + ... + g_i) / (g_1 + ... + g_{n+1})``. The rescaling cancels the
  fitted scale, so only the shape (hence the burstiness, the CV) matters;
* aggregate only: ``n`` arrivals uniform in the window (Poisson given the count).

Token counts are drawn, prompt and output together, from an empirical distribution: the
Azure 2023 conversation trace's requests (ServeGen publishes none for m-large).
``scale`` multiplies every client's count (``floor(n k)`` plus one with probability of the
remainder). Window ``w`` is drawn from ``default_rng([seed, w])``: the same window is the
same in a one-day slice and in the fortnight, and for every policy.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from simulations.errors import InputProblem, SimulationInputError
from simulations.traces.base import Arrivals

WINDOW_S = 600.0
CLIENT_COLUMNS = ("window_start_s", "client_id", "requests", "iat_cv", "iat_dist", "iat_shape", "iat_scale")
AGGREGATE_COLUMNS = ("window_start_s", "requests")
DISTRIBUTIONS = ("Gamma", "Weibull")
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class TokenSource:
    """An empirical (prompt, output) distribution: requests are drawn from it whole."""

    name: str
    prompt: np.ndarray
    output: np.ndarray


@dataclass(frozen=True)
class ServeGenTrace:
    name: str
    start_s: float
    end_s: float
    window_start: np.ndarray  # one entry per window, sorted
    row_ptr: np.ndarray  # rows of window w: row_ptr[w]:row_ptr[w + 1]
    counts: np.ndarray  # requests per row (client-window, or window for the aggregate)
    gamma: np.ndarray  # True: Gamma gaps, False: Weibull gaps
    shape: np.ndarray  # fitted shape; NaN for the aggregate (uniform arrivals)
    tokens: TokenSource
    scale: float = 1.0
    seed: int = 1

    @property
    def per_client(self) -> bool:
        return bool(self.shape.size) and not bool(np.isnan(self.shape).all())

    def describe(self) -> str:
        w = (self.window_start > self.start_s - WINDOW_S) & (self.window_start < self.end_s)
        rows = slice(int(self.row_ptr[:-1][w][0]), int(self.row_ptr[1:][w][-1])) if w.any() else slice(0, 0)
        n = float(self.counts[rows].sum()) * self.scale
        kind = "per-client fitted inter-arrivals" if self.per_client else "uniform arrivals per window"
        return (
            f"{self.name}: ~{n:,.0f} requests over {self.end_s - self.start_s:,.0f} s ({kind}; "
            f"rate x{self.scale:g}; tokens from {self.tokens.name})"
        )

    def sliced(self, start: float | None, end: float | None) -> ServeGenTrace:
        s = self.start_s if start is None else max(self.start_s, start)
        e = self.end_s if end is None else min(self.end_s, end)
        return replace(self, start_s=s, end_s=max(s, e))

    def with_options(self, scale: float | None = None, seed: int | None = None) -> ServeGenTrace:
        return replace(self, scale=self.scale if scale is None else scale, seed=self.seed if seed is None else seed)

    def arrivals(self, t0: float, t1: float) -> Arrivals:
        t0, t1 = max(t0, self.start_s), min(t1, self.end_s)
        if t1 <= t0:
            return Arrivals.empty()
        first = int(np.searchsorted(self.window_start, t0 - WINDOW_S, side="right"))
        last = int(np.searchsorted(self.window_start, t1, side="left"))
        parts = []
        for w in range(first, last):
            a = self.window(w)
            if len(a) and (a.time[0] < t0 or a.time[-1] >= t1):
                i, j = np.searchsorted(a.time, [t0, t1], side="left")
                a = a.take(slice(int(i), int(j)))
            parts.append(a)
        return Arrivals.concat(parts)

    def window(self, w: int) -> Arrivals:
        """All arrivals of window ``w`` (an index into ``window_start``)."""
        start = float(self.window_start[w])
        lo, hi = int(self.row_ptr[w]), int(self.row_ptr[w + 1])
        rng = np.random.default_rng([self.seed, int(round(start / WINDOW_S))])
        n = self.counts[lo:hi]
        if self.scale != 1.0:
            exact = n * self.scale
            n = np.floor(exact) + (rng.random(n.shape[0]) < exact - np.floor(exact))
        n = n.astype(np.int64)
        total = int(n.sum())
        if total == 0:
            return Arrivals.empty()
        if self.per_client:
            t = start + WINDOW_S * _rescaled_gaps(rng, n, self.gamma[lo:hi], self.shape[lo:hi])
        else:
            t = start + WINDOW_S * rng.random(total)
        t.sort()
        pick = rng.integers(0, self.tokens.prompt.shape[0], size=total)
        return Arrivals(t, self.tokens.prompt[pick], self.tokens.output[pick], np.ones(total))


def _rescaled_gaps(rng: np.random.Generator, n: np.ndarray, gamma: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Arrival positions in [0, 1) for each row's ``n`` requests (unsorted across rows)."""
    keep_rows = n > 0
    n, gamma, shape = n[keep_rows], gamma[keep_rows], shape[keep_rows]
    m = n + 1
    shapes = np.repeat(shape, m)
    is_gamma = np.repeat(gamma, m)
    g = np.empty(shapes.shape[0])
    g[is_gamma] = rng.standard_gamma(shapes[is_gamma])
    g[~is_gamma] = rng.weibull(shapes[~is_gamma])
    ends = np.cumsum(m) - 1
    cs = np.cumsum(g)
    base = np.concatenate(([0.0], cs[ends[:-1]]))
    total = cs[ends] - base
    frac = (cs - np.repeat(base, m)) / np.repeat(total, m)
    bad = ~np.isfinite(frac)
    if bad.any():  # every gap underflowed to 0 (tiny shapes): fall back to uniform positions
        frac[bad] = rng.random(int(bad.sum()))
    keep = np.ones(frac.shape[0], dtype=bool)
    keep[ends] = False
    out: np.ndarray = np.minimum(frac[keep], np.nextafter(1.0, 0.0))
    return out


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), newline="")
    return open(path, newline="")


def load_servegen(path: str | Path, tokens: TokenSource, name: str | None = None) -> ServeGenTrace:
    """Read a ServeGen clients file or aggregate file (told apart by the header)."""
    source = str(path)
    p = Path(path)
    problems: list[InputProblem] = []
    rows: list[tuple[float, float, bool, float]] = []
    try:
        fh = _open_text(p)
    except OSError as e:
        raise SimulationInputError.one(source, 0, "file", f"cannot read: {e.strerror or e}") from None
    try:
        with fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            clients = "client_id" in header
            need = CLIENT_COLUMNS if clients else AGGREGATE_COLUMNS
            missing = [c for c in need if c not in header]
            if missing:
                raise SimulationInputError.one(
                    source,
                    1,
                    "header",
                    f"missing column(s) {', '.join(missing)}; "
                    f"expected {','.join(CLIENT_COLUMNS)} or {','.join(AGGREGATE_COLUMNS)}",
                )
            col = {c: header.index(c) for c in need}
            for row in reader:
                if not row:
                    continue
                parsed = _parse_row(source, reader.line_num, row, col, clients, len(header), problems)
                if parsed is not None and parsed[1] > 0:
                    rows.append(parsed)
                if len(problems) >= MAX_PROBLEMS:
                    break
    except (OSError, EOFError, csv.Error, UnicodeDecodeError, gzip.BadGzipFile) as e:
        raise SimulationInputError.one(source, 0, "file", f"cannot read: {e}") from None
    if problems:
        raise SimulationInputError(problems)
    if not rows:
        raise SimulationInputError.one(source, 2, "rows", "no window with requests; expected at least one row")
    arr = np.array([r[0] for r in rows])
    order = np.argsort(arr, kind="stable")
    arr = arr[order]
    counts = np.array([r[1] for r in rows])[order]
    gamma = np.array([r[2] for r in rows], dtype=bool)[order]
    shape = np.array([r[3] for r in rows])[order]
    starts, first = np.unique(arr, return_index=True)
    row_ptr = np.concatenate((first, [arr.shape[0]])).astype(np.int64)
    return ServeGenTrace(
        name=name or p.name.split(".")[0],
        start_s=float(starts[0]),
        end_s=float(starts[-1] + WINDOW_S),
        window_start=starts,
        row_ptr=row_ptr,
        counts=counts,
        gamma=gamma,
        shape=shape,
        tokens=tokens,
    )


def _parse_row(
    source: str, line: int, row: list[str], col: dict[str, int], clients: bool, width: int, problems: list[InputProblem]
) -> tuple[float, float, bool, float] | None:
    if len(row) != width:
        problems.append(InputProblem(source, line, "row", f"expected {width} fields, got {len(row)}"))
        return None
    ok = True

    def num(field: str) -> float:
        nonlocal ok
        try:
            v = float(row[col[field]])
            if math.isfinite(v):
                return v
        except ValueError:
            pass
        problems.append(InputProblem(source, line, field, f"expected a number, got {row[col[field]]!r}"))
        ok = False
        return 0.0

    start = num("window_start_s")
    if ok and (start < 0 or abs(start / WINDOW_S - round(start / WINDOW_S)) > 1e-9):
        problems.append(
            InputProblem(
                source,
                line,
                "window_start_s",
                f"expected a multiple of {WINDOW_S:g} s >= 0, got {row[col['window_start_s']]}",
            )
        )
        ok = False
    n = num("requests")
    if ok and (n < 0 or n != round(n)):
        problems.append(
            InputProblem(source, line, "requests", f"expected a whole number >= 0, got {row[col['requests']]}")
        )
        ok = False
    if not clients:
        return (start, n, False, math.nan) if ok else None
    if n == 0:
        return (start, 0.0, False, math.nan) if ok else None
    dist = row[col["iat_dist"]].strip()
    if dist not in DISTRIBUTIONS:
        problems.append(
            InputProblem(source, line, "iat_dist", f"expected one of {', '.join(DISTRIBUTIONS)}, got {dist!r}")
        )
        ok = False
    shape = num("iat_shape")
    if ok and shape <= 0:
        problems.append(InputProblem(source, line, "iat_shape", f"expected a number > 0, got {shape:g}"))
        ok = False
    scale = num("iat_scale")
    if ok and scale <= 0:
        problems.append(InputProblem(source, line, "iat_scale", f"expected a number > 0, got {scale:g}"))
        ok = False
    return (start, n, dist == "Gamma", shape) if ok else None
