"""ReplayStream: formats, column mapping, event-time order, window, loop and pace."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alpharl.schema import Post, posts_to_table
from alpharl.streams import ReplayStream, StreamSource

T0 = datetime(2024, 1, 1, 9, tzinfo=UTC)
FORMATS = ["jsonl", "csv", "parquet"]
WriteFile = Callable[[str, Sequence[dict[str, Any]]], Path]
Records = list[dict[str, Any]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_yields_posts_in_event_time_order(
    write_file: WriteFile, records: Records, fmt: str
) -> None:
    stream = ReplayStream(write_file(fmt, records))
    posts = list(stream)
    assert [p.id for p in posts] == ["a", "b", "c"]
    first = posts[0]
    assert first.created_at == T0
    assert first.text == "first post"
    assert first.author_id == "u1"
    assert first.like_count == 1
    assert first.platform == "replay"
    assert first.lang == "en"
    assert dict(first.annotations) == {"score": -1.0}
    assert stream.stats.read == 3
    assert stream.stats.yielded == 3
    assert stream.stats.dead_letters == 0


def test_is_a_stream_source(write_file: WriteFile, records: Records) -> None:
    assert isinstance(ReplayStream(write_file("jsonl", records)), StreamSource)


def test_parquet_of_post_schema_round_trips(tmp_path: Path) -> None:
    posts = [
        Post("p1", T0, "x", "u1", "hello", "de", 1, 2, 3, 4, {"a": 1.5}),
        Post("p2", T0 + timedelta(seconds=1), "x", "u2", "world", None, annotations={}),
    ]
    path = tmp_path / "posts.parquet"
    pq.write_table(posts_to_table(posts), path)
    got = list(ReplayStream(path))
    assert got[0] == posts[0]
    assert got[1].lang == "en"  # null lang reads as the default
    assert got[1].id == "p2"
    assert got[1].platform == "x"


def test_format_argument_overrides_the_suffix(tmp_path: Path, records: Records) -> None:
    import json

    path = tmp_path / "posts.txt"
    path.write_text("\n".join(json.dumps(r) for r in records))
    assert len(list(ReplayStream(path, format="jsonl"))) == 3
    with pytest.raises(ValueError, match=r"format: cannot infer it from the suffix '\.txt'"):
        ReplayStream(path)
    with pytest.raises(ValueError, match="format: must be one of"):
        ReplayStream(path, format="xml")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        ReplayStream(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("fmt", FORMATS)
def test_column_mapping_and_annotation_columns(write_file: WriteFile, fmt: str) -> None:
    rows = [
        {
            "tid": 7,
            "ts": "2024-01-01T00:00:00Z",
            "user": "ann",
            "tweet": "hi there",
            "score": 0.25,
            "likes": 4,
            "ignored": "x",
        },
        {
            "tid": 8,
            "ts": "2024-01-01T00:00:01Z",
            "user": "bob",
            "tweet": "yo",
            "score": None,
            "likes": 0,
            "ignored": "y",
        },
    ]
    stream = ReplayStream(
        write_file(fmt, rows),
        columns={
            "id": "tid",
            "created_at": "ts",
            "author_id": "user",
            "text": "tweet",
            "like_count": "likes",
        },
        annotations=["score"],
        platform="forum",
    )
    posts = list(stream)
    assert [(p.id, p.author_id, p.text, p.like_count) for p in posts] == [
        ("7", "ann", "hi there", 4),
        ("8", "bob", "yo", 0),
    ]
    assert dict(posts[0].annotations) == {"score": 0.25}
    assert dict(posts[1].annotations) == {}  # a missing value leaves the key out
    assert {p.platform for p in posts} == {"forum"}


def test_mapping_errors_name_the_key(write_file: WriteFile, records: Records) -> None:
    path = write_file("csv", records)
    with pytest.raises(ValueError, match="columns: 'body' is not a Post field"):
        ReplayStream(path, columns={"body": "text"})
    with pytest.raises(ValueError, match=r"no column 'tweet' \(needed for Post.text\)"):
        list(ReplayStream(path, columns={"text": "tweet"}))
    with pytest.raises(ValueError, match=r"no column 'extra' \(needed for annotations\)"):
        list(ReplayStream(path, annotations=["extra"]))


def test_platform_column_wins_over_the_argument(write_file: WriteFile, records: Records) -> None:
    records[0]["platform"] = "mastodon"
    records[1]["platform"] = None
    records[2]["platform"] = "mastodon"
    posts = list(ReplayStream(write_file("jsonl", records), platform="x"))
    assert [p.platform for p in posts] == ["x", "mastodon", "mastodon"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T10:00:00+01:00", datetime(2024, 1, 1, 9, tzinfo=UTC)),
        ("2024-01-01T09:00:00Z", T0),
        ("2024-01-01T09:00:00", T0),  # naive = UTC
        ("2024-01-01 09:00:00.250000+00:00", T0 + timedelta(milliseconds=250)),
        (1704099600, T0),
        (1704099600.5, T0 + timedelta(milliseconds=500)),
    ],
)
def test_created_at_forms_in_jsonl(write_file: WriteFile, value: Any, expected: datetime) -> None:
    rec = {"id": "1", "created_at": value, "author_id": "u", "text": "t"}
    (post,) = list(ReplayStream(write_file("jsonl", [rec])))
    assert post.created_at == expected


def test_created_at_in_csv_numeric_text_is_epoch_seconds(write_file: WriteFile) -> None:
    rows = [
        {"id": "1", "created_at": "1704099600", "author_id": "u", "text": "t"},
        {"id": "2", "created_at": "2024-01-01T09:00:01Z", "author_id": "u", "text": "t"},
    ]
    posts = list(ReplayStream(write_file("csv", rows)))
    assert [p.created_at for p in posts] == [T0, T0 + timedelta(seconds=1)]


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Paris"])
def test_created_at_parquet_timestamps(tmp_path: Path, tz: str | None) -> None:
    naive = datetime(2024, 1, 1, 9)
    table = pa.table(
        {
            "id": ["1"],
            "created_at": pa.array([naive], type=pa.timestamp("ns")).cast(
                pa.timestamp("ns", tz) if tz else pa.timestamp("ns")
            ),
            "author_id": ["u"],
            "text": ["t"],
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    (post,) = list(ReplayStream(path))
    assert post.created_at == T0  # the stored instant is UTC whatever the display zone


def test_ties_keep_file_order(write_file: WriteFile) -> None:
    recs = [
        {
            "id": str(i),
            "created_at": "2024-01-01T00:00:00Z" if i % 2 else "2023-12-31T00:00:00Z",
            "author_id": "u",
            "text": "t",
        }
        for i in range(6)
    ]
    ids = [p.id for p in ReplayStream(write_file("jsonl", recs))]
    assert ids == ["0", "2", "4", "1", "3", "5"]


def test_window_is_start_inclusive_end_exclusive(write_file: WriteFile, records: Records) -> None:
    path = write_file("jsonl", records)
    window = ReplayStream(path, start="2024-01-01T10:00:00Z", end="2024-01-01T11:30:00Z")
    assert [p.id for p in window] == ["b"]
    assert window.stats.read == 3
    assert window.stats.yielded == 1
    from_dt = ReplayStream(path, start=datetime(2024, 1, 1, 10))  # naive = UTC
    assert [p.id for p in from_dt] == ["b", "c"]
    until = ReplayStream(path, end=T0 + timedelta(hours=1))
    assert [p.id for p in until] == ["a"]


def test_window_arguments_are_checked(write_file: WriteFile, records: Records) -> None:
    path = write_file("jsonl", records)
    with pytest.raises(ValueError, match="end: must be after start"):
        ReplayStream(path, start="2024-01-02", end="2024-01-01")
    with pytest.raises(ValueError, match="start: is not an ISO-8601 timestamp"):
        ReplayStream(path, start="yesterday")
    with pytest.raises(ValueError, match="pace: must be a positive number"):
        ReplayStream(path, pace=0)


def test_loop_keeps_time_monotonic_and_suffixes_ids(
    write_file: WriteFile, records: Records
) -> None:
    stream = ReplayStream(write_file("jsonl", records), loop=True)
    posts = list(itertools.islice(stream, 9))
    assert [p.id for p in posts] == ["a", "b", "c", "a#1", "b#1", "c#1", "a#2", "b#2", "c#2"]
    times = [p.created_at for p in posts]
    assert all(later > earlier for earlier, later in itertools.pairwise(times))
    # period = span (2.5 h) + mean gap (1.25 h)
    assert posts[3].created_at - posts[0].created_at == timedelta(hours=3.75)
    assert posts[8].created_at - posts[2].created_at == timedelta(hours=7.5)
    assert posts[3].text == posts[0].text
    assert stream.stats.yielded == 9
    assert stream.stats.read == 3


def test_loop_over_a_single_post_advances_one_second(
    write_file: WriteFile, records: Records
) -> None:
    stream = ReplayStream(write_file("jsonl", records[:1]), loop=True)
    a, b, c = itertools.islice(stream, 3)
    assert (b.created_at - a.created_at, c.created_at - b.created_at) == (
        timedelta(seconds=1),
        timedelta(seconds=1),
    )


def test_loop_over_nothing_ends(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    assert list(ReplayStream(path, loop=True)) == []


class FakeClock:
    """A wall clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pace_sleeps_event_time_divided_by_the_factor(
    write_file: WriteFile, records: Records
) -> None:
    clock = FakeClock()
    stream = ReplayStream(write_file("jsonl", records), pace=60, clock=clock, sleep=clock.sleep)
    posts = list(stream)
    assert len(posts) == 3
    # a -> b is 1 h of event time = 60 s of wall time at pace 60; b -> c is 1.5 h = 90 s.
    assert clock.sleeps == pytest.approx([60.0, 90.0])


