"""Validating a whole Arrow table of raw records at once, falling back to rows only when needed.

`table_to_columns` checks each column with vectorised Arrow and numpy operations, following
the value rules of `alpharl.streams.records`. Rows it cannot vouch for (a null, a wrong type,
a value out of range, a column whose type has no vectorised check) go through
`alpharl.streams.records.coerce_row`, which accepts them or names the bad field and value:
a clean file pays no per-record validation in Python and a dirty one gets the same verdicts
as the row-by-row reader.
"""

from __future__ import annotations

from itertools import compress
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alpharl.schema import MAX_TEXT_CHARS, RecordError
from alpharl.streams.records import (
    COUNT_FIELDS,
    MAX_US,
    MIN_US,
    CoercedRow,
    FieldMap,
    RecordColumns,
    annotation_values,
    coerce_row,
)
from alpharl.textcheck import has_visible

_INT64_SAFE_SECONDS = 9_000_000_000_000  # |s| below this: s * 1e6 fits in int64


def _column(table: pa.Table, name: str) -> pa.Array | None:
    if name not in table.column_names:
        return None
    chunked = table.column(name)
    if chunked.num_chunks == 0:
        return pa.array([], type=chunked.type)
    return chunked.combine_chunks()


def _mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _no_nul(arr: pa.Array) -> np.ndarray:
    """Rows without a NUL character (Arrow strings are valid UTF-8: no lone surrogates)."""
    return ~_mask(pc.match_substring(arr, "\x00"))


def _id_column(arr: pa.Array | None, n: int) -> tuple[list[Any], np.ndarray]:
    if arr is None:
        return [None] * n, np.zeros(n, dtype=bool)
    if _is_text(arr.type):
        return arr.to_pylist(), _mask(pc.greater(pc.binary_length(arr), 0)) & _no_nul(arr)
    if pa.types.is_integer(arr.type):
        return pc.cast(arr, pa.string()).to_pylist(), _mask(arr.is_valid())
    return [None] * n, np.zeros(n, dtype=bool)


def _text_column(arr: pa.Array | None, n: int) -> tuple[list[Any], np.ndarray]:
    if arr is None or not _is_text(arr.type):
        return [None] * n, np.zeros(n, dtype=bool)
    length = pc.utf8_length(arr)
    ok = _mask(pc.less_equal(length, MAX_TEXT_CHARS))
    texts = arr.to_pylist()
    ok &= _no_nul(arr)
    ok &= np.fromiter((bool(t) and has_visible(t) for t in texts), dtype=bool, count=n)
    return texts, ok


