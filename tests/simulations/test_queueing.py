"""The Erlang-C formula the fleet is checked against, on known values."""
from __future__ import annotations

import pytest

from simulations.queueing import erlang_c, mmc_mean_wait


@pytest.mark.parametrize(("c", "a", "expected"), [
    pytest.param(1, 0.5, 0.5, id="M/M/1: C = rho"),
    pytest.param(2, 1.0, 1 / 3, id="c=2, a=1: (1/2)(2) / (1 + 1 + 1) = 1/3"),
    pytest.param(20, 18.0, 0.55077, id="c=20, a=18 (tables: 0.5508)"),
    pytest.param(1000, 970.0, 0.24282, id="c=1000: no overflow"),
])
def test_erlang_c(c: int, a: float, expected: float) -> None:
    assert erlang_c(c, a) == pytest.approx(expected, rel=1e-4)


def test_mmc_mean_wait() -> None:
    # M/M/1, lambda 0.5, mu 1: Wq = rho / (mu - lambda) = 0.5 / 0.5 = 1
    assert mmc_mean_wait(0.5, 1.0, 1) == pytest.approx(1.0)


def test_erlang_c_rejects_an_unstable_queue() -> None:
    with pytest.raises(ValueError):
        erlang_c(4, 4.0)
