"""KafkaStream and KafkaEnrichedSink against a real Kafka-API broker (Tansu) on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from kafka_helpers import FAST_GROUP, committed, new_topic, post_json, produce, read_topic
from kafka_toys import WordTagger

from alpharl.enrich.inputs import posts_table
from alpharl.enrich.pipeline import Pipeline
from alpharl.schema import ENRICHED_POST_SCHEMA, Post
from alpharl.streams.kafka import REASON_HEADER, KafkaDeliveryError, KafkaStream, flat_config
from alpharl.streams.kafka_sink import KafkaEnrichedSink, decode_enriched

pytestmark = pytest.mark.integration


def _stream(broker: Any, topic: str, **kwargs: Any) -> KafkaStream:
    args: dict[str, Any] = {
        "group_id": f"g-{topic}",
        "dead_letter_topic": f"{topic}.dead",
        "idle_timeout_s": 1.0,
        "poll_timeout_s": 0.2,
        "consumer_config": FAST_GROUP,
        **kwargs,
    }
    return KafkaStream(broker.bootstrap_servers, topic, **args)


def test_stream_yields_valid_posts_and_dead_letters_the_rest(
    kafka_broker: Any, tmp_path: Path
) -> None:
    bs = kafka_broker.bootstrap_servers
    topic = new_topic(bs, "raw")
    values: list[bytes | None] = [
        post_json(0),
        b"\xff\xfe not utf-8",
        post_json(1),
        b'{"id": "p2", "text": ',
        b'["a", "list"]',
        post_json(3, text="   "),
        None,
        post_json(4, like_count=-2),
        post_json(5, platform="mastodon", annotations={"score": 0.5}),
    ]
    produce(bs, topic, values, keys=[f"k{i}".encode() for i in range(len(values))])
    stream = _stream(kafka_broker, topic, dead_letter=tmp_path / "dead.jsonl", batch_size=4)
    posts = list(stream)
    stream.close()

    assert [p.id for p in posts] == ["p0", "p1", "p5"]
    assert (posts[0].author_id, posts[0].platform) == ("u0", "kafka")
    assert (posts[2].platform, dict(posts[2].annotations)) == ("mastodon", {"score": 0.5})
    assert (stream.stats.read, stream.stats.yielded, stream.stats.dead_letters) == (9, 3, 6)
    assert committed(bs, f"g-{topic}", topic) == {0: 9}

    dead = sorted(
        read_topic(bs, f"{topic}.dead", 6),
        key=lambda m: int(dict(m.headers())["alpharl.dead_letter.offset"]),
    )
    assert [m.value() for m in dead] == [values[i] or b"" for i in (1, 3, 4, 5, 6, 7)]
    assert [m.key() for m in dead] == [f"k{i}".encode() for i in (1, 3, 4, 5, 6, 7)]
    headers = [dict(m.headers()) for m in dead]
    reasons = [h[REASON_HEADER].decode() for h in headers]
    assert reasons[0].startswith("value: is not UTF-8")
    assert reasons[1].startswith("value: is not valid JSON")
    assert reasons[2] == "value: must be a JSON object (got list)"
    assert reasons[3].startswith("text: is empty")
    assert reasons[4] == "value: is empty (a tombstone)"
    assert reasons[5].startswith("like_count: must be a non-negative integer (got -2)")
    assert [h["alpharl.dead_letter.offset"] for h in headers] == [
        b"1",
        b"3",
        b"4",
        b"5",
        b"6",
        b"7",
    ]
    assert {h["alpharl.dead_letter.topic"] for h in headers} == {topic.encode()}
    assert {h["alpharl.dead_letter.partition"] for h in headers} == {b"0"}
    lines = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [d["position"]["offset"] for d in lines] == [1, 3, 4, 5, 6, 7]


def test_uncommitted_batch_is_delivered_again(kafka_broker: Any) -> None:
    bs = kafka_broker.bootstrap_servers
    topic = new_topic(bs, "redeliver")
    produce(bs, topic, [post_json(i) for i in range(10)])
    first = _stream(kafka_broker, topic)
    b1 = first.read_batch(4)
    assert b1 is not None
    first.commit(b1)
    b2 = first.read_batch(4)  # read, never committed: the consumer goes away
    assert b2 is not None
    assert b2.records.ids == ["p4", "p5", "p6", "p7"]
    first.close()
    assert committed(bs, f"g-{topic}", topic) == {0: 4}

    again = _stream(kafka_broker, topic)
    assert [p.id for p in again] == [f"p{i}" for i in range(4, 10)]
    again.close()
    assert committed(bs, f"g-{topic}", topic) == {0: 10}


def _enriched(n: int) -> pa.Table:
    """``n`` raw posts (with non-ASCII text and annotations), enriched by a small pipeline."""
    t0 = datetime(2024, 5, 13, 10, tzinfo=UTC)
    posts = [
        Post(
            f"p{i}",
            t0 + timedelta(seconds=i),
            "test",
            f"u{i % 7}",
            f"post {i} is {'good' if i % 3 else 'bad'} café ☕",
            like_count=i % 5,
            annotations={"truth": i / 10},
        )
        for i in range(n)
    ]
    return Pipeline([WordTagger()]).enrich_table(posts_table(posts))


@pytest.mark.parametrize("fmt", ["json", "arrow"])
def test_sink_round_trips_enriched_posts(kafka_broker: Any, fmt: str) -> None:
    bs = kafka_broker.bootstrap_servers
    topic = new_topic(bs, f"enriched-{fmt}", partitions=2)
    table = _enriched(50)
    sink = KafkaEnrichedSink(bs, topic, format=fmt, max_message_bytes=20_000)
    sink.write(table.slice(0, 30))
    sink.write(table.slice(30))
    sink.close()
    msgs = read_topic(bs, topic, sink.messages)
    back = decode_enriched([m.value() for m in msgs])
    assert back.schema == ENRICHED_POST_SCHEMA
    assert back.sort_by("id").equals(table.sort_by("id"))
    if fmt == "json":
        assert len(msgs) == sink.messages == 50
        by_key = {m.key().decode() for m in msgs if m.partition() == 0}
        assert by_key.isdisjoint({m.key().decode() for m in msgs if m.partition() == 1})
        assert json.loads(msgs[0].value())["enricher_versions"] == {"word_tagger": "1"}
    else:
        assert 1 < len(msgs) == sink.messages < 50  # split under max_message_bytes
        assert all(len(m.value()) <= 20_000 for m in msgs)


def test_undelivered_records_make_flush_raise() -> None:
    from alpharl.streams.tansu import free_port

    sink = KafkaEnrichedSink(
        f"127.0.0.1:{free_port()}",  # nothing listens there
        "enriched",
        format="json",
        client_config={"message.timeout.ms": 1000},
    )
    sink.write(_enriched(3))
    with pytest.raises(KafkaDeliveryError, match=r"sink topic 'enriched': 3 message\(s\) failed"):
        sink.flush()


def test_flat_config_accepts_hydra_nesting() -> None:
    assert flat_config({"session": {"timeout": {"ms": 2000}}, "acks": "all"}, "c") == {
        "session.timeout.ms": 2000,
        "acks": "all",
    }
    with pytest.raises(ValueError, match=r"client_config\.sasl: must be a string"):
        flat_config({"sasl": [1]}, "client_config")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"topic": ""}, "topic: must be a non-empty string"),
        ({"dead_letter_topic": "t"}, "dead_letter_topic: must differ from topic"),
        ({"auto_offset_reset": "smallest"}, "auto_offset_reset: must be 'earliest' or 'latest'"),
        ({"idle_timeout_s": 0}, "idle_timeout_s: must be a positive number or None"),
    ],
)
def test_stream_arguments_are_checked(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"bootstrap_servers": "127.0.0.1:1", "topic": "t", **kwargs}
    with pytest.raises(ValueError, match=message):
        KafkaStream(**args)