def _epoch_numbers_us(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    valid = _mask(arr.is_valid())
    if pa.types.is_integer(arr.type):
        try:
            s = pc.fill_null(pc.cast(arr, pa.int64()), 0).to_numpy()
        except pa.ArrowInvalid:
            return np.zeros(len(arr), np.int64), np.zeros(len(arr), bool)
        safe = (s > -_INT64_SAFE_SECONDS) & (s < _INT64_SAFE_SECONDS)
        us = np.where(safe, s, 0) * 1_000_000
        return us, valid & safe & (us >= MIN_US) & (us <= MAX_US)
    x = pc.fill_null(pc.cast(arr, pa.float64()), 0.0).to_numpy()
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = x * 1e6
        ok = valid & np.isfinite(scaled) & (scaled >= MIN_US) & (scaled <= MAX_US)
    return np.rint(np.where(ok, scaled, 0.0)).astype(np.int64), ok


def _created_column(
    arr: pa.Array | None, n: int, text_cells: bool
) -> tuple[np.ndarray, np.ndarray]:
    none = (np.zeros(n, np.int64), np.zeros(n, bool))
    if arr is None:
        return none
    t = arr.type
    if pa.types.is_timestamp(t):
        us_arr = pc.cast(arr, pa.timestamp("us", t.tz), safe=False).cast(pa.int64())
        us = pc.fill_null(us_arr, 0).to_numpy()
        return us, _mask(arr.is_valid()) & (us >= MIN_US) & (us <= MAX_US)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _epoch_numbers_us(arr)
    if not _is_text(t):
        return none
    if text_cells:
        try:
            return _epoch_numbers_us(pc.cast(arr, pa.float64()))
        except pa.ArrowInvalid:
            pass
    for target in (pa.timestamp("us", "UTC"), pa.timestamp("us")):
        try:
            parsed = pc.cast(arr, target)
        except pa.ArrowInvalid:
            continue
        return _created_column(parsed, n, False)
    return none


def _count_column(arr: pa.Array | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    if arr is None or pa.types.is_null(arr.type):
        return np.zeros(n, np.int64), np.ones(n, bool)
    t = arr.type
    if _is_text(t):
        blank = _mask(pc.equal(pc.utf8_trim_whitespace(arr), ""))
        filled = pc.if_else(pa.array(blank), pa.scalar("0"), arr)
        try:
            arr = pc.cast(filled, pa.int64())
        except pa.ArrowInvalid:
            return np.zeros(n, np.int64), np.zeros(n, bool)
        t = arr.type
    if pa.types.is_integer(t):
        try:
            v = pc.fill_null(pc.cast(arr, pa.int64()), 0).to_numpy()
        except pa.ArrowInvalid:
            return np.zeros(n, np.int64), np.zeros(n, bool)
        return v, v >= 0
    if pa.types.is_floating(t):
        x = pc.fill_null(pc.cast(arr, pa.float64()), 0.0).to_numpy()
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(x) & (x >= 0) & (x < 2.0**62) & (np.floor(x) == x)
        return np.where(ok, x, 0).astype(np.int64), ok
    return np.zeros(n, np.int64), np.zeros(n, bool)


def _string_or_default(arr: pa.Array | None, n: int, default: str) -> tuple[list[Any], np.ndarray]:
    if arr is None or pa.types.is_null(arr.type):
        return [default] * n, np.ones(n, bool)
    if not _is_text(arr.type):
        return [None] * n, np.zeros(n, bool)
    return [v or default for v in arr.to_pylist()], _no_nul(arr)


def _numeric(arr: pa.Array, text_cells: bool) -> tuple[pa.Array, np.ndarray] | None:
    """``arr`` as float64 (null where missing or blank) and where it holds a valid number.

    None when the column's type cannot be checked vectorised (the caller falls back to rows).
    """
    n = len(arr)
    if pa.types.is_null(arr.type):
        return pa.nulls(n, pa.float64()), np.ones(n, bool)
    if text_cells and _is_text(arr.type):
        blank = pc.equal(pc.utf8_trim_whitespace(arr), "")
        arr = pc.if_else(blank, pa.scalar(None, arr.type), arr)
        try:
            arr = pc.cast(arr, pa.float64())
        except pa.ArrowInvalid:
            return None
    elif not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        return None
    values = pc.cast(arr, pa.float64())
    return values, np.asarray(pc.fill_null(pc.is_finite(values), True).to_numpy(False), bool)


def _dicts(n: int, columns: list[tuple[str, pa.Array]]) -> list[dict[str, float] | None]:
    """One ``{name: value}`` per row from float64 columns, leaving nulls out."""
    if not columns:
        return [None] * n
    names = [name for name, _ in columns]
    lists = [values.to_pylist() for _, values in columns]
    if all(values.null_count == 0 for _, values in columns):
        return [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]
    return [
        {k: v for k, v in zip(names, row, strict=True) if v is not None} or None
        for row in zip(*lists, strict=True)
    ]


def _field_annotations(
    arr: pa.Array | None, n: int
) -> tuple[list[dict[str, float] | None], np.ndarray] | None:
    """The ``annotations`` field of a struct or string-keyed map column, vectorised."""
    if arr is None or pa.types.is_null(arr.type):
        return [None] * n, np.ones(n, bool)
    ok = np.ones(n, bool)
    if pa.types.is_struct(arr.type):
        columns = []
        for i, child in enumerate(arr.flatten()):
            numeric = _numeric(child, False)
            if numeric is None:  # non-numeric values: those rows get their error row by row
                ok &= _mask(child.is_null())
                continue
            ok &= numeric[1]
            columns.append((arr.type.field(i).name, numeric[0]))
        return _dicts(n, columns), ok
    if pa.types.is_map(arr.type) and _is_text(arr.type.key_type):
        offsets = arr.offsets.to_numpy()
        start, stop = int(offsets[0]), int(offsets[-1])
        keys_arr, items = arr.keys, arr.items
        if len(keys_arr) != stop - start:  # the children of a sliced map are not sliced
            keys_arr, items = keys_arr.slice(start, stop - start), items.slice(start, stop - start)
        numeric = _numeric(items, False)
        if numeric is None:
            return None
        values, ok_items = numeric
        parents = np.repeat(np.arange(n), np.diff(offsets))
        ok[parents[~ok_items]] = False
        out: list[dict[str, float] | None] = [None] * n
        keys = keys_arr.to_pylist()
        for parent, key, value in zip(parents.tolist(), keys, values.to_pylist(), strict=True):
            if value is not None:
                row = out[parent]
                if row is None:
                    out[parent] = {key: value}
                else:
                    row[key] = value
        return out, ok
    return None


def _annotation_rows(
    field_values: list[Any], extras: list[tuple[str, list[Any]]], n: int, text_cells: bool
) -> tuple[list[dict[str, float] | None], np.ndarray]:
    """Annotations row by row, for column types the vectorised path does not handle."""
    ok = np.ones(n, bool)
    out: list[dict[str, float] | None] = []
    for i, value in enumerate(field_values):
        try:
            ann = annotation_values(value, [(c, vals[i]) for c, vals in extras], text_cells)
        except RecordError:
            ok[i] = False
            ann = {}
        out.append(ann or None)
    return out, ok


def _annotation_column(
    table: pa.Table, fmap: FieldMap, n: int, text_cells: bool
) -> tuple[list[dict[str, float] | None], np.ndarray]:
    field_arr = _column(table, fmap.columns["annotations"])
    extra_arrays = [(c, a) for c in fmap.annotation_columns if (a := _column(table, c)) is not None]
    field = None if text_cells and field_arr is not None else _field_annotations(field_arr, n)
    extras = [(c, _numeric(a, text_cells)) for c, a in extra_arrays]
    if field is None or any(num is None for _, num in extras):
        field_values = field_arr.to_pylist() if field_arr is not None else [None] * n
        extra_values = [(c, a.to_pylist()) for c, a in extra_arrays]
        return _annotation_rows(field_values, extra_values, n, text_cells)
    out, ok = field
    columns = []
    for name, num in extras:
        assert num is not None
        ok = ok & num[1]
        columns.append((name, num[0]))
    extra_dicts = _dicts(n, columns)
    if not columns:
        return out, ok
    merged: list[dict[str, float] | None] = []
    for base, more in zip(out, extra_dicts, strict=True):
        if base is None:
            merged.append(more)
        elif more is None:
            merged.append(base)
        else:
            base.update(more)
            merged.append(base)
    return merged, ok


def table_to_columns(
    table: pa.Table, positions: np.ndarray, fmap: FieldMap, *, text_cells: bool
) -> tuple[RecordColumns, list[tuple[int, str]]]:
    """Validate a whole table: vectorised checks first, `coerce_row` for the rows they flag.

    Args:
        table: Raw records, one per row, columns named as in the file.
        positions: Source position of each row (line number or row index).
        fmap: Where each field is read from.
        text_cells: Every value is text (CSV).

    Returns:
        The accepted records (in table order) and ``(row index, reason)`` for each rejected one.
    """
    n = table.num_rows
    col = fmap.columns
    ids, ok = _id_column(_column(table, col["id"]), n)
    authors, ok_a = _id_column(_column(table, col["author_id"]), n)
    texts, ok_t = _text_column(_column(table, col["text"]), n)
    created, ok_c = _created_column(_column(table, col["created_at"]), n, text_cells)
    langs, ok_l = _string_or_default(_column(table, col["lang"]), n, "en")
    platforms, ok_p = _string_or_default(_column(table, col["platform"]), n, fmap.platform)
    ann, ok_n = _annotation_column(table, fmap, n, text_cells)
    ok = ok & ok_a & ok_t & ok_c & ok_l & ok_p & ok_n
    counts = np.zeros((n, 4), np.int64)
    for j, f in enumerate(COUNT_FIELDS):
        counts[:, j], ok_k = _count_column(_column(table, col[f]), n)
        ok &= ok_k
    good = RecordColumns(
        positions=np.asarray(positions, np.int64)[ok],
        created_us=created[ok],
        ids=list(compress(ids, ok)),
        platforms=list(compress(platforms, ok)),
        authors=list(compress(authors, ok)),
        texts=list(compress(texts, ok)),
        langs=list(compress(langs, ok)),
        counts=counts[ok],
        annotations=list(compress(ann, ok)),
    )
    flagged = np.flatnonzero(~ok)
    if flagged.size == 0:
        return good, []
    rows: list[CoercedRow] = []
    row_positions: list[int] = []
    rejects: list[tuple[int, str]] = []
    for i, rec in zip(flagged.tolist(), table.take(pa.array(flagged)).to_pylist(), strict=True):
        try:
            rows.append(coerce_row(rec, fmap, text_cells=text_cells))
            row_positions.append(int(positions[i]))
        except RecordError as exc:
            rejects.append((i, str(exc)))
    return RecordColumns.concat([good, RecordColumns.from_rows(rows, row_positions)]), rejects
