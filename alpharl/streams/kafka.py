"""Raw posts from a Kafka topic (confluent-kafka), and the clients shared with the sink.

`KafkaStream` consumes raw post JSON from a topic as a member of a consumer group. Each
message value goes through `alpharl.streams.records.coerce_row`, the one definition of a
valid record; a message that fails it is produced to the dead-letter topic unchanged (same
key, original bytes) with headers saying why and where it came from. Offsets are committed
only when the caller says the records are handled (`KafkaStream.commit`), so a crash
re-delivers what was not finished: at-least-once.

`alpharl.streams.kafka_sink.KafkaEnrichedSink` produces the enriched records.

Any Kafka-API broker works: point ``bootstrap_servers`` at it and put security settings
(``security.protocol``, ``sasl.*``, ...) in ``client_config``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from alpharl.schema import Post, RecordError
from alpharl.streams.base import DeadLetterWriter, StreamStats
from alpharl.streams.readers import MAX_RECORD_BYTES
from alpharl.streams.records import (
    EPOCH,
    CoercedRow,
    FieldMap,
    RecordColumns,
    coerce_row,
    loads_json,
)

log = logging.getLogger(__name__)

REASON_HEADER = "alpharl.dead_letter.reason"
"""Dead-letter headers: the reason, and the topic/partition/offset the message came from."""

# Errors after which a commit is safely abandoned: the group rebalanced, so the partitions'
# new owner starts from the last committed offset and the records are delivered again.
_REBALANCE_ERRORS = frozenset(
    {"REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "_ASSIGNMENT_LOST"}
)


def _kafka() -> Any:
    try:
        import confluent_kafka
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
        raise ModuleNotFoundError(
            "Kafka streams need confluent-kafka: pip install 'alpharl[kafka]'"
        ) from exc
    return confluent_kafka


def flat_config(config: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    """librdkafka settings as flat dotted keys.

    Hydra turns ``+stream.client_config.session.timeout.ms=6000`` into nested mappings;
    librdkafka wants ``{"session.timeout.ms": 6000}``. Both spellings are accepted.

    Raises:
        ValueError: naming a setting whose value is not a string, number or boolean.
    """
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            full = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping):
                walk(full, value)
            elif isinstance(value, str | int | float | bool):
                out[full] = value
            else:
                raise ValueError(
                    f"{name}.{full}: must be a string, number or boolean (got {value!r})"
                )

    walk("", config or {})
    return out


class KafkaDeliveryError(RuntimeError):
    """Records that the broker did not acknowledge; nothing depending on them was committed."""


class Producer:
    """A confluent-kafka producer that remembers delivery failures until `flush` reports them.

    Args:
        config: librdkafka settings.
        what: What it produces to, for error messages.
    """

    def __init__(self, config: Mapping[str, Any], what: str) -> None:
        self.what = what
        self.errors: list[str] = []
        self.producer = _kafka().Producer(dict(config))

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(f"{msg.topic()}: {err}")

    def produce(self, topic: str, value: bytes, key: bytes | None, headers: Any = None) -> None:
        while True:
            try:
                self.producer.produce(
                    topic, value, key, headers=headers, on_delivery=self._delivered
                )
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.05)
        self.producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        left = self.producer.flush(timeout_s)
        if left:
            raise KafkaDeliveryError(
                f"{self.what}: {left} message(s) not acknowledged within {timeout_s} s"
            )
        if self.errors:
            first, n = self.errors[0], len(self.errors)
            self.errors = []
            raise KafkaDeliveryError(f"{self.what}: {n} message(s) failed; first: {first}")


@dataclass
class KafkaBatch:
    """Records read by one `KafkaStream.read_batch` call.

    Attributes:
        records: The valid records, in the order they were read.
        n_messages: Messages read, including the dead-lettered ones.
        offsets: ``{(topic, partition): next offset}`` to commit once the batch is handled.
    """

    records: RecordColumns
    n_messages: int
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def posts(self) -> list[Post]:
        """The records as `Post` objects."""
        r = self.records
        counts = r.counts.tolist()
        return [
            Post(
                r.ids[i],
                EPOCH + timedelta(microseconds=int(r.created_us[i])),
                r.platforms[i],
                r.authors[i],
                r.texts[i],
                r.langs[i],
                c[0],
                c[1],
                c[2],
                c[3],
                dict(r.annotations[i] or {}),
            )
            for i, c in enumerate(counts)
        ]


class KafkaStream:
    """Raw posts consumed from a Kafka topic as part of a consumer group.

    Args:
        bootstrap_servers: The brokers, ``host:port[,host:port...]``.
        topic: Topic of raw post JSON objects (the fields of `Post`; see
            `alpharl.streams.records` for the value rules).
        group_id: Consumer group; members share the topic's partitions and its committed
            offsets.
        dead_letter_topic: Where malformed messages go (original key and bytes, with
            ``alpharl.dead_letter.*`` headers: reason, topic, partition, offset); None
            sends them only to ``dead_letter``.
        dead_letter: Optional dead-letter JSONL file (or a `DeadLetterWriter`) as well.
        columns: ``{Post field: JSON key}`` where the producer's keys differ from ours.
        platform: Platform of records that name none.
        auto_offset_reset: Where a group with no committed offset starts: ``earliest`` or
            ``latest``.
        batch_size: Messages read per batch when iterating.
        poll_timeout_s: Longest single wait for messages.
        idle_timeout_s: End the stream when no message arrived for this long since the
            consumer got its partitions (or since the last message); None waits forever.
        max_messages: End the stream after reading this many messages; None has no limit.
        client_config: librdkafka settings for every client (security, timeouts, ...).
        consumer_config: librdkafka settings for the consumer only.
        name: Name of the source (default: the topic).

    Iterating yields posts in the order each partition holds them (Kafka orders records
    within a partition only); the offsets of a batch are committed once all of its posts
    were taken and the next batch is asked for, or the stream ends. `reset` closes the
    consumer: the next iteration resumes at the group's committed offsets (a live topic is
    not rewound).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str = "alpharl",
        dead_letter_topic: str | None = None,
        dead_letter: str | Path | DeadLetterWriter | None = None,
        columns: Mapping[str, str] | None = None,
        platform: str = "kafka",
        auto_offset_reset: str = "earliest",
        batch_size: int = 500,
        poll_timeout_s: float = 1.0,
        idle_timeout_s: float | None = None,
        max_messages: int | None = None,
        client_config: Mapping[str, Any] | None = None,
        consumer_config: Mapping[str, Any] | None = None,
        name: str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        for key, value in (("bootstrap_servers", bootstrap_servers), ("topic", topic)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{key}: must be a non-empty string (got {value!r})")
        if not isinstance(group_id, str) or not group_id:
            raise ValueError(f"group_id: must be a non-empty string (got {group_id!r})")
        if dead_letter_topic == topic:
            raise ValueError(f"dead_letter_topic: must differ from topic (both {topic!r})")
        if auto_offset_reset not in ("earliest", "latest"):
            raise ValueError(
                f"auto_offset_reset: must be 'earliest' or 'latest' (got {auto_offset_reset!r})"
            )
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(f"batch_size: must be a positive integer (got {batch_size!r})")
        if not (isinstance(poll_timeout_s, int | float) and poll_timeout_s > 0):
            raise ValueError(f"poll_timeout_s: must be a positive number (got {poll_timeout_s!r})")
        if idle_timeout_s is not None and not (
            isinstance(idle_timeout_s, int | float) and idle_timeout_s > 0
        ):
            raise ValueError(
                f"idle_timeout_s: must be a positive number or None (got {idle_timeout_s!r})"
            )
        if max_messages is not None and not (isinstance(max_messages, int) and max_messages > 0):
            raise ValueError(
                f"max_messages: must be a positive integer or None (got {max_messages!r})"
            )
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.group_id = group_id
        self.dead_letter_topic = dead_letter_topic
        self.dead_letter = DeadLetterWriter.of(dead_letter)
        self.fields = FieldMap.build(columns, None, platform)
        self.auto_offset_reset = auto_offset_reset
        self.batch_size = batch_size
        self.poll_timeout_s = float(poll_timeout_s)
        self.idle_timeout_s = None if idle_timeout_s is None else float(idle_timeout_s)
        self.max_messages = max_messages
        self.client_config = flat_config(client_config, "client_config")
        self.consumer_config = flat_config(consumer_config, "consumer_config")
        self.name = name or topic
        self._clock = clock or time.monotonic
        self._consumer: Any = None
        self._dlq: Producer | None = None
        self.stats = StreamStats()
        self.committed = 0

    def __repr__(self) -> str:
        return (
            f"KafkaStream({self.bootstrap_servers!r}, topic={self.topic!r}, "
            f"group_id={self.group_id!r}, dead_letter_topic={self.dead_letter_topic!r})"
        )

    # ------------------------------------------------------------------ clients

    def _consumer_client(self) -> Any:
        if self._consumer is None:
            conf = {
                "bootstrap.servers": self.bootstrap_servers,
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": self.auto_offset_reset,
                **self.client_config,
                **self.consumer_config,
            }
            self._consumer = _kafka().Consumer(conf)
            self._created = self._clock()
            self._last_data: float | None = None  # the idle clock starts at the assignment
            self._consumer.subscribe([self.topic], on_assign=self._on_assign)
        return self._consumer

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        if self._last_data is None:
            self._last_data = self._clock()
        log.debug("%s: assigned %s", self.name, [(p.topic, p.partition) for p in partitions])

    def _idle(self) -> bool:
        """Whether ``idle_timeout_s`` passed without a message (counted from the assignment;
        a consumer never assigned a partition gives up after ``idle_timeout_s`` + 60 s)."""
        if self.idle_timeout_s is None:
            return False
        now = self._clock()
        if self._last_data is None:
            if now - self._created < self.idle_timeout_s + 60.0:
                return False
            log.warning(
                "%s: no partitions assigned in %.0f s; ending", self.name, now - self._created
            )
            return True
        return now - self._last_data >= self.idle_timeout_s

    def _dead_letter_producer(self) -> Producer:
        if self._dlq is None:
            conf = {
                "bootstrap.servers": self.bootstrap_servers,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                **self.client_config,
            }
            self._dlq = Producer(conf, f"dead-letter topic {self.dead_letter_topic!r}")
        return self._dlq

    def close(self) -> None:
        """Leave the group and close the clients (uncommitted records are delivered again)."""
        if self._consumer is not None:
            try:
                self._consumer.close()
            finally:
                self._consumer = None
        if self._dlq is not None:
            self._dlq.producer.flush(10)
            self._dlq = None

    def reset(self, seed: int | None = None) -> None:
        """Close the consumer and zero the stats; ``seed`` is unused."""
        del seed
        self.close()
        self.stats = StreamStats()
        self.committed = 0

    # ------------------------------------------------------------------ reading

    def _reject(self, msg: Any, reason: str) -> None:
        self.stats.dead(reason)
        position = {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()}
        if self.dead_letter_topic is not None:
            headers = [
                (REASON_HEADER, reason.encode("utf-8", "backslashreplace")),
                ("alpharl.dead_letter.topic", msg.topic().encode()),
                ("alpharl.dead_letter.partition", str(msg.partition()).encode()),
                ("alpharl.dead_letter.offset", str(msg.offset()).encode()),
                ("alpharl.dead_letter.source", self.name.encode("utf-8", "backslashreplace")),
            ]
            value = msg.value()
            self._dead_letter_producer().produce(
                self.dead_letter_topic, value if value is not None else b"", msg.key(), headers
            )
        self.dead_letter.write(self.name, position, reason, msg.value())
        log.debug("%s: dead letter at %s: %s", self.name, position, reason)

    def _parse(self, msg: Any) -> CoercedRow | None:
        value = msg.value()
        if value is None:
            self._reject(msg, "value: is empty (a tombstone)")
            return None
        if len(value) > MAX_RECORD_BYTES:
            self._reject(
                msg, f"value: is {len(value)} bytes, more than the {MAX_RECORD_BYTES} allowed"
            )
            return None
        try:
            rec = loads_json(value.decode("utf-8"), "value")
        except UnicodeDecodeError as exc:
            self._reject(msg, f"value: is not UTF-8 ({exc.reason} at byte {exc.start})")
            return None
        except json.JSONDecodeError as exc:
            self._reject(msg, f"value: is not valid JSON ({exc.msg} at char {exc.pos})")
            return None
        except RecordError as exc:
            self._reject(msg, str(exc))
            return None
        if not isinstance(rec, dict):
            self._reject(msg, f"value: must be a JSON object (got {type(rec).__name__})")
            return None
        try:
            return coerce_row(rec, self.fields, text_cells=False)
        except (RecordError, RecursionError) as exc:
            self._reject(
                msg, str(exc) if isinstance(exc, RecordError) else "value: is nested too deeply"
            )
            return None

    def read_batch(self, max_messages: int | None = None) -> KafkaBatch | None:
        """Read up to ``max_messages`` messages, waiting for at least one.

        Malformed messages are dead-lettered (their offsets are part of the batch too).
        Nothing is committed: call `commit` once the batch's records are handled.

        Returns:
            The batch, or None once the stream has ended (``idle_timeout_s`` passed without
            a message, or ``max_messages`` were read).
        """
        want = max_messages or self.batch_size
        if self.max_messages is not None:
            want = min(want, self.max_messages - self.stats.read)
            if want <= 0:
                return None
        consumer = self._consumer_client()
        kafka = _kafka()
        while True:
            msgs = consumer.consume(num_messages=want, timeout=self.poll_timeout_s)
            good = []
            for m in msgs:
                err = m.error()
                if err is None:
                    good.append(m)
                elif err.fatal():
                    raise kafka.KafkaException(err)
                else:
                    log.warning("%s: consumer: %s", self.name, err)
            if good:
                self._last_data = self._clock()
                break
            if self._idle():
                return None
        rows: list[CoercedRow] = []
        positions: list[int] = []
        offsets: dict[tuple[str, int], int] = {}
        for m in good:
            self.stats.read += 1
            tp = (m.topic(), m.partition())
            offsets[tp] = max(offsets.get(tp, 0), m.offset() + 1)
            row = self._parse(m)
            if row is not None:
                rows.append(row)
                positions.append(m.offset())
        return KafkaBatch(RecordColumns.from_rows(rows, positions), len(good), offsets)

    def commit(self, batch: KafkaBatch) -> None:
        """Commit a handled batch: its dead letters are flushed first, then its offsets.

        A commit refused because the group rebalanced is logged and skipped: the new
        owner of those partitions reads the records again (at-least-once).

        Raises:
            KafkaDeliveryError: when a dead letter was not acknowledged (nothing committed).
        """
        if self._dlq is not None:
            self._dlq.flush(30.0)
        if not batch.offsets:
            return
        kafka = _kafka()
        tps = [kafka.TopicPartition(t, p, o) for (t, p), o in sorted(batch.offsets.items())]
        try:
            self._consumer_client().commit(offsets=tps, asynchronous=False)
        except kafka.KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if getattr(err, "name", lambda: "")() in _REBALANCE_ERRORS:
                log.warning("%s: commit skipped (%s); records will be re-delivered", self.name, err)
                return
            raise
        self.committed += batch.n_messages

    def __iter__(self) -> Iterator[Post]:
        pending: KafkaBatch | None = None
        while True:
            if pending is not None:
                self.commit(pending)
            pending = self.read_batch()
            if pending is None:
                return
            for post in pending.posts():
                self.stats.yielded += 1
                yield post
