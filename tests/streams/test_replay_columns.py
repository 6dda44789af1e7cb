"""Record rules: the vectorised table check gives exactly the row-by-row verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alpharl.schema import MAX_TEXT_CHARS, RecordError
from alpharl.streams.columns import table_to_columns
from alpharl.streams.records import EPOCH, FieldMap, coerce_row, timestamp_us

FMAP = FieldMap.build(None, ["score"], "replay")

# Each column draws all its values from one pool (good values, bad values), so Arrow can
# infer one type for it; most columns are clean, so many rows pass the vectorised check.
POOLS: dict[str, list[tuple[list[Any], list[Any]]]] = {
    "id": [(["a", "post-7"], ["", None]), ([1, -5, 0], [None])],
    "author_id": [(["u1", "u2"], ["", None])],
    "text": [
        (
            ["ok", "x" * MAX_TEXT_CHARS, " padded "],
            ["", "  ", "\u2003", "\x1c", None, "y" * (MAX_TEXT_CHARS + 1)],
        )
    ],
    "created_at": [
        (["2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00"], ["nope", None]),
        (["2024-01-01T00:00:00", "2024-06-01 12:30:00.5"], [None]),
        (["2024-01-01T00:00:00+00:00", "2024-01-01T05:00:00-03:00"], []),
        ([0, 1_700_000_000, -1], [10**15, None]),
        ([1.5, 1_700_000_000.25, -0.5e-6], [1e300, float("nan"), float("inf"), None]),
        ([datetime(2024, 1, 1), datetime(2000, 2, 29, 12)], [None]),
        (
            [
                datetime(2024, 1, 1, tzinfo=UTC),
                datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=5))),
            ],
            [],
        ),
    ],
    "lang": [(["en", "", None, "fr"], [])],
    "like_count": [([0, 3, None], [-1]), ([0.0, 2.0, None], [1.5, -1.0, float("nan")])],
    "platform": [(["x", "", None], [])],
    "score": [([0.5, None, -2.0], [float("inf")]), ([1, 2, None], [])],
    "annotations": [
        ([{"a": 1.0, "b": None}, {"a": None, "b": 2}, None], [{"a": float("nan"), "b": 1}]),
        ([{"a": None}], [{"a": "high"}]),
        ([{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}], [{"a": float("inf"), "b": 0.0}]),
        ([[("a", 1.0), ("b", 2.0)], [("c", None)], [], None], [[("a", float("nan"))]]),  # map
    ],
}


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(min_value=1, max_value=12))
    columns = {}
    for name, pools in POOLS.items():
        if draw(st.integers(0, 4)) == 0 and name not in ("text", "created_at"):
            continue  # a missing column
        good, bad = draw(st.sampled_from(pools))
        pool = good + bad if bad and draw(st.integers(0, 3)) == 0 else good
        values = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
        if isinstance(good[0], list):
            columns[name] = pa.array(values, type=pa.map_(pa.string(), pa.float64()))
        else:
            columns[name] = pa.array(values)
    return pa.table(columns)


@settings(max_examples=150, deadline=None)
@given(tables())
def test_table_check_agrees_with_row_by_row(table: pa.Table) -> None:
    positions = np.arange(table.num_rows) + 10
    columns, rejects = table_to_columns(table, positions, FMAP, text_cells=False)
    expected_rows, expected_rejects = [], []
    for i, rec in enumerate(table.to_pylist()):
        try:
            expected_rows.append((i + 10, coerce_row(rec, FMAP, text_cells=False)))
        except RecordError as exc:
            expected_rejects.append((i, str(exc)))
    assert rejects == expected_rejects
    got = sorted(
        zip(
            columns.positions.tolist(),
            columns.ids,
            columns.created_us.tolist(),
            columns.platforms,
            columns.authors,
            columns.texts,
            columns.langs,
            [tuple(c) for c in columns.counts.tolist()],
            [a or {} for a in columns.annotations],
            strict=True,
        )
    )
    assert got == [(pos, *row) for pos, row in expected_rows]


CSV_CELLS: dict[str, list[str]] = {
    "id": ["a", ""],
    "author_id": ["u"],
    "text": ["ok", "", " "],
    "created_at": ["2024-01-01T00:00:00Z", "1700000000", "1.5", "x", ""],
    "like_count": ["", "3", "-1", "2.0", " 4 "],
    "score": ["", "0.5", "inf", "abc"],
    "annotations": ["", '{"a": 1}', '{"a": "x"}', "[1]"],
}


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_csv_text_cells_agree_with_row_by_row(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=10))
    table = pa.table(
        {
            k: data.draw(st.lists(st.sampled_from(v), min_size=n, max_size=n))
            for k, v in CSV_CELLS.items()
        }
    )
    columns, rejects = table_to_columns(table, np.arange(n), FMAP, text_cells=True)
    expected_ok, expected_rejects = [], []
    for i, rec in enumerate(table.to_pylist()):
        try:
            expected_ok.append((i, coerce_row(rec, FMAP, text_cells=True)))
        except RecordError as exc:
            expected_rejects.append((i, str(exc)))
    assert rejects == expected_rejects
    assert sorted(columns.positions.tolist()) == [i for i, _ in expected_ok]
    by_pos = dict(zip(columns.positions.tolist(), range(len(columns)), strict=True))
    for i, row in expected_ok:
        j = by_pos[i]
        assert columns.created_us[j] == row[1]
        assert tuple(columns.counts[j].tolist()) == row[6]
        assert (columns.annotations[j] or {}) == row[7]


@pytest.mark.parametrize(
    ("value", "text_cells", "expected"),
    [
        ("2024-01-01T00:00:00Z", False, datetime(2024, 1, 1, tzinfo=UTC)),
        ("1700000000", True, datetime.fromtimestamp(1_700_000_000, UTC)),
        (1_700_000_000, False, datetime.fromtimestamp(1_700_000_000, UTC)),
        (
            datetime(2024, 1, 1, 3, tzinfo=timezone(timedelta(hours=3))),
            False,
            datetime(2024, 1, 1, tzinfo=UTC),
        ),
    ],
)
def test_timestamp_forms(value: Any, text_cells: bool, expected: datetime) -> None:
    assert EPOCH + timedelta(microseconds=timestamp_us(value, text_cells=text_cells)) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1700000000", "created_at: is not an ISO-8601 timestamp (got '1700000000')"),
        (None, "created_at: is missing (got None)"),
        ([2024], "created_at: must be an ISO-8601 string, epoch seconds or a timestamp"),
        (float("nan"), "created_at: is not a representable time in epoch seconds (got nan)"),
    ],
)
def test_timestamp_errors_name_field_and_value(value: Any, message: str) -> None:
    with pytest.raises(RecordError) as info:
        timestamp_us(value)
    assert str(info.value).startswith(message)
    assert info.value.field_name == "created_at"


def test_field_map_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"columns.text: must be a non-empty column name"):
        FieldMap.build({"text": ""}, None, "x")
    with pytest.raises(ValueError, match="platform: must be a non-empty string"):
        FieldMap.build(None, None, "")
    fmap = FieldMap.build({"text": "body"}, ["s"], "x")
    assert fmap.columns["text"] == "body"
    assert fmap.columns["id"] == "id"
    assert fmap.required_columns()["body"] == "Post.text"
