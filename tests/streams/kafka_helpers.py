"""Helpers for the Kafka tests: topics, raw messages and reading a topic back whole."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

FAST_GROUP = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 500}
"""Consumer settings that make a group join (and a dead member's expiry) take about a second."""


def new_topic(bootstrap: str, prefix: str, partitions: int = 1) -> str:
    """Create a fresh topic and return its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(10)
    return name


def post_json(i: int, text: str | None = None, **extra: Any) -> bytes:
    """A valid raw post as the producer of the raw topic would write it."""
    rec = {
        "id": f"p{i}",
        "created_at": f"2024-05-13T10:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
        "author_id": f"u{i % 7}",
        "text": text or f"post number {i} is {'good' if i % 3 else 'bad'}",
        "like_count": i % 5,
        **extra,
    }
    return json.dumps(rec).encode()


def produce(
    bootstrap: str, topic: str, values: Sequence[bytes | None], keys: Sequence[bytes] | None = None
) -> None:
    """Produce messages and wait for them to be acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, value in enumerate(values):
        producer.produce(topic, value, keys[i] if keys else None)
    assert producer.flush(30) == 0


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """``{partition: committed offset}`` of a consumer group (-1001 = none)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        tps = c.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def read_topic(bootstrap: str, topic: str, expect: int, settle_s: float = 0.3) -> list[Any]:
    """Every message of a topic: read from the start (no group) until ``expect`` arrived,
    then for ``settle_s`` more to catch any extra.

    Tansu's in-memory storage reports a partition's high watermark as the last batch's base
    offset + 1, so a reader cannot stop at the watermark; the tests know what to expect.
    """
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False}
    )
    out: list[Any] = []
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        deadline = time.monotonic() + 30.0
        while len(out) < expect and time.monotonic() < deadline:
            out += [m for m in c.consume(expect - len(out), 0.5) if m.error() is None]
        settle = time.monotonic() + settle_s
        while time.monotonic() < settle:
            out += [m for m in c.consume(1000, 0.1) if m.error() is None]
    finally:
        c.close()
    assert len(out) >= expect, f"{topic}: only {len(out)} of {expect} messages arrived"
    return out
