"""Malformed records: dead-lettered with reason and position, counted, never fatal."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alpharl.schema import MAX_TEXT_CHARS
from alpharl.streams import DeadLetterWriter, ReplayStream
from alpharl.streams.readers import _csv_arrow, _csv_lines, _jsonl_arrow, _jsonl_lines
from alpharl.streams.records import FieldMap


def good(i: int) -> bytes:
    rec = {
        "id": f"g{i}",
        "created_at": f"2024-01-01T00:00:{i:02d}Z",
        "author_id": "u",
        "text": f"good {i}",
    }
    return json.dumps(rec).encode()


def rec(**overrides: Any) -> bytes:
    base: dict[str, Any] = {
        "id": "x",
        "created_at": "2024-01-01T00:00:00Z",
        "author_id": "u",
        "text": "bad one",
    }
    base.update(overrides)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


# (raw line, expected reason prefix, a fragment the reason must contain)
BAD_JSONL: list[tuple[bytes, str, str]] = [
    (rec(text=...), "text: is missing", "None"),
    (rec(text=""), "text: is empty", "''"),
    (rec(text="   \t"), "text: is empty", "'   \\t'"),
    (rec(created_at="not a time"), "created_at: is not an ISO-8601 timestamp", "'not a time'"),
    (rec(created_at=...), "created_at: is missing", "None"),
    (rec(created_at=True), "created_at: must be an ISO-8601 string", "True"),
    (rec(created_at=1e300), "created_at: is not a representable time", "1e+300"),
    (rec(text=123), "text: must be a string", "123"),
    (rec(like_count="5"), "like_count: must be a non-negative integer", "'5'"),
    (rec(like_count=-2), "like_count: must be a non-negative integer", "-2"),
    (rec(repost_count=1.5), "repost_count: must be a non-negative integer", "1.5"),
    (rec(id=["a"]), "id: must be a string or an integer", "['a']"),
    (rec(author_id=""), "author_id: must be a non-empty string", "''"),
    (rec(lang=5), "lang: must be a string", "5"),
    (rec(annotations={"s": "high"}), "annotations.s: must be a number", "'high'"),
    (rec(annotations=[1, 2]), "annotations: must be an object of numbers", "[1, 2]"),
    (
        rec(text="x" * (MAX_TEXT_CHARS + 1)),
        f"text: is longer than {MAX_TEXT_CHARS} characters ({MAX_TEXT_CHARS + 1})",
        "'xxx",
    ),
    (
        b'{"id": "x", "text": "caf\xe9", "created_at": 1}',
        "encoding: invalid UTF-8 byte 0xe9",
        "column 25",
    ),
    (b'{"id": "x", "text": "unterminated', "json: Unterminated string", "column"),
    (b"[1, 2, 3]", "json: a record must be an object, got list", "list"),
    (
        b'{"id": "x", "created_at": 1, "author_id": "u", "text": "t", "like_count": NaN}',
        "like_count: must be a non-negative integer",
        "nan",
    ),
    (
        b'{"id": "x", "created_at": 1, "author_id": "u", "text": "t", '
        b'"annotations": {"a": Infinity}}',
        "annotations.a: must be finite",
        "inf",
    ),
]


def _dead_letters(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_kind_of_bad_jsonl_line_is_dead_lettered(tmp_path: Path) -> None:
    lines = [good(0)]
    for i, (raw, _, _) in enumerate(BAD_JSONL, start=1):
        lines += [raw, good(i)]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    dl = tmp_path / "dead.jsonl"
    stream = ReplayStream(path, dead_letter=dl)
    posts = list(stream)
    assert [p.id for p in posts] == [f"g{i}" for i in range(len(BAD_JSONL) + 1)]
    letters = _dead_letters(dl)
    assert len(letters) == len(BAD_JSONL) == stream.stats.dead_letters
    for letter, (raw, reason, fragment) in zip(letters, BAD_JSONL, strict=True):
        line_no = lines.index(raw) + 1
        assert letter["position"] == line_no
        assert letter["source"] == str(path)
        assert letter["reason"].startswith(reason), letter
        assert fragment in letter["reason"] or fragment in letter["raw"], letter
        assert letter["raw"] == raw.decode("utf-8", errors="backslashreplace")
    assert stream.stats.read == len(posts) + len(BAD_JSONL)
    assert stream.stats.yielded == len(posts)
    assert stream.stats.reasons["text"] == 5
    assert stream.stats.reasons["encoding"] == 1
    assert stream.stats.reasons["json"] == 2


def test_dead_letters_without_a_file_are_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(good(1) + b"\n" + rec(text="") + b"\n")
    stream = ReplayStream(path)
    with caplog.at_level(logging.WARNING):
        assert len(list(stream)) == 1
    assert stream.stats.dead_letters == 1
    assert "1 malformed records" in caplog.text


def test_a_writer_can_be_shared(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(rec(text="") + b"\n" + good(1) + b"\n")
    writer = DeadLetterWriter(tmp_path / "dl.jsonl")
    list(ReplayStream(path, dead_letter=writer))
    list(ReplayStream(path, dead_letter=writer))
    assert (writer.count, writer.skipped) == (1, 1)  # the same record is written once
    assert len(_dead_letters(tmp_path / "dl.jsonl")) == 1
    other = tmp_path / "q.jsonl"
    other.write_bytes(rec(text="") + b"\n")
    list(ReplayStream(other, dead_letter=writer))
    assert writer.count == 2


def test_fast_jsonl_path_rejects_with_line_numbers(tmp_path: Path) -> None:
    """Well-typed lines read by Arrow; bad values still land with their line number."""
    lines = [good(0), rec(id="n1", like_count=-1), good(1), rec(id="n2", text=""), good(2)]
    data = b"\n".join(lines)
    fmap = FieldMap.build(None, None, "replay")
    fast_rejects: list[tuple[Any, str, Any]] = []
    fast = _jsonl_arrow(data, fmap, lambda *a: fast_rejects.append(a))
    assert fast is not None, "this file should take the Arrow path"
    slow_rejects: list[tuple[Any, str, Any]] = []
    slow = _jsonl_lines(data, fmap, lambda *a: slow_rejects.append(a))
    assert fast.ids == slow.ids == ["g0", "g1", "g2"]
    assert fast.positions.tolist() == slow.positions.tolist() == [1, 3, 5]
    assert [(p, r) for p, r, _ in fast_rejects] == [(p, r) for p, r, _ in slow_rejects]
    assert [p for p, _, _ in fast_rejects] == [2, 4]
    assert fast_rejects[0][1] == "like_count: must be a non-negative integer (got -1)"


CSV_HEADER = b"id,created_at,author_id,text,like_count\n"


def test_every_kind_of_bad_csv_row_is_dead_lettered(tmp_path: Path) -> None:
    body = [
        b"g1,2024-01-01T00:00:01Z,u,fine,0\n",  # line 2
        b"b1,2024-01-01T00:00:02Z,u,,0\n",  # 3: empty text
        b"b2,yesterday,u,text,0\n",  # 4: bad time
        b"b3,2024-01-01T00:00:03Z,u,caf\xe9,0\n",  # 5: bad UTF-8
        b"b4,2024-01-01T00:00:04Z,u,text,-3\n",  # 6: negative count
        b"b5,2024-01-01T00:00:05Z,u,text,many\n",  # 7: not a number
        b"b6,2024-01-01T00:00:06Z,u,text\n",  # 8: too few fields
        b'g2,2024-01-01T00:00:07Z,u,"multi\nline",1\n',  # 9-10: quoted newline
        b"b7,2024-01-01T00:00:08Z,u," + b"y" * (MAX_TEXT_CHARS + 1) + b",0\n",  # 11: oversized
        b"g3,1704067209,u,epoch time,2\n",  # 12
    ]
    path = tmp_path / "p.csv"
    path.write_bytes(CSV_HEADER + b"".join(body))
    dl = tmp_path / "dl.jsonl"
    stream = ReplayStream(path, dead_letter=dl)
    posts = list(stream)
    assert [p.id for p in posts] == ["g1", "g2", "g3"]
    assert posts[1].text == "multi\nline"
    got = [(d["position"], d["reason"].split(" (got")[0]) for d in _dead_letters(dl)]
    assert got == [
        (3, "text: is empty"),
        (4, "created_at: is not an ISO-8601 timestamp"),
        (5, "encoding: invalid UTF-8 byte 0xe9 at column 30"),
        (6, "like_count: must be a non-negative integer"),
        (7, "like_count: must be a non-negative integer"),
        (8, "csv: row has 4 fields, the header has 5"),
        (11, f"text: is longer than {MAX_TEXT_CHARS} characters ({MAX_TEXT_CHARS + 1})"),
    ]
    letters = _dead_letters(dl)
    assert "'many'" in letters[4]["reason"]
    assert letters[1]["raw"] == "b2,yesterday,u,text,0"
    assert stream.stats.dead_letters == 7
    assert stream.stats.read == 10


def test_fast_csv_path_agrees_with_the_line_reader(tmp_path: Path) -> None:
    data = CSV_HEADER + (
        b"a,2024-01-01T00:00:01Z,u,fine,0\n"
        b"b,2024-01-01T00:00:02Z,u,  ,0\n"
        b"c,1704067203.5,u,ok,\n"
        b"d,2024-01-01T00:00:04Z,u,ok,-1\n"
    )
    header = ["id", "created_at", "author_id", "text", "like_count"]
    fmap = FieldMap.build(None, None, "replay")
    fast_rejects: list[tuple[Any, str, Any]] = []
    fast = _csv_arrow(data, header, fmap, lambda *a: fast_rejects.append(a))
    assert fast is not None
    slow_rejects: list[tuple[Any, str, Any]] = []
    slow = _csv_lines(data, header, fmap, lambda *a: slow_rejects.append(a))
    assert fast.ids == slow.ids == ["a", "c"]
    assert fast.created_us.tolist() == slow.created_us.tolist()
    assert fast.counts.tolist() == slow.counts.tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]
    assert fast_rejects == slow_rejects
    assert [(p, r.split(":")[0]) for p, r, _ in fast_rejects] == [(3, "text"), (5, "like_count")]


def test_bad_csv_header_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b"id,te\xffxt\n1,2\n")
    with pytest.raises(ValueError, match="CSV header"):
        list(ReplayStream(path))


def test_bad_parquet_rows_are_dead_lettered_by_row_index(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a", "b", "c", "d", "e", None],
            "created_at": [
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:01Z",
                "soon",
                "2024-01-01T00:00:03Z",
                "2024-01-01T00:00:04Z",
                "2024-01-01",
            ],
            "author_id": ["u"] * 6,
            "text": ["ok", None, "ok", "", "ok", "ok"],
            "like_count": pa.array([1, 2, 3, 4, -5, 6], pa.int64()),
            "annotations": pa.array(
                [[("s", 1.0)], [], [], [], [("s", float("nan"))], []],
                pa.map_(pa.string(), pa.float64()),
            ),
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    dl = tmp_path / "dl.jsonl"
    stream = ReplayStream(path, dead_letter=dl)
    posts = list(stream)
    assert [p.id for p in posts] == ["a"]
    assert dict(posts[0].annotations) == {"s": 1.0}
    got = [(d["position"], d["reason"]) for d in _dead_letters(dl)]
    assert got == [
        (1, "text: is missing (got None)"),
        (2, "created_at: is not an ISO-8601 timestamp (got 'soon')"),
        (3, "text: is empty (got '')"),
        (4, "like_count: must be a non-negative integer (got -5)"),
        (5, "id: is missing (got None)"),
    ]
    assert _dead_letters(dl)[0]["raw"]["id"] == "b"


def test_parquet_column_of_the_wrong_type(tmp_path: Path) -> None:
    table = pa.table(
        {"id": ["a", "b"], "created_at": [1, 2], "author_id": ["u", "u"], "text": [10, 11]}
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    stream = ReplayStream(path)
    assert list(stream) == []
    assert stream.stats.dead_letters == 2
    assert stream.stats.reasons == {"text": 2}


def test_date_like_strings_stay_strings(tmp_path: Path) -> None:
    """Arrow infers timestamps from date-like JSON strings; a text or id must stay text."""
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"id": "2024-01-02", "created_at": "2024-01-01T00:00:00Z", "author_id": "2024-01-03",'
        ' "text": "2024-01-04", "annotations": {"note": "2024-01-05"}}\n'
        '{"id": "b", "created_at": "2024-01-01T00:00:01Z", "author_id": "u",'
        ' "text": "2024-01-06"}\n'
    )
    dl = tmp_path / "dl.jsonl"
    posts = list(ReplayStream(path, dead_letter=dl))
    assert [(p.id, p.author_id, p.text) for p in posts] == [("b", "u", "2024-01-06")]
    (letter,) = _dead_letters(dl)
    assert letter["reason"] == "annotations.note: must be a number (got '2024-01-05')"
