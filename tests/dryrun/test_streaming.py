"""The streaming replay equals the replay that read the whole file (tests/dryrun/reference.py),
tick by tick, on generated recordings, open and closed loop, whatever the block size:
blocks of 97 bytes cut the file every line or two, so every carry between blocks is used;
``keep_rows=0`` makes the replay read the file again, as it does past 1 million rows."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from autoscaler.dryrun import replay
from autoscaler.recording.reader import RecordingError, load_recording
from autoscaler.report import tick_record
from autoscaler.spec import parse_spec
from tests.dryrun import reference

T0 = 1_800_000_000

SPEC = parse_spec({
    "scaleTargetRef": {"kind": "Deployment", "name": "llm"}, "maxReplicas": 12, "pollingIntervalSeconds": 15,
    "startupSeconds": 45,
    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60, "cooldownSeconds": 30}},
    "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}},
                {"type": "GPUUtilization", "signal": "smActive", "target": {"averageUtilization": 70}},
                {"type": "Prometheus", "name": "tokens", "query": "sum(rate(x[1m]))",
                 "target": {"averageValue": 2500}}],
})


def generate(seed: int, *, open_loop: bool, ticks: int = 120) -> str:
    """Samples off the tick grid, pods that come and go, gaps longer than the staleness
    limit, NaN and negative values, unready pods, RFC 3339 and fractional times."""
    rnd = random.Random(seed)
    rows = ["timestamp,metric,pod,value"]
    pods = [f"pod-{i}" for i in range(rnd.randint(1, 6))]
    serial = len(pods)
    t = float(T0 + rnd.choice([0, 3, 7.5]))
    for _ in range(ticks):
        t += rnd.choice([5, 10, 15, 15, 15, 20, 45])
        if rnd.random() < 0.08:
            pods.append(f"pod-{serial}")
            serial += 1
        if len(pods) > 1 and rnd.random() < 0.06:
            pods.remove(rnd.choice(pods))
        stamp = (f"{t:.0f}" if t == int(t) else f"{t:.1f}") if rnd.random() < 0.9 else _rfc3339(t)
        if open_loop:
            rows.append(f"{stamp},replicas,,{max(len(pods) + rnd.choice([-1, 0, 0, 1]), 0)}")
        if rnd.random() < 0.7:
            rows.append(f"{stamp},tokens,,{rnd.uniform(0, 20000):.1f}")
        load = rnd.uniform(0, 12)
        for pod in pods:
            r = rnd.random()
            if r < 0.05:
                continue  # a missed sample
            value = "nan" if r < 0.08 else "-1" if r < 0.1 else f"{max(0.0, load + rnd.gauss(0, 1)):.2f}"
            rows.append(f"{stamp},queue_depth,{pod},{value}")
            if rnd.random() < 0.9:
                rows.append(f"{stamp},gpu_utilization,{pod},{min(100.0, 10 * load + rnd.gauss(0, 5)):.1f}")
            if rnd.random() < 0.1:
                rows.append(f"{stamp},ready,{pod},{rnd.choice([0, 1])}")
    return "\n".join(rows) + "\n"


def _rfc3339(t: float) -> str:
    from autoscaler.times import format_time
    return format_time(t)


def _lines(ticks: object) -> list[str]:
    return [json.dumps(tick_record(t), allow_nan=False) for t in ticks]  # type: ignore[attr-defined]


@pytest.mark.parametrize("open_loop", [True, False], ids=["open-loop", "closed-loop"])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("block_bytes, keep_rows", [(97, 0), (4096, 0), (1 << 22, 0), (97, 10**6), (1 << 22, 10**6)],
                         ids=["97B-streamed", "4kB-streamed", "4MB-streamed", "97B-kept", "4MB-kept"])
def test_streaming_replay_equals_the_whole_file_replay(tmp_path: Path, seed: int, open_loop: bool,
                                                       block_bytes: int, keep_rows: int) -> None:
    p = tmp_path / "rec.csv"
    p.write_text(generate(seed, open_loop=open_loop))
    old = list(reference.replay(SPEC, reference.load_recording(p, SPEC)))
    recording = load_recording(p, SPEC, block_bytes=block_bytes, keep_rows=keep_rows)
    assert recording.open_loop is open_loop
    new = list(replay(SPEC, recording))
    assert len(new) == len(old) > 100
    assert [t.observation for t in new] == [t.observation for t in old]
    assert _lines(new) == _lines(old)
    assert len({t.decision.action for t in new}) > 1  # the recording makes the scaler move


BAD = [
    ("empty", ""),
    ("blank-first-line", "\ntimestamp,metric,pod,value\n0,queue_depth,a,1\n"),
    ("header", "time,metric,pod,value\n1,queue_depth,a,1\n"),
    ("header-only", "timestamp,metric,pod,value\n"),
    ("unknown-metric", "timestamp,metric,pod,value\n0,queue_depth,a,1\n15,tokenz,a,1\n"),
    ("non-numeric", "timestamp,metric,pod,value\n0,queue_depth,a,1\n15,queue_depth,a,many\n"),
    ("unsorted-far", "timestamp,metric,pod,value\n" + "".join(f"{15 * i},queue_depth,a,1\n" for i in range(40))
     + "3,queue_depth,b,1\n"),
    ("duplicate-across-blocks", "timestamp,metric,pod,value\n" + "".join(f"0,queue_depth,p{i},1\n" for i in range(30))
     + "0,queue_depth,p3,2\n"),
    ("bad-time", "timestamp,metric,pod,value\n0,queue_depth,a,1\nyesterday,queue_depth,a,1\n"),
    ("no-pod", "timestamp,metric,pod,value\n0,queue_depth,,1\n"),
    ("pod-on-wide", "timestamp,metric,pod,value\n0,replicas,a,1\n"),
    ("spaces-around-pod", "timestamp,metric,pod,value\n0,queue_depth, a,1\n"),
    ("fractional-replicas", "timestamp,metric,pod,value\n0,replicas,,2\n15,replicas,,2.5\n"),
    ("ready-2", "timestamp,metric,pod,value\n0,ready,a,2\n"),
    ("short-row", "timestamp,metric,pod,value\n0,queue_depth,a,1\n15,queue_depth,a\n"),
    ("not-utf8", "timestamp,metric,pod,value\n0,queue_depth,a,1\n15,queue_depth,\udcff,1\n"),
    ("gap", "timestamp,metric,pod,value\n" + "".join(f"{T0 + 15 * i},queue_depth,a,1\n" for i in range(20))
     + f"{T0 + 3 * 365 * 86400},queue_depth,a,1\n"),
    ("quoted", 'timestamp,metric,pod,value\n0,queue_depth,"a",1\n15,replicas,"a,b",1\n'),
    ("quoted-short", 'timestamp,metric,pod,value\n0,queue_depth,"a",1\n15,"queue_depth",a\n'),
]


@pytest.mark.parametrize("body", [b for _, b in BAD], ids=[i for i, _ in BAD])
@pytest.mark.parametrize("block_bytes", [16, 97, 1 << 22], ids=["16B", "97B", "4MB"])
def test_a_bad_recording_gets_the_same_error_as_before(tmp_path: Path, body: str, block_bytes: int) -> None:
    """One fault per file: the same FILE:LINE and words as the whole-file reader gave."""
    p = tmp_path / "rec.csv"
    p.write_bytes(body.encode("utf-8", "surrogateescape"))
    with pytest.raises(RecordingError) as old:
        reference.load_recording(p, SPEC)
    with pytest.raises(RecordingError) as new:
        load_recording(p, SPEC, block_bytes=block_bytes)
    assert str(new.value) == str(old.value)


@pytest.mark.parametrize("body", [
    "timestamp,metric,pod,value\r\n0,queue_depth,a,1\r\n\r\n15,queue_depth,a,9\r\n",
    "timestamp,metric,pod,value\n\n0,queue_depth,a,1\n , ,\n15,queue_depth,a,9",
    'timestamp,metric,pod,value\n0,queue_depth,"a",1\n15,queue_depth,a,9\n',
    "timestamp,metric,pod,value\r0,queue_depth,a,1\r15,queue_depth,a,9\r",
    " timestamp , metric,pod,value\n0, queue_depth ,a,1\n15,queue_depth,a,9\n",
    "timestamp,metric,pod,value\n0,queue_depth,a,1\x0c15,queue_depth,a,9\n30,queue_depth,a,1\u2028",
], ids=["crlf-and-blank", "blank-lines-no-final-newline", "quotes", "cr-only", "spaces", "form-feed-and-u2028"])
def test_line_endings_blank_lines_and_quotes_replay_as_before(tmp_path: Path, body: str) -> None:
    p = tmp_path / "rec.csv"
    p.write_text(body, newline="")
    old = _lines(reference.replay(SPEC, reference.load_recording(p, SPEC)))
    for block_bytes in (8, 97, 1 << 22):
        for keep_rows in (0, 10**6):
            recording = load_recording(p, SPEC, block_bytes=block_bytes, keep_rows=keep_rows)
            assert _lines(replay(SPEC, recording)) == old


def test_a_file_changed_between_the_passes_is_an_error_not_a_wrong_replay(tmp_path: Path) -> None:
    p = tmp_path / "rec.csv"
    p.write_text(generate(0, open_loop=True))
    recording = load_recording(p, SPEC, keep_rows=0)
    with p.open("a") as f:
        f.write(f"{T0 + 10**6},queue_depth,pod-0,1\n")
    with pytest.raises(RecordingError, match="changed after it was checked"):
        list(replay(SPEC, recording))


@pytest.mark.parametrize("open_loop", [True, False], ids=["open-loop", "closed-loop"])
def test_sparse_rows_over_many_ticks(tmp_path: Path, open_loop: bool) -> None:
    """Three samples 10,000 ticks apart: ticks are resolved 4,096 at a time, not all at once."""
    rows = ["timestamp,metric,pod,value"]
    for k, t in enumerate((T0, T0 + 15 * 5000 + 7, T0 + 15 * 10_000)):
        rows += [f"{t},replicas,,{2 + k}"] if open_loop else []
        rows += [f"{t},queue_depth,a,{9 * k}", f"{t},queue_depth,b,1"]
    p = tmp_path / "rec.csv"
    p.write_text("\n".join(rows) + "\n")
    old = _lines(reference.replay(SPEC, reference.load_recording(p, SPEC)))
    assert len(old) == 10_001
    assert _lines(replay(SPEC, load_recording(p, SPEC, keep_rows=0))) == old
