"""A Contract 3 CSV read in blocks: the text split into its four columns, a few MB at a time.

The reader (:mod:`autoscaler.recording.reader`) checks and replays a recording in
passes over these blocks, so memory holds one block (:data:`BLOCK_BYTES` of the file,
about 80,000 rows), never the whole file: a 210 MB file of 4 million rows held as lists
of strings took 15 times its size.

Lines are what ``str.splitlines`` makes of the whole text, numbered from 1, whatever
the block size: a block always ends after a ``\\n``, so no line, ``\\r\\n`` pair or UTF-8
character is ever cut. Files without quotes (all that ``record`` writes) are split in
one pass per block — the line ends found with numpy, the fields with one ``str.split``
— and blank lines are skipped; a file with a quote anywhere goes through the ``csv``
module (:class:`Quoted` says so to the caller, who starts again in that mode).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

HEADER = ("timestamp", "metric", "pod", "value")

#: Bytes read at a time: ~80,000 rows of ~52 bytes, a few tens of MB once split.
BLOCK_BYTES = 4 << 20

#: Rows per block in ``csv`` mode.
CSV_BLOCK_ROWS = 65_536

#: Line breaks of ``str.splitlines`` other than ``\n`` and ``\r\n``, in UTF-8: a block
#: holding one is split line by line, as the whole text would be. (Eight ``in`` tests
#: take 3 ms on a 4 MB block, a regular expression 60 ms.)
_ODD_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")


def _odd(raw: bytes) -> bool:
    return any(b in raw for b in _ODD_BREAKS)


class RecordingError(ValueError):
    """A recording that cannot be replayed; the message is ``FILE:LINE: what is wrong``."""


class Quoted(Exception):
    """The file holds a quote: read it again with ``quoted=True``."""


@dataclass(frozen=True)
class Columns:
    """One block of data rows: each column's text, and each row's line in the file."""

    timestamp: list[str]
    metric: list[str]
    pod: list[str]
    value: list[str]
    lines: np.ndarray  # int64, one per row


def columns(handle: BinaryIO, source: str, *, quoted: bool, block_bytes: int = BLOCK_BYTES) -> Iterator[Columns]:
    """The data rows of an open file, block by block, after the header is checked.

    Raises :class:`RecordingError` (empty file, wrong header, a row without 4 fields,
    not UTF-8) and, unless ``quoted``, :class:`Quoted` at the first quote."""
    texts = _texts(handle, source, block_bytes)
    if quoted:
        yield from _csv_columns(texts, source)
        return
    line = 0
    header_seen = False
    for raw, text in texts:
        if b'"' in raw:
            raise Quoted
        simple = not _odd(raw)
        if simple and b"\r" in raw:
            if raw.count(b"\r") == raw.count(b"\r\n"):
                text = text.replace("\r\n", "\n")  # the same lines, for str.splitlines
            else:
                simple = False
        if not simple:
            lines = text.splitlines()
            if not header_seen:
                _check_header(lines[0].split(",") if lines else [], source)
                header_seen, line, lines = True, 1, lines[1:]
            cols = _from_rows(lines, source, line)
            line += len(lines)
        else:
            if not header_seen:
                first, _, text = text.partition("\n")
                _check_header(first.split(","), source)
                header_seen, line = True, 1
            cols = _split(text, source, line)
            line += text.count("\n") + (1 if text and not text.endswith("\n") else 0)
        if cols is not None:
            yield cols
    if not header_seen:
        _check_header([], source)


def _texts(handle: BinaryIO, source: str, block_bytes: int) -> Iterator[tuple[bytes, str]]:
    """The file in blocks that end after a ``\\n`` (the last one may not), each with its
    text; a byte that is not UTF-8 is an error on its line."""
    rest = b""
    newlines = 0
    while True:
        data = handle.read(block_bytes)
        if data:
            data = rest + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            raw, rest = data[:cut], data[cut:]
        elif rest:
            raw, rest = rest, b""
        else:
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = newlines + raw[: e.start].count(b"\n") + 1
            raise RecordingError(f"{source}:{line}: not UTF-8 text") from None
        newlines += raw.count(b"\n")
        yield raw, text


def _check_header(header: list[str], source: str) -> None:
    if not header or not any(c.strip() for c in header):
        raise RecordingError(f"{source}:1: empty file; expected the header {','.join(HEADER)}")
    if tuple(h.strip() for h in header) != HEADER:
        raise RecordingError(f"{source}:1: expected the header {','.join(HEADER)}, got {','.join(header)!r}")


def _split(text: str, source: str, line: int) -> Columns | None:
    """The rows of a block of whole lines, ``\n``-separated, whose first line is ``line + 1``."""
    if not text:
        return None
    if not text.endswith("\n"):
        text += "\n"
    a = np.frombuffer(text.encode(), dtype=np.uint8)
    ends = np.flatnonzero(a == 10)
    commas = np.diff(np.searchsorted(np.flatnonzero(a == 44), ends), prepend=0)
    odd = np.flatnonzero(commas != 3)
    lines = np.arange(line + 1, line + 1 + ends.size, dtype=np.int64)
    if odd.size:
        # A row without 4 fields is an error, unless it is blank (only spaces and commas).
        all_lines = text.split("\n")
        for i in odd.tolist():
            row = all_lines[i].split(",")
            if any(c.strip() for c in row):
                raise RecordingError(
                    f"{source}:{line + 1 + i}: expected 4 fields (timestamp,metric,pod,value), got {len(row)}"
                )
        keep = np.ones(ends.size, dtype=bool)
        keep[odd] = False
        lines = lines[keep]
        if not lines.size:
            return None
        text = "\n".join(itertools.compress(all_lines, keep.tolist())) + "\n"
    flat = text.replace("\n", ",").split(",")
    del flat[-1]
    return Columns(flat[0::4], flat[1::4], flat[2::4], flat[3::4], lines)


def _from_rows(texts: list[str], source: str, line: int) -> Columns | None:
    rows: list[list[str]] = []
    numbers: list[int] = []
    for i, text in enumerate(texts, start=line + 1):
        row = text.split(",")
        if len(row) == 4 or any(c.strip() for c in row):
            rows.append(row)
            numbers.append(i)
    return _columns_of(rows, numbers, source)


def _columns_of(rows: list[list[str]], numbers: list[int], source: str) -> Columns | None:
    for row, number in zip(rows, numbers, strict=True):
        if len(row) != 4:
            raise RecordingError(f"{source}:{number}: expected 4 fields (timestamp,metric,pod,value), got {len(row)}")
    if not rows:
        return None
    ts, metric, pod, value = (list(col) for col in zip(*rows, strict=True))
    return Columns(ts, metric, pod, value, np.asarray(numbers, dtype=np.int64))


def _csv_columns(texts: Iterable[tuple[bytes, str]], source: str) -> Iterator[Columns]:
    """A file with quotes, through the csv module (a quoted field may span lines)."""
    reader = csv.reader(itertools.chain.from_iterable(io.StringIO(text, newline="") for _, text in texts))
    rows: list[list[str]] = []
    numbers: list[int] = []
    first = True
    try:
        for row in reader:
            if first:
                _check_header(row, source)
                first = False
                continue
            if len(row) == 4 or any(c.strip() for c in row):
                rows.append(row)
                numbers.append(reader.line_num)
                if len(rows) == CSV_BLOCK_ROWS:
                    cols = _columns_of(rows, numbers, source)
                    rows, numbers = [], []
                    if cols is not None:
                        yield cols
    except csv.Error as e:
        raise RecordingError(f"{source}:{reader.line_num}: malformed CSV: {e}") from None
    if first:
        _check_header([], source)
    cols = _columns_of(rows, numbers, source)
    if cols is not None:
        yield cols