def test_pace_does_not_sleep_when_the_consumer_is_slower(
    write_file: WriteFile, records: Records
) -> None:
    clock = FakeClock()
    stream = ReplayStream(write_file("jsonl", records), pace=3600, clock=clock, sleep=clock.sleep)
    for _ in stream:
        clock.now += 10.0  # the consumer takes 10 s per post; event gaps are 1-1.5 s here
    assert clock.sleeps == []


def test_no_pace_never_sleeps(write_file: WriteFile, records: Records) -> None:
    clock = FakeClock()
    list(ReplayStream(write_file("jsonl", records), clock=clock, sleep=clock.sleep))
    assert clock.sleeps == []


def test_reset_rewinds_and_zeroes_stats(write_file: WriteFile, records: Records) -> None:
    stream = ReplayStream(write_file("jsonl", records))
    first = list(stream)
    assert stream.stats.yielded == 3
    stream.reset(seed=123)
    assert stream.stats.yielded == 0
    assert stream.stats.read == 0
    assert list(stream) == first


def test_blank_lines_and_bom_are_not_records(tmp_path: Path, records: Records) -> None:
    import json

    path = tmp_path / "p.jsonl"
    body = "\n\n".join(json.dumps(r) for r in records) + "\n\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    stream = ReplayStream(path)
    assert [p.id for p in stream] == ["a", "b", "c"]
    assert stream.stats.read == 3
    assert stream.stats.dead_letters == 0


def test_csv_quoted_newlines_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(
        b"id,created_at,author_id,text\r\n"
        b'1,2024-01-01T00:00:00Z,u,"line one\r\nline two"\r\n'
        b"2,2024-01-01T00:00:01Z,u,plain\r\n"
    )
    posts = list(ReplayStream(path))
    assert [p.text for p in posts] == ["line one\r\nline two", "plain"]
