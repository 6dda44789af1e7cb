"""Hostile records in every stream source: dead-lettered with a reason, never fatal, never twice.

Each hostile record once stopped a run (deep nesting: `RecursionError` in Python's parser
and a crash inside Arrow's; a lone surrogate: accepted, then an error in `pa.array`) or was
accepted as nonsense (NUL, zero-width-only text). Here each sits between good records in
every format and source; the good ones come through, the bad ones land in the dead-letter
file with their reason, and a second run over the same input adds no letter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kafka_helpers import FAST_GROUP, new_topic, post_json, produce

from alpharl.enrich.inputs import read_source
from alpharl.schema import Post
from alpharl.streams import DeadLetterWriter, ReplayStream
from alpharl.streams.base import MAX_DEAD_LETTER_RAW_CHARS, StreamStats
from alpharl.streams.kafka import KafkaStream
from alpharl.streams.readers import MAX_RECORD_BYTES
from alpharl.streams.x_api import XRecentSearchStream
from alpharl.streams.x_filtered import XFilteredStream

T0 = "2024-01-01T00:00:00Z"


def _line(ident: str, text_json: str, extra: str = "") -> str:
    return f'{{"id":"{ident}","created_at":"{T0}","author_id":"u","text":{text_json}{extra}}}'


DEEP = "[" * 50_000 + "]" * 50_000

# (JSONL line, reason prefix of its dead letter)
HOSTILE_JSONL: list[tuple[str, str]] = [
    (_line("deep", '"t"', f',"annotations":{DEEP}'), "json: is nested too deeply"),
    (_line("deep2", DEEP), "json: is nested too deeply"),
    (_line("surrogate", '"a\\ud800b"'), "text: contains a lone surrogate at index 1"),
    (_line("\\udc00", '"fine"'), "id: contains a lone surrogate"),
    (_line("nul", '"a\\u0000b"'), "text: contains a NUL character at index 1"),
    (_line("nul-id\\u0000", '"fine"'), "id: contains a NUL character"),
    (_line("zw", '"\\u200b\\u200c\\ufeff"'), "text: has no visible character"),
    (_line("big", '"' + "x" * (MAX_RECORD_BYTES + 10) + '"'), "record: is"),
    (_line("digits", '"t"', ',"like_count":' + "9" * 5000), "json: has a number too long"),
    (_line("type", '{"nested": "object"}'), "text: must be a string"),
    (_line("lang", '"t"', ',"lang":"\\ud83d"'), "lang: contains a lone surrogate"),
    (_line("ann", '"t"', ',"annotations":{"a":' + "1" + "0" * 400 + "}"), "annotations.a: is"),
]


def _good(i: int) -> str:
    return _line(f"g{i}", f'"good post {i}"')


def _letters(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _check_letters(letters: list[dict[str, Any]], expected: list[str]) -> None:
    assert len(letters) == len(expected)
    for letter, prefix in zip(letters, expected, strict=True):
        assert letter["reason"].startswith(prefix), (letter["reason"][:200], prefix)
        assert len(json.dumps(letter["raw"])) <= 6 * MAX_DEAD_LETTER_RAW_CHARS + 10


def test_jsonl_hostile_lines_are_dead_lettered_and_the_run_goes_on(tmp_path: Path) -> None:
    lines = [_good(0)]
    for i, (line, _) in enumerate(HOSTILE_JSONL, start=1):
        lines += [line, _good(i)]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dl = tmp_path / "dead.jsonl"
    stream = ReplayStream(path, dead_letter=dl)
    table = read_source(stream).table  # builds the Arrow table: a surrogate would fail here
    assert table.column("id").to_pylist() == [f"g{i}" for i in range(len(HOSTILE_JSONL) + 1)]
    letters = _letters(dl)
    _check_letters(letters, [reason for _, reason in HOSTILE_JSONL])
    assert [d["position"] for d in letters] == [2 * i for i in range(1, len(HOSTILE_JSONL) + 1)]
    big = next(d for d in letters if d["reason"].startswith("record:"))
    assert big["raw_bytes"] > MAX_RECORD_BYTES
    assert len(big["raw"]) == MAX_DEAD_LETTER_RAW_CHARS

    # a rerun (a new writer on the same file, as a new process would have) adds nothing
    again = ReplayStream(path, dead_letter=dl)
    assert len(list(again)) == len(HOSTILE_JSONL) + 1
    assert again.stats.dead_letters == len(HOSTILE_JSONL)
    assert again.dead_letter.skipped == len(HOSTILE_JSONL)
    assert again.dead_letter.count == 0
    assert len(_letters(dl)) == len(HOSTILE_JSONL)


def test_csv_hostile_rows_are_dead_lettered(tmp_path: Path) -> None:
    header = "id,created_at,author_id,text,annotations\n"
    rows = [
        f"g0,{T0},u,first,\n",
        f'deep,{T0},u,t,"{DEEP}"\n',  # a JSON annotations cell nested too deeply
        f"nul,{T0},u,a\x00b,\n",
        f"zw,{T0},u,\u200b\u2060,\n",
        f"big,{T0},u,{'y' * (MAX_RECORD_BYTES + 5)},\n",
        f"g1,{T0},u,last,\n",
    ]
    path = tmp_path / "hostile.csv"
    path.write_text(header + "".join(rows), encoding="utf-8")
    dl = tmp_path / "dead.jsonl"
    stream = ReplayStream(path, dead_letter=dl)
    assert read_source(stream).table.column("id").to_pylist() == ["g0", "g1"]
    _check_letters(
        _letters(dl),
        [
            "annotations: is nested too deeply",
            "text: contains a NUL character",
            "text: has no visible character",
            "record: is",
        ],
    )
    ReplayStream(path, dead_letter=dl).read()
    assert len(_letters(dl)) == 4


def test_parquet_hostile_rows_are_dead_lettered(tmp_path: Path) -> None:
    records = [
        {"id": "g0", "created_at": T0, "author_id": "u", "text": "fine"},
        {"id": "nul", "created_at": T0, "author_id": "u", "text": "a\x00b"},
        {"id": "zw", "created_at": T0, "author_id": "u", "text": "\u200b"},
        {"id": "nul-author", "created_at": T0, "author_id": "u\x00", "text": "fine"},
        {"id": "g1", "created_at": T0, "author_id": "u", "text": "also fine"},
    ]
    path = tmp_path / "hostile.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    dl = tmp_path / "dead.jsonl"
    stream = ReplayStream(path, dead_letter=dl)
    assert read_source(stream).table.column("id").to_pylist() == ["g0", "g1"]
    _check_letters(
        _letters(dl),
        [
            "text: contains a NUL character",
            "text: has no visible character",
            "author_id: contains a NUL character",
        ],
    )
    wrong_types = tmp_path / "types.parquet"
    pq.write_table(
        pa.table({"id": [1.5], "created_at": [True], "author_id": ["u"], "text": [b"bytes"]}),
        wrong_types,
    )
    bad = ReplayStream(wrong_types, dead_letter=dl)
    assert bad.read().ids == []
    assert bad.stats.dead_letters == 1


def test_x_sources_dead_letter_hostile_items(tmp_path: Path) -> None:
    deep: Any = "t"
    for _ in range(5_000):  # deeper than repr can show: RecursionError while naming it
        deep = [deep]
    items: list[Any] = [
        {"id": "1", "created_at": T0, "author_id": "u", "text": "good"},
        {"id": "2", "created_at": T0, "author_id": "u", "text": "a\ud800"},
        {"id": "3", "created_at": T0, "author_id": "u", "text": deep},
        {"id": "4", "created_at": T0, "author_id": "u", "text": "\u200b"},
    ]
    recent = XRecentSearchStream("q", dead_letter=tmp_path / "recent.jsonl")
    posts = [recent._parse(item, {"index": i}) for i, item in enumerate(items)]
    assert [p.id if p else None for p in posts] == ["1", None, None, None]
    letters = _letters(tmp_path / "recent.jsonl")
    assert [d["reason"].split(" (")[0] for d in letters] == [
        "text: contains a lone surrogate at index 1",
        "data[]: is nested too deeply",
        "text: has no visible character",
    ]
    assert letters[0]["raw"]["text"] == "a\ud800"  # kept, escaped in the file

    filtered = XFilteredStream(["coffee"], dead_letter=tmp_path / "filtered.jsonl")
    payloads = [
        json.dumps({"data": items[0]}).encode(),
        b'{"data": ' + DEEP.encode() + b"}",
        json.dumps({"data": items[1]}).encode(),
    ]
    got = [filtered._parse(raw) for raw in payloads]
    assert [p.id if p else None for p in got] == ["1", None, None]
    reasons = [d["reason"] for d in _letters(tmp_path / "filtered.jsonl")]
    assert reasons[0].startswith("payload: is not valid JSON")
    assert reasons[1].startswith("text: contains a lone surrogate")


@pytest.mark.integration
def test_kafka_dead_letters_hostile_messages_once(kafka_broker: Any, tmp_path: Path) -> None:
    bs = kafka_broker.bootstrap_servers
    topic = new_topic(bs, "hostile")
    values = [
        post_json(0),
        b'{"id": "d", "text": ' + DEEP.encode() + b"}",
        post_json(1, text="a\ud800b"),
        b'{"id":"n","created_at":1,"author_id":"u","like_count":' + b"9" * 5000 + b"}",
        post_json(2, text="\u200b"),
        post_json(3),
    ]
    produce(bs, topic, values)
    dl = tmp_path / "dead.jsonl"
    stream = KafkaStream(
        bs, topic, group_id=f"g-{topic}", dead_letter=dl, idle_timeout_s=1.0,
        poll_timeout_s=0.2, consumer_config=FAST_GROUP,
    )  # fmt: skip
    assert [p.id for p in stream] == ["p0", "p3"]
    stream.close()
    reasons = [d["reason"] for d in _letters(dl)]
    assert [r.split(" (")[0] for r in reasons] == [
        "value: is nested too deeply",
        "text: contains a lone surrogate at index 1",
        "value: has a number too long to read",
        "text: has no visible character",
    ]
    # another group reads the same messages again (as a replay would): no letter is added
    again = KafkaStream(
        bs, topic, group_id=f"g2-{topic}", dead_letter=DeadLetterWriter(dl), idle_timeout_s=1.0,
        poll_timeout_s=0.2, consumer_config=FAST_GROUP,
    )  # fmt: skip
    assert [p.id for p in again] == ["p0", "p3"]
    again.close()
    assert len(_letters(dl)) == 4


class _PostSource:
    """A source that builds `Post` objects itself (as a user's own source would)."""

    name = "own"

    def __init__(self, posts: list[Post], dead_letter: Path) -> None:
        self.posts = posts
        self.dead_letter = DeadLetterWriter(dead_letter)
        self.stats = StreamStats()

    def reset(self, seed: int | None = None) -> None:
        self.stats = StreamStats()

    def __iter__(self) -> Iterator[Post]:
        for post in self.posts:
            self.stats.read += 1
            self.stats.yielded += 1
            yield post


def test_posts_arrow_cannot_store_are_dead_lettered_not_fatal(tmp_path: Path) -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    posts = [
        Post("a", when, "own", "u", "fine"),
        Post("b", when, "own", "u", "caf\ud800"),
        Post("c\x00", when, "own", "u", "fine"),
        Post("d", when, "own", "u", "\u200b"),
        Post("e", when, "own", "u", "also fine"),
    ]
    source = _PostSource(posts, tmp_path / "dead.jsonl")
    table = read_source(source).table
    assert table.column("id").to_pylist() == ["a", "e"]
    assert (source.stats.read, source.stats.yielded, source.stats.dead_letters) == (5, 2, 3)
    reasons = [d["reason"] for d in _letters(tmp_path / "dead.jsonl")]
    assert reasons == [
        "text: contains a lone surrogate at index 3 (not valid Unicode)",
        "id: contains a NUL character at index 1",
        "text: has no visible character (only zero-width)",
    ]
