"""classify_pods keeps the last all-ready answer with its pods tuple: a tuple seen before
gets the same answer back, and any other tuple (a pod not ready, another pod) is
classified afresh, whatever came before."""
from __future__ import annotations

from autoscaler.core.proposal import classify_pods
from autoscaler.core.types import PodState

NOW = 1_800_000_000.0


def test_the_kept_answer_is_only_for_the_same_pods() -> None:
    ready = (PodState("a", start_time=NOW - 600), PodState("b", start_time=NOW - 600))
    first = classify_pods(ready, 120.0, NOW)
    assert classify_pods(ready, 120.0, NOW + 15) is first
    assert first.candidates == {"a", "b"} and not first.set_aside
    # b restarted: same names, a new tuple with b loading (started 30 s ago, startupSeconds 120)
    loading = (ready[0], PodState("b", ready=False, start_time=NOW - 30))
    classes = classify_pods(loading, 120.0, NOW)
    assert classes.candidates == {"a"} and classes.loading == {"b"} and classes.set_aside == {"b"}
    # an equal tuple that is not the kept one is classified afresh, to the same answer
    again = classify_pods(tuple(ready), 120.0, NOW)
    assert again == first
    assert classify_pods((ready[0],), 120.0, NOW).names == {"a"}
    assert classify_pods(loading, 120.0, NOW + 200).stuck == {"b"}  # never served from the kept answer
