"""The consumer-enricher-producer loop: read a batch, enrich it, deliver it, then commit.

`enrich_to_sink` runs any stream through a `Pipeline` into an `EnrichedSink` batch by
batch. With a committing source (`CommittingSource`, e.g. `alpharl.streams.kafka.KafkaStream`)
each batch's input offsets are committed only after its enriched records were produced
and the sink's flush confirmed them, so a crash at any point re-delivers the unfinished
batch on restart and loses nothing (at-least-once: a batch produced but not yet committed
when the process died is produced again). Other sources (replay, synthetic, X) are read
in batches of the same size and have nothing to commit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from alpharl.enrich.inputs import posts_table, records_table
from alpharl.streams.base import StreamSource, StreamStats

log = logging.getLogger(__name__)


@runtime_checkable
class EnrichedSink(Protocol):
    """Where enriched tables go: ``write`` queues, ``flush`` waits until they are durable."""

    def write(self, table: pa.Table) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class CommittingSource(Protocol):
    """A source that reads batches of records and commits them once they are handled."""

    def read_batch(self, max_messages: int | None = None) -> Any: ...

    def commit(self, batch: Any) -> None: ...

    def close(self) -> None: ...


@dataclass
class LoopStats:
    """What one run of the loop did."""

    batches: int = 0
    read: int = 0
    enriched: int = 0
    dead_letters: int = 0
    committed: int = 0
    seconds: float = 0.0
    """From the start to the end of the last batch (a final idle wait is not counted)."""
    stream: StreamStats = field(default_factory=StreamStats)
    last_batch_end: float | None = field(default=None, repr=False)

    @property
    def posts_per_s(self) -> float:
        """Enriched posts per second of wall time."""
        return self.enriched / self.seconds if self.seconds > 0 else 0.0

    def render(self) -> str:
        """The summary the CLI prints."""
        return "\n".join(
            [
                f"messages read       {self.read:,} in {self.batches:,} batches",
                f"posts enriched      {self.enriched:,} ({self.posts_per_s:,.0f} posts/s)",
                f"dead letters        {self.dead_letters:,}",
                f"committed           {self.committed:,}",
            ]
        )


def _run_committing(
    source: CommittingSource,
    pipeline: Any,
    sink: EnrichedSink,
    batch_size: int,
    max_batches: int | None,
    stats: LoopStats,
) -> None:
    try:
        while max_batches is None or stats.batches < max_batches:
            batch = source.read_batch(batch_size)
            if batch is None:
                break
            stats.read += batch.n_messages
            if len(batch.records):
                enriched = pipeline.enrich_table(records_table(batch.records))
                sink.write(enriched)
                stats.enriched += enriched.num_rows
            sink.flush()  # raises if any record was not acknowledged: nothing is committed
            source.commit(batch)
            stats.committed += batch.n_messages
            stats.batches += 1
            stats.last_batch_end = time.perf_counter()
    finally:
        source.close()


def _run_plain(
    source: StreamSource,
    pipeline: Any,
    sink: EnrichedSink,
    batch_size: int,
    max_batches: int | None,
    stats: LoopStats,
) -> None:
    it = iter(source)
    while max_batches is None or stats.batches < max_batches:
        chunk = list(islice(it, batch_size))
        if not chunk:
            break
        enriched = pipeline.enrich_table(posts_table(chunk))
        sink.write(enriched)
        sink.flush()
        stats.read += len(chunk)
        stats.enriched += enriched.num_rows
        stats.batches += 1
        stats.last_batch_end = time.perf_counter()


def enrich_to_sink(
    source: StreamSource | CommittingSource,
    pipeline: Any,
    sink: EnrichedSink,
    batch_size: int = 1000,
    max_batches: int | None = None,
) -> LoopStats:
    """Enrich ``source`` into ``sink`` batch by batch, committing after each delivery.

    Args:
        source: Any stream; a `CommittingSource` gets each batch committed after the sink
            confirmed its enriched records, and is closed at the end.
        pipeline: An `alpharl.enrich.pipeline.Pipeline` (anything with ``enrich_table``).
        sink: Where the enriched tables go; closed after a clean run.
        batch_size: Posts read, enriched, delivered and committed together.
        max_batches: Stop after this many batches; None runs until the source ends.

    Returns:
        Counts and wall time of the run.
    """
    if not (isinstance(batch_size, int) and batch_size > 0):
        raise ValueError(f"batch_size: must be a positive integer (got {batch_size!r})")
    if max_batches is not None and not (isinstance(max_batches, int) and max_batches > 0):
        raise ValueError(f"max_batches: must be a positive integer or None (got {max_batches!r})")
    stats = LoopStats()
    start = time.perf_counter()
    try:
        if isinstance(source, CommittingSource):
            _run_committing(source, pipeline, sink, batch_size, max_batches, stats)
        else:
            _run_plain(source, pipeline, sink, batch_size, max_batches, stats)
    finally:
        stats.seconds = (stats.last_batch_end or time.perf_counter()) - start
        stream_stats = getattr(source, "stats", None)
        if isinstance(stream_stats, StreamStats):
            stats.stream = stream_stats
            stats.dead_letters = stream_stats.dead_letters
    sink.close()
    log.info(
        "enrich loop: %d posts in %d batches (%.0f posts/s), %d dead letters",
        stats.enriched,
        stats.batches,
        stats.posts_per_s,
        stats.dead_letters,
    )
    return stats
