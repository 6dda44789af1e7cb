"""Reading JSONL, CSV and Parquet replay files into validated record columns.

Each reader returns the accepted records as `RecordColumns` and reports every rejected one
through ``reject(position, reason, raw)``. Positions are 1-based line numbers for JSONL and
CSV (the line a record starts on) and 0-based row indices for Parquet.

JSONL and CSV are first read whole by Arrow and validated column by column (fast); that
result is kept only when Arrow read every line as exactly one record, so that row ``i`` is
known to be line ``i + 1`` (JSONL) or ``i + 2`` (CSV, after the header). Anything else (a
line that is not valid UTF-8, not JSON, has the wrong number of CSV fields, a blank line, a
quoted newline) sends the file through the line-by-line reader, which reads raw bytes so that
a bad line costs only that line.

Hostile lines: a line longer than `MAX_RECORD_BYTES` is rejected unparsed, and a JSONL line
that opens more than `MAX_JSON_OPENERS` arrays or objects never reaches Arrow's JSON reader
(deep nesting crashes the process there, it does not raise); Python's parser then rejects
it (``is nested too deeply``) if it is nested deeper than it can parse.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from alpharl.schema import RecordError
from alpharl.streams.columns import table_to_columns
from alpharl.streams.records import CoercedRow, FieldMap, RecordColumns, coerce_row, loads_json

Reject = Callable[[Any, str, Any], None]
"""``reject(position, reason, raw)``: called once for each record that is not accepted."""

FORMATS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
"""File suffix -> format name."""

_BOM = b"\xef\xbb\xbf"

MAX_RECORD_BYTES = 1 << 20
"""Longest record (line) read, in bytes; a longer one is dead-lettered without being parsed."""
MAX_JSON_OPENERS = 512
"""A JSONL line with more ``[``/``{`` bytes than this is parsed by Python, never by Arrow."""


def infer_format(path: Path) -> str:
    """The format named by ``path``'s suffix.

    Raises:
        ValueError: naming the suffix and the known ones.
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"format: cannot infer it from the suffix {path.suffix!r} of {path}; "
            f"pass format= one of {sorted(set(FORMATS.values()))}"
        )
    return fmt


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _encoding_reason(line: bytes, exc: UnicodeDecodeError) -> str:
    return f"encoding: invalid UTF-8 byte 0x{line[exc.start]:02x} at column {exc.start + 1}"


def _line_ends(data: bytes) -> np.ndarray:
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 0x0A)
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    return ends


def _has_long_lines(data: bytes) -> bool:
    """Whether a line of ``data`` is longer than `MAX_RECORD_BYTES` (vectorised)."""
    ends = _line_ends(data)
    starts = np.concatenate(([0], ends[:-1] + 1))
    return bool(ends.size and np.max(ends - starts) > MAX_RECORD_BYTES)


