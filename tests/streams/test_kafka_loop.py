"""`alpharl enrich stream=kafka sink=kafka`: the consumer-enricher-producer loop, at-least-once.

A real broker (Tansu) runs on 127.0.0.1; the loop is run from its Hydra config, in this
process and, for the kill test, as the ``alpharl enrich`` command in a child process that is
killed with SIGKILL part-way through the topic.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka_helpers import FAST_GROUP, committed, new_topic, post_json, produce, read_topic
from kafka_toys import WordTagger

from alpharl.enrich.pipeline import Pipeline
from alpharl.enrich.streaming import enrich_to_sink
from alpharl.streams.kafka import KafkaStream
from alpharl.streams.kafka_sink import KafkaEnrichedSink, decode_enriched
from alpharl.tasks.enrich import enrich_to_sink_task

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def _overrides(
    bs: str, topic: str, out: str, group: str, tagger: str, fmt: str = "json"
) -> list[str]:
    fast = [f"+stream.consumer_config.{k}={v}" for k, v in FAST_GROUP.items()]
    return [
        "stream=kafka",
        "sink=kafka",
        f"stream.bootstrap_servers={bs}",
        f"stream.topic={topic}",
        f"stream.group_id={group}",
        f"stream.dead_letter_topic={topic}.dead",
        "stream.idle_timeout_s=1.0",
        "stream.poll_timeout_s=0.2",
        *fast,
        f"sink.bootstrap_servers={bs}",
        f"sink.topic={out}",
        f"sink.format={fmt}",
        f"enrich.enrichers=[{tagger}]",
    ]


def _inputs(n: int, bad_every: int = 0) -> list[bytes]:
    values = []
    for i in range(n):
        if bad_every and i % bad_every == bad_every - 1:
            values.append(b'{"id": "broken-' + str(i).encode() + b'", "text": ')
        else:
            values.append(post_json(i))
    return values


def test_loop_enriches_a_topic_into_the_sink(
    kafka_broker: Any, compose_task: Callable[..., Any]
) -> None:
    bs = kafka_broker.bootstrap_servers
    topic, out = new_topic(bs, "in", partitions=2), new_topic(bs, "out", partitions=2)
    values = _inputs(42, bad_every=21)  # 40 posts, 2 malformed
    produce(bs, topic, values, keys=[f"k{i % 5}".encode() for i in range(len(values))])
    cfg = compose_task(
        "enrich",
        [
            *_overrides(bs, topic, out, "loop", "{_target_:kafka_toys.WordTagger}", "arrow"),
            "stream_batch_size=8",
        ],
        small=False,
    )
    stats = enrich_to_sink_task(cfg)

    assert (stats.read, stats.enriched, stats.dead_letters, stats.committed) == (42, 40, 2, 42)
    assert stats.batches >= 42 // 8
    assert sum(committed(bs, "loop", topic).values()) == 42
    messages = read_topic(bs, out, stats.batches)
    assert len(messages) == stats.batches  # one Arrow IPC batch per loop batch
    table = decode_enriched([m.value() for m in messages])
    rows = {r["id"]: r for r in table.to_pylist()}
    assert table.num_rows == 40
    assert set(rows) == {f"p{i}" for i in range(42) if i % 21 != 20}
    assert rows["p1"]["sentiment_compound"] == pytest.approx(0.5)  # "... is good"
    assert rows["p3"]["sentiment_compound"] == pytest.approx(-0.5)  # "... is bad"
    assert dict(rows["p1"]["enricher_versions"]) == {"word_tagger": "1"}
    assert len(read_topic(bs, f"{topic}.dead", 2)) == 2


def test_crash_in_enrichment_commits_nothing_of_that_batch(
    kafka_broker: Any, compose_task: Callable[..., Any]
) -> None:
    bs = kafka_broker.bootstrap_servers
    topic, out = new_topic(bs, "in"), new_topic(bs, "out")
    produce(bs, topic, _inputs(30))
    failing = "{_target_:kafka_toys.WordTagger,fail_on:'number 17 '}"
    args = [*_overrides(bs, topic, out, "crash", failing), "stream_batch_size=5"]
    with pytest.raises(RuntimeError, match="refusing a batch"):
        enrich_to_sink_task(compose_task("enrich", args, small=False))
    assert committed(bs, "crash", topic) == {0: 15}  # batches p0-4, p5-9, p10-14; not p15-19

    args = _overrides(bs, topic, out, "crash", "{_target_:kafka_toys.WordTagger}")
    stats = enrich_to_sink_task(compose_task("enrich", [*args, "stream_batch_size=5"], small=False))
    assert stats.read == 15  # p15..p29 delivered again, nothing before them
    ids = [
        r["id"] for r in decode_enriched([m.value() for m in read_topic(bs, out, 30)]).to_pylist()
    ]
    assert sorted(ids) == sorted(f"p{i}" for i in range(30))


class CrashBeforeCommit(KafkaStream):
    """A KafkaStream whose process "dies" right before its ``crash_at``-th commit."""

    def __init__(self, *args: Any, crash_at: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash_at = crash_at
        self.commits = 0

    def commit(self, batch: Any) -> None:
        self.commits += 1
        if self.commits == self.crash_at:
            raise KeyboardInterrupt("stopped between produce and commit")
        super().commit(batch)


def test_crash_between_produce_and_commit_produces_that_batch_again(kafka_broker: Any) -> None:
    bs = kafka_broker.bootstrap_servers
    topic, out = new_topic(bs, "in"), new_topic(bs, "out")
    produce(bs, topic, _inputs(20))
    common: dict[str, Any] = {
        "group_id": "between",
        "idle_timeout_s": 1.0,
        "poll_timeout_s": 0.2,
        "consumer_config": FAST_GROUP,
    }
    pipeline = Pipeline([WordTagger()])
    crashing = CrashBeforeCommit(bs, topic, crash_at=3, **common)
    with pytest.raises(KeyboardInterrupt):
        enrich_to_sink(crashing, pipeline, KafkaEnrichedSink(bs, out, format="json"), batch_size=4)
    assert committed(bs, "between", topic) == {0: 8}  # two batches; the third was produced

    stats = enrich_to_sink(
        KafkaStream(bs, topic, **common),
        pipeline,
        KafkaEnrichedSink(bs, out, format="json"),
        batch_size=4,
    )
    assert stats.read == 12  # p8..p19
    ids = [
        r["id"] for r in decode_enriched([m.value() for m in read_topic(bs, out, 24)]).to_pylist()
    ]
    assert sorted(ids) == sorted([f"p{i}" for i in range(20)] + ["p8", "p9", "p10", "p11"])


def test_killed_loop_restarts_and_loses_nothing(
    kafka_broker: Any, compose_task: Callable[..., Any], tmp_path: Path
) -> None:
    bs = kafka_broker.bootstrap_servers
    n = 1500
    topic, out = new_topic(bs, "in", partitions=2), new_topic(bs, "out", partitions=2)
    produce(bs, topic, _inputs(n), keys=[f"k{i % 9}".encode() for i in range(n)])
    slow = "{_target_:kafka_toys.WordTagger,delay_s:0.05}"
    args = [
        *_overrides(bs, topic, out, "killed", slow),
        "stream_batch_size=50",
        "stream.idle_timeout_s=30",
        f"paths.root_dir={tmp_path}",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)])}
    log = (tmp_path / "loop.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, "-m", "alpharl.cli", "enrich", *args],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while sum(max(o, 0) for o in committed(bs, "killed", topic).values()) < 300:
            assert child.poll() is None, (tmp_path / "loop.log").read_text()
            assert time.monotonic() < deadline, "the loop committed nothing in 60 s"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        log.close()
    at_kill = committed(bs, "killed", topic)
    done = sum(max(o, 0) for o in at_kill.values())  # -1001: nothing committed yet
    assert 300 <= done < n, f"killed too late to test anything: {at_kill}"

    # everything committed before the kill had already been produced to the output topic
    before = decode_enriched([m.value() for m in read_topic(bs, out, done, settle_s=1.0)])
    assert before.num_rows >= done

    cfg = compose_task("enrich", [*args[:-3], "stream_batch_size=200"], small=False)
    stats = enrich_to_sink_task(cfg)
    assert stats.read == n - done  # exactly the uncommitted records were delivered again
    after = decode_enriched([m.value() for m in read_topic(bs, out, n)])
    ids = after.column("id").to_pylist()
    assert set(ids) == {f"p{i}" for i in range(n)}  # nothing lost
    # produced-but-uncommitted batches were produced twice (at-least-once), nothing else
    assert len(ids) - n == before.num_rows - done
    assert sum(committed(bs, "killed", topic).values()) == n
