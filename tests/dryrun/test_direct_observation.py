"""The dry-run's direct observation: a tick at which every pod has a usable sample of every
metric skips the Readings (``autoscaler.dryrun._observe_at``). It must be exactly the
observation the one observe step gives: the rule (``is_usable``) is the same on a float as
on a block of ticks, and the replay equals the reference replay, which observes every tick
through ``observe``, on recordings where some ticks take the direct path and some do not."""
from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from autoscaler.core.observe import Reading, is_usable, observe_per_pod
from autoscaler.dryrun import _blocks, replay
from autoscaler.recording.reader import load_recording
from autoscaler.spec import parse_spec
from tests.dryrun import reference

NOW = 1_800_000_000.0
MAX_AGE = 30.0  # two polling intervals of 15 s

USABLE = [
    pytest.param(4.0, 0.0, True, id="fresh"),
    pytest.param(0.0, 29.9, True, id="zero-just-fresh"),
    pytest.param(4.0, 30.0, False, id="two-intervals-old"),
    pytest.param(math.nan, 0.0, False, id="nan"),
    pytest.param(math.inf, 0.0, False, id="inf"),
    pytest.param(-1.0, 0.0, False, id="negative"),
    pytest.param(4.0, math.nan, False, id="no-sample-time"),
]


@pytest.mark.parametrize("value, age, usable", USABLE)
def test_the_usable_rule_is_the_same_on_a_float_an_array_and_in_observe(value: float, age: float,
                                                                        usable: bool) -> None:
    assert bool(is_usable(value, age, MAX_AGE)) is usable
    with np.errstate(invalid="ignore"):
        assert is_usable(np.array([value]), np.array([age]), MAX_AGE).tolist() == [usable]
    seen = observe_per_pod(Reading(per_pod={"a": (value, NOW - age)}), ["a"], MAX_AGE, NOW, "queue_depth")
    assert (seen.error is None) is usable


SPEC = parse_spec({
    "scaleTargetRef": {"kind": "Deployment", "name": "llm"}, "maxReplicas": 12, "pollingIntervalSeconds": 15,
    "startupSeconds": 45,
    "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}},
                {"type": "GPUUtilization", "signal": "smActive", "target": {"averageUtilization": 70}}],
})


def generate(seed: int, *, open_loop: bool, ticks: int = 200) -> str:
    """Samples on the tick grid for a few pods, mostly all usable, with missed, NaN,
    negative and late samples, unready pods, and pods that come and go."""
    rnd = random.Random(seed)
    rows = ["timestamp,metric,pod,value"]
    pods = [f"pod-{i}" for i in range(rnd.randint(1, 4))]
    serial = len(pods)
    t = NOW
    for _ in range(ticks):
        t += rnd.choice([15, 15, 15, 15, 15, 40])
        if rnd.random() < 0.05:
            pods.append(f"pod-{serial}")
            serial += 1
        if len(pods) > 1 and rnd.random() < 0.04:
            pods.remove(rnd.choice(pods))
        if open_loop:
            rows.append(f"{t:.0f},replicas,,{max(len(pods) + rnd.choice([-1, 0, 0, 1]), 0)}")
        load = rnd.uniform(0, 12)
        for pod in rnd.sample(pods, len(pods)):  # rows in any pod order
            r = rnd.random()
            value = "nan" if r < 0.02 else "-1" if r < 0.04 else f"{max(0.0, load + rnd.gauss(0, 1)):.2f}"
            if r > 0.97:
                continue  # a missed sample
            rows.append(f"{t:.0f},queue_depth,{pod},{value}")
            if rnd.random() < 0.98:
                rows.append(f"{t:.0f},gpu_utilization,{pod},{min(100.0, 10 * load + rnd.gauss(0, 5)):.1f}")
            if rnd.random() < 0.02:
                rows.append(f"{t:.0f},ready,{pod},{rnd.choice([0, 1])}")
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("open_loop", [True, False], ids=["open-loop", "closed-loop"])
@pytest.mark.parametrize("seed", range(4))
def test_direct_observations_equal_the_observe_step(tmp_path: Path, seed: int, open_loop: bool) -> None:
    p = tmp_path / "rec.csv"
    p.write_text(generate(seed, open_loop=open_loop))
    recording = load_recording(p, SPEC)
    direct = [ok for block in _blocks(SPEC, recording) for ok in block.all_usable]
    assert sum(direct) > 20 and not all(direct)  # both paths are taken
    old = list(reference.replay(SPEC, reference.load_recording(p, SPEC)))
    new = list(replay(SPEC, recording))
    assert len(new) == len(old) > 100
    for before, now in zip(old, new, strict=True):
        assert now.observation == before.observation
        assert list(now.observation.metrics) == list(before.observation.metrics)
        for key, seen in now.observation.metrics.items():
            assert list(seen.per_pod.items()) == list(before.observation.metrics[key].per_pod.items())
        assert now.decision == before.decision
    assert len({t.decision.action for t in new}) > 1  # the recording makes the scaler move
