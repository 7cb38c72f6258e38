"""Queueing formulas the fleet model is checked against.

Erlang C: in an M/M/c queue (Poisson arrivals at rate ``lam``, ``c`` servers, each
exponential with rate ``mu``, ``a = lam / mu < c``), the chance an arrival waits is

    C(c, a) = (a^c / c!) (c / (c - a)) / (sum_{k<c} a^k / k! + (a^c / c!) (c / (c - a)))

and the mean wait in queue is ``C(c, a) / (c mu - lam)``. It is computed from the
Erlang B recurrence ``B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))`` and
``C = c B(c) / (c - a (1 - B(c)))``, which stays finite for thousands of servers
(the factorial form overflows near c = 170).
"""

from __future__ import annotations


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting, for ``c`` servers offered ``a`` erlangs (``a < c``)."""
    if not 0 <= a < c:
        raise ValueError(f"need 0 <= a < c, got a={a}, c={c}")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1.0 - b))


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean time in queue of an M/M/c queue."""
    return erlang_c(c, lam / mu) / (c * mu - lam)
