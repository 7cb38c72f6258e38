"""Request traces for the simulator: per-request CSVs, ServeGen windows, Poisson."""

from simulations.traces.base import Arrivals, Trace, chunks
from simulations.traces.requests import RequestTrace, load_request_csv
from simulations.traces.resolve import BUNDLED, load_trace, traces_dir
from simulations.traces.servegen import ServeGenTrace, TokenSource, load_servegen
from simulations.traces.synthetic import PoissonTrace

__all__ = [
    "Arrivals",
    "BUNDLED",
    "PoissonTrace",
    "RequestTrace",
    "ServeGenTrace",
    "TokenSource",
    "Trace",
    "chunks",
    "load_request_csv",
    "load_servegen",
    "load_trace",
    "traces_dir",
]