def _has_deep_lines(data: bytes) -> bool:
    """Whether a line may nest deeper than `MAX_JSON_OPENERS` (an upper bound, vectorised).

    Counts the ``[`` and ``{`` bytes of each line, inside strings too, so it never misses a
    deep line (a line with many brackets in its text only takes the slower path).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    openers = np.concatenate(([0], np.cumsum((buf == 0x5B) | (buf == 0x7B), dtype=np.int64)))
    ends = _line_ends(data)
    per_line = np.diff(np.concatenate(([0], openers[ends])))
    return bool(per_line.size and per_line.max() > MAX_JSON_OPENERS)


def _too_long(line: bytes) -> str | None:
    if len(line) > MAX_RECORD_BYTES:
        return f"record: is {len(line)} bytes, more than the {MAX_RECORD_BYTES} allowed"
    return None


def _rows_to_columns(rows: list[CoercedRow], positions: list[int]) -> RecordColumns:
    return RecordColumns.from_rows(rows, positions)


# --------------------------------------------------------------------------- JSONL


def read_jsonl(path: Path, fmap: FieldMap, reject: Reject) -> RecordColumns:
    """Read a JSON-lines file: one JSON object per line; blank lines are skipped."""
    data = path.read_bytes().removeprefix(_BOM)
    if not data.strip():
        return RecordColumns.empty()
    fast = _jsonl_arrow(data, fmap, reject)
    return fast if fast is not None else _jsonl_lines(data, fmap, reject)


def _jsonl_arrow(data: bytes, fmap: FieldMap, reject: Reject) -> RecordColumns | None:
    if _has_long_lines(data) or _has_deep_lines(data):
        return None
    try:
        table = pajson.read_json(
            pa.BufferReader(data), read_options=pajson.ReadOptions(block_size=1 << 24)
        )
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows != _line_count(data):
        return None
    created = fmap.columns["created_at"]
    if any(_holds_timestamps(f.type) for f in table.schema if f.name != created):
        return None  # Arrow read date-like strings as timestamps: judge the strings instead
    positions = np.arange(1, table.num_rows + 1, dtype=np.int64)
    columns, rejects = table_to_columns(table, positions, fmap, text_cells=False)
    if rejects:
        lines = data.split(b"\n")
        for i, reason in rejects:
            reject(i + 1, reason, lines[i].rstrip(b"\r").decode("utf-8", "backslashreplace"))
    return columns


def _holds_timestamps(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return True
    if pa.types.is_struct(t):
        return any(_holds_timestamps(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _holds_timestamps(t.value_type)
    return False


def _jsonl_lines(data: bytes, fmap: FieldMap, reject: Reject) -> RecordColumns:
    rows: list[CoercedRow] = []
    positions: list[int] = []
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        too_long = _too_long(line)
        if too_long is not None:
            reject(lineno, too_long, line)
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            reject(lineno, _encoding_reason(line, exc), line)
            continue
        try:
            rec = loads_json(text, "json")
        except json.JSONDecodeError as exc:
            reject(lineno, f"json: {exc.msg} at column {exc.colno}", text)
            continue
        except RecordError as exc:
            reject(lineno, str(exc), text)
            continue
        if not isinstance(rec, dict):
            reject(lineno, f"json: a record must be an object, got {type(rec).__name__}", text)
            continue
        try:
            rows.append(coerce_row(rec, fmap, text_cells=False))
        except RecordError as exc:
            reject(lineno, str(exc), text)
            continue
        positions.append(lineno)
    return _rows_to_columns(rows, positions)


# --------------------------------------------------------------------------- CSV


def _check_columns(path: Path, present: list[str], fmap: FieldMap) -> None:
    for column, what in fmap.required_columns().items():
        if column not in present:
            raise ValueError(
                f"columns: {path} has no column {column!r} (needed for {what}); its columns "
                f"are {present}; map a field to another column with columns={{field: column}}"
            )


def read_csv(path: Path, fmap: FieldMap, reject: Reject) -> RecordColumns:
    """Read a CSV file with a header line; every cell is text (see `records` for parsing)."""
    data = path.read_bytes().removeprefix(_BOM)
    if not data.strip():
        return RecordColumns.empty()
    first, _, _ = data.partition(b"\n")
    try:
        header = next(csv.reader([first.decode("utf-8")]))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: the CSV header (line 1) is not valid UTF-8: {exc}") from None
    _check_columns(path, header, fmap)
    fast = _csv_arrow(data, header, fmap, reject)
    return fast if fast is not None else _csv_lines(data, header, fmap, reject)


def _csv_arrow(
    data: bytes, header: list[str], fmap: FieldMap, reject: Reject
) -> RecordColumns | None:
    if len(set(header)) != len(header) or _has_long_lines(data):
        return None
    wanted = [c for c in fmap.wanted_columns() if c in header]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                include_columns=wanted,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows + 1 != _line_count(data):
        return None
    positions = np.arange(2, table.num_rows + 2, dtype=np.int64)
    columns, rejects = table_to_columns(table, positions, fmap, text_cells=True)
    if rejects:
        lines = data.split(b"\n")
        for i, reason in rejects:
            reject(i + 2, reason, lines[i + 1].rstrip(b"\r").decode("utf-8", "backslashreplace"))
    return columns


class _LineFeed:
    """Decoded lines for `csv.reader`, skipping (and rejecting) lines that are not UTF-8.

    Remembers the line each record starts on and the text it was read from.
    """

    def __init__(self, lines: Iterator[bytes], first_lineno: int, reject: Reject) -> None:
        self._lines = lines
        self._reject = reject
        self.lineno = first_lineno - 1
        self.start: int | None = None
        self.consumed: list[str] = []

    def mark(self) -> None:
        """Start a new record."""
        self.start = None
        self.consumed = []

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        while True:
            raw = next(self._lines)
            self.lineno += 1
            too_long = _too_long(raw.rstrip(b"\r\n"))
            if too_long is not None:
                self._reject(self.lineno, too_long, raw.rstrip(b"\r\n"))
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._reject(self.lineno, _encoding_reason(raw, exc), raw.rstrip(b"\r\n"))
                continue
            if self.start is None:
                self.start = self.lineno
            self.consumed.append(text)
            return text


def _csv_lines(data: bytes, header: list[str], fmap: FieldMap, reject: Reject) -> RecordColumns:
    lines = iter(io.BytesIO(data))
    next(lines)  # the header, already read
    feed = _LineFeed(lines, 2, reject)
    reader = csv.reader(feed)
    rows: list[CoercedRow] = []
    positions: list[int] = []
    while True:
        feed.mark()
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            reject(feed.start or feed.lineno, f"csv: {exc}", "".join(feed.consumed))
            continue
        if not fields:
            continue
        start = feed.start or feed.lineno
        raw = "".join(feed.consumed).rstrip("\r\n")
        if len(fields) != len(header):
            reject(start, f"csv: row has {len(fields)} fields, the header has {len(header)}", raw)
            continue
        try:
            rows.append(coerce_row(dict(zip(header, fields, strict=True)), fmap, text_cells=True))
        except RecordError as exc:
            reject(start, str(exc), raw)
            continue
        positions.append(start)
    return _rows_to_columns(rows, positions)


# --------------------------------------------------------------------------- Parquet


def read_parquet(path: Path, fmap: FieldMap, reject: Reject) -> RecordColumns:
    """Read a Parquet file with pyarrow (only the columns the field map uses)."""
    present = pq.read_schema(path).names
    _check_columns(path, present, fmap)
    table = pq.read_table(path, columns=[c for c in fmap.wanted_columns() if c in present])
    positions = np.arange(table.num_rows, dtype=np.int64)
    columns, rejects = table_to_columns(table, positions, fmap, text_cells=False)
    for i, reason in rejects:
        reject(i, reason, table.slice(i, 1).to_pylist()[0])
    return columns


READERS: dict[str, Callable[[Path, FieldMap, Reject], RecordColumns]] = {
    "jsonl": read_jsonl,
    "csv": read_csv,
    "parquet": read_parquet,
}
"""Format name -> reader."""
